"""Editors: the simulated users of the flip and rank tasks (protocol section 7).

    get_editor("offline")                      deterministic, no network
    get_editor("openai:gpt-4o")                any provider of tears_bench.llm, same cache
    get_editor("openai-compatible:llama3", base_url="http://localhost:8000/v1")

An editor passed in as an object (anything with the methods of `tasks.editors.base.Editor`) is
returned unchanged.
"""
from __future__ import annotations

from tears_bench.tasks.editors.base import (NO_SUMMARY, NO_TEXT, NOT_FOUND, OUTSIDE_LIST, SAME_GENRE, Editor, GenrePair,
                                Skip)
from tears_bench.errors import TearsBenchError
from tears_bench.llm.base import PROVIDERS

# name -> description, for `tears-bench ls`.
EDITORS: dict[str, str] = {
    "offline": "deterministic, no network: genre words and their sentiment cues in the summary text",
    "openai:<model>": "OpenAI chat model with the protocol's prompts (OPENAI_API_KEY)",
    "anthropic:<model>": "Anthropic model with the protocol's prompts (ANTHROPIC_API_KEY)",
    "openai-compatible:<model>": "any /v1/chat/completions server (vLLM, Ollama, llama.cpp); needs --llm-base-url",
    "hf:<name-or-path>": "local Hugging Face chat model through transformers",
}
OFFLINE_ALIASES = ("offline", "lexicon")


def get_editor(spec, base_url: str | None = None, concurrency: int = 8, **options) -> Editor:
    """The editor named by `spec` (see EDITORS); TearsBenchError listing the known ones otherwise."""
    if not isinstance(spec, str):
        if all(hasattr(spec, m) for m in ("find_genres_many", "flip_many", "describe_item_many",
                                          "insert_sentence_many")):
            return spec
        raise TearsBenchError(f"an editor must be a name or an editor object, got {type(spec).__name__}")
    name = spec.strip()
    if name.lower() in OFFLINE_ALIASES:
        from tears_bench.tasks.editors.offline import OfflineEditor

        return OfflineEditor()
    provider, sep, model = name.partition(":")
    if sep and provider.strip().lower() in PROVIDERS and model.strip():
        from tears_bench.tasks.editors.llm import LLMEditor

        return LLMEditor(f"{provider.strip().lower()}:{model.strip()}", base_url=base_url,
                         concurrency=concurrency, **options)
    raise TearsBenchError(f"unknown editor {spec!r}; known editors: {', '.join(EDITORS)}")


__all__ = ["EDITORS", "Editor", "GenrePair", "NOT_FOUND", "NO_SUMMARY", "NO_TEXT", "OUTSIDE_LIST", "SAME_GENRE",
           "Skip", "get_editor"]

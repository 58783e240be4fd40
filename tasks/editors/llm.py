"""LLM editors (`openai:`, `anthropic:`, `openai-compatible:`, `hf:`): the protocol's prompts sent
through `tears_bench.llm.complete_many`, so answers share the on-disk cache and its retries.

Every operation of a batch is one `complete_many` call. find_genres and flip run at temperature 0.
With `llm_mode="batch"` (--llm-mode batch) each such call goes through the provider's batch API:
one batch (or a few, within the provider's limits) per operation, waited for before the next.
describe_item and insert_sentence serve only the rank task's three attempts: attempt k is sampled
at `attempt_temperature` (default 0.7) under the cache's replicate index k, so the attempts differ
from one another yet a rerun reads the same answers back from the cache.
"""
from __future__ import annotations

import json
import re
from typing import Any, Sequence

from tears_bench.tasks.editors.base import NO_TEXT, NOT_FOUND, OUTSIDE_LIST, SAME_GENRE, Editor, GenrePair, Skip
from tears_bench.tasks.editors.lexicon import normalise

PROMPT_VERSION = "editor-v1"
SYSTEM = "You are a helpful assistant that reads and edits short descriptions of a user's tastes."

FIND_PROMPT = (
    "Read this summary of a user's preferences:\n\n{summary}\n\n"
    "Name the user's favourite genre and least favourite genre, both taken from this list: [{genres}].\n"
    'Answer only with JSON: {{"favourite": "<genre>", "least_favourite": "<genre>"}}'
)
FLIP_PROMPT = (
    "Here is a summary of a user's preferences:\n\n{summary}\n\n"
    "Rewrite the summary in the same style and about the same length so that the user's favourite genre, "
    "{favourite}, becomes their least favourite genre, and their least favourite genre, {least}, becomes their "
    "favourite genre. Keep everything else as it is. Start with \"Summary:\" and answer with the rewritten "
    "summary only."
)
DESCRIBE_PROMPT = (
    "Describe the {item} \"{title}\" (genres: {genres}) in exactly five words about its plot and themes. "
    "Answer with the five words only."
)
INSERT_PROMPT = (
    "Here is a summary of a user's preferences:\n\n{summary}\n\n"
    "Rewrite the summary so that it says, in one new sentence, that the user enjoys {items} described as: "
    "\"{five_words}\". The new sentence replaces one existing sentence; leave the rest of the summary "
    "unchanged. Start with \"Summary:\" and answer with the rewritten summary only."
)
MAX_TOKENS = {"find": 60, "flip": 600, "describe": 20, "insert": 600}
_FAVOURITE_KEYS = ("favourite", "favorite", "favourite_genre", "favorite_genre", "fav", "most_favourite",
                   "most_favorite")
_LEAST_KEYS = ("least_favourite", "least_favorite", "least_favourite_genre", "least_favorite_genre", "least",
               "least favourite", "least favorite")


class LLMEditor(Editor):
    deterministic = False

    def __init__(self, spec: str, base_url: str | None = None, concurrency: int = 8,
                 attempt_temperature: float = 0.7, params: dict | None = None, cache: Any = True,
                 timeout: float | None = None, llm_mode: str = "online"):
        from tears_bench.llm import parse_provider
        from tears_bench.llm.batch import check_batch_provider, check_mode

        parse_provider(spec)  # a clear error for a malformed spec, before any request
        check_mode(llm_mode)
        if llm_mode == "batch":
            check_batch_provider(spec)
        self.spec = self.name = str(spec)
        self.base_url = base_url
        self.concurrency = concurrency
        self.attempt_temperature = float(attempt_temperature)
        self.params = dict(params or {})
        self.cache = cache
        self.timeout = timeout  # seconds per request (--llm-timeout); where and how long never change answers
        self.llm_mode = llm_mode  # online or batch: how requests travel, never what they ask (same cache keys)

    def describe(self) -> dict:
        return {**super().describe(), "prompt_version": PROMPT_VERSION,
                "attempt_temperature": self.attempt_temperature, "params": self.params}

    # --- the one place requests are sent -------------------------------------------------------
    def _ask(self, prompts: Sequence[str], operation: str, attempt: int = 0) -> list[str]:
        if not prompts:
            return []
        from tears_bench.llm import complete_many

        params = {"temperature": 0.0, "max_tokens": MAX_TOKENS[operation], **self.params}
        if operation in ("describe", "insert"):  # only the rank task's attempts use these
            params["temperature"] = self.attempt_temperature
        messages = [[{"role": "system", "content": SYSTEM}, {"role": "user", "content": p}] for p in prompts]
        completions = complete_many(self.spec, messages, params, base_url=self.base_url,
                                    concurrency=self.concurrency, cache=self.cache,
                                    desc=f"editor {operation}", replicate=int(attempt), mode=self.llm_mode,
                                    **({"timeout": self.timeout} if self.timeout else {}))
        return [c.text for c in completions]

    # --- the four operations ------------------------------------------------------------------
    def find_genres_many(self, summaries: Sequence[str], genre_list: Sequence[str]) -> list[GenrePair | Skip]:
        listed = ", ".join(genre_list)
        answers = self._ask([FIND_PROMPT.format(summary=s, genres=listed) for s in summaries], "find")
        return [parse_genre_answer(a, genre_list) for a in answers]

    def flip_many(self, summaries: Sequence[str], pairs: Sequence[GenrePair]) -> list[str | Skip]:
        prompts = [FLIP_PROMPT.format(summary=s, favourite=f, least=l) for s, (f, l) in zip(summaries, pairs, strict=True)]
        return [clean_summary(a) for a in self._ask(prompts, "flip")]

    def describe_item_many(self, titles: Sequence[str], genres: Sequence[Sequence[str]], kind: str = "movies",
                           attempt: int = 0) -> list[str | Skip]:
        item = "book" if kind == "books" else "movie"
        prompts = [DESCRIBE_PROMPT.format(item=item, title=t, genres=", ".join(g) or "unknown")
                   for t, g in zip(titles, genres, strict=True)]
        return [clean_five_words(a) for a in self._ask(prompts, "describe", attempt)]

    def insert_sentence_many(self, summaries: Sequence[str], descriptions: Sequence[str], attempt: int = 0,
                             kind: str = "movies") -> list[str | Skip]:
        items = "books" if kind == "books" else "movies"
        prompts = [INSERT_PROMPT.format(summary=s, five_words=d, items=items)
                   for s, d in zip(summaries, descriptions, strict=True)]
        return [clean_summary(a) for a in self._ask(prompts, "insert", attempt)]


# --- parsing answers -------------------------------------------------------------------------

def parse_genre_answer(answer: str, genre_list: Sequence[str]) -> GenrePair | Skip:
    """(favourite, least) from a JSON-ish answer, matched onto the list; Skip(reason) otherwise.

    Accepts JSON anywhere in the text (code fences, prose around it), spelling variants of the keys,
    and "key: value" lines. A genre is matched after normalisation (case, '-'/'_', a plural 's');
    anything else is outside the list, and the user is skipped as in the paper.
    """
    raw = answer or ""
    fields = _json_fields(raw) or _line_fields(raw)
    favourite = _first(fields, _FAVOURITE_KEYS)
    least = _first(fields, _LEAST_KEYS)
    if not favourite or not least:
        return Skip(NOT_FOUND, raw)
    matched = [match_genre(favourite, genre_list), match_genre(least, genre_list)]
    if None in matched:
        return Skip(OUTSIDE_LIST, raw)
    if matched[0] == matched[1]:
        return Skip(SAME_GENRE, raw)
    return matched[0], matched[1]


def match_genre(name: Any, genre_list: Sequence[str]) -> str | None:
    if isinstance(name, list) and name:
        name = name[0]
    if not isinstance(name, str):
        return None
    wanted = normalise(name.strip(" \"'`.[]"))
    by_name = {normalise(g): g for g in genre_list}
    plurals = (wanted[:-3] + "y" if wanted.endswith("ies") else None, wanted[:-1] if wanted.endswith("s") else None)
    for candidate in (wanted, *plurals, wanted + "s"):
        if candidate and candidate in by_name:
            return by_name[candidate]
    return None


def _json_fields(text: str) -> dict[str, Any]:
    for match in re.finditer(r"\{[^{}]*\}", text, re.DOTALL):
        try:
            value = json.loads(match.group(0))
        except json.JSONDecodeError:
            try:  # single quotes, as some models write
                value = json.loads(match.group(0).replace("'", '"'))
            except json.JSONDecodeError:
                continue
        if isinstance(value, dict):
            return {_key(k): v for k, v in value.items()}
    return {}


def _line_fields(text: str) -> dict[str, Any]:
    fields = {}
    for key, value in re.findall(r"[\"']?([A-Za-z_ ]*favou?rite(?:[_ ]genre)?)[\"']?\s*[:=]\s*[\"']?([^\"'\n,}]+)",
                                 text, re.IGNORECASE):
        fields.setdefault(_key(key), value.strip())
    return fields


def _key(key: str) -> str:
    return "_".join(str(key).strip().lower().replace("-", " ").split())


def _first(fields: dict[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        if _key(key) in fields:
            return fields[_key(key)]
    return None


def clean_summary(answer: str) -> str | Skip:
    text = (answer or "").strip().strip("`").strip()
    if not text:
        return Skip(NO_TEXT, answer)
    text = re.sub(r"^(?:here is|here's)[^\n:]*:\s*", "", text, flags=re.IGNORECASE).strip()
    if not text.lower().startswith("summary:"):
        text = "Summary: " + text
    return text


def clean_five_words(answer: str) -> str | Skip:
    words = re.sub(r"[\"'`*]", " ", answer or "").replace("\n", " ").split()
    words = [w.strip(".,;:!") for w in words]
    words = [w for w in words if w]
    if not words:
        return Skip(NO_TEXT, answer)
    return " ".join(words[:5])

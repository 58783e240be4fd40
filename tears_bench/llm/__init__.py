"""The LLM layer: any provider behind one interface, with a shared cache, retries and concurrency.

Provider ids (see docs/summaries.md):
    openai:<model>              official `openai` client, key from OPENAI_API_KEY
    anthropic:<model>           official `anthropic` client, key from ANTHROPIC_API_KEY
    openai-compatible:<model>   vLLM, Ollama, llama.cpp server, LLaMA API...; needs base_url;
                                OPENAI_API_KEY if set, else the placeholder "EMPTY"
    hf:<name-or-path>           a local transformers causal LM with its chat template
`base_url` also works for openai and anthropic (proxies, gateways).

Reusable entry points:

    complete_many(provider_spec: str, list_of_message_lists: Sequence[Sequence[Message | dict]],
                  params: dict | None = None, *, base_url: str | None = None, concurrency: int = 8,
                  cache: bool | CompletionCache = True, desc: str = "", replicate: int | Sequence[int] = 0,
                  retry: RetryPolicy | None = None, timeout: float | None = 120.0,
                  progress: bool | None = None, on_result=None, stats_out: list | None = None,
                  mode: str = "online", batch: BatchOptions | None = None)
        -> list[Completion]
        One Completion per message list, in order. params default to {"temperature": 0,
        "max_tokens": 300}; other keys (top_p, seed, stop...) are passed to the API. Requests
        answered before (same provider, model, params, messages and replicate index) come from the
        cache without a client being built; the rest are sent `concurrency` at a time with
        retries. An empty answer is returned with text "" and is not cached; one cut by max_tokens
        has `finish_reason == "length"` (`.truncated`). A request that fails for good raises
        TearsBenchError naming provider, model and status, after everything answered so far is
        cached. Pass `stats_out=[]` to receive the RunStats (tokens, cost, cache hits). A 200 whose
        body is not the API's JSON is retried like a 5xx and never cached. `timeout` is seconds per
        request (--llm-timeout). Each answer is cached as it arrives; on Ctrl-C nothing more is
        sent and the KeyboardInterrupt propagates after a short grace (a second one at once).
        Processes sharing the cache file send each request once (claim rows).
        `mode="batch"` (--llm-mode batch) sends the uncached requests through the provider's batch
        API instead (llm/batch.py: half the price, answers within 24 h, same cache and keys; the
        batch ids are kept in the cache, so a rerun resumes an interrupted wait); `batch` sets its
        polling (default BatchOptions.from_env()). `hf:` has no batch API and is refused.

    get_client(spec: str, base_url: str | None = None, timeout: float | None = None) -> LLMClient
        The bare client (`client.complete(messages, params, timeout) -> Completion`, no cache or
        retries). Raises TearsBenchError for an unknown provider or a missing API key.

    redact_url(url) -> str
        The URL as it may be written or shown: no user:password@, credential query values as ***.
        Everything that records or prints --llm-base-url uses it; only the client sees the real URL.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from tears_bench.llm.base import (DEFAULT_PARAMS, Completion, LLMClient, Message, ProviderError, ProviderSpec,
                                  Usage, normalise_messages, normalise_params, parse_provider, redact_url)
from tears_bench.llm.batch import LLM_MODES, BatchOptions, check_batch_provider, check_mode
from tears_bench.llm.cache import CompletionCache
from tears_bench.llm.pricing import estimate_cost, format_cost
from tears_bench.llm.runner import RetryPolicy, RunStats, run_requests

__all__ = ["DEFAULT_PARAMS", "LLM_MODES", "BatchOptions", "Completion", "CompletionCache", "LLMClient", "Message",
           "ProviderError", "ProviderSpec", "RetryPolicy", "RunStats", "Usage", "complete_many", "estimate_cost",
           "format_cost", "get_client", "parse_provider", "redact_url"]


def get_client(spec: str | ProviderSpec, base_url: str | None = None, timeout: float | None = None) -> LLMClient:
    parsed = spec if isinstance(spec, ProviderSpec) else parse_provider(spec)
    if parsed.provider in ("openai", "openai-compatible"):
        from tears_bench.llm.openai_provider import OpenAIClient

        return OpenAIClient(parsed.model, base_url, compatible=parsed.provider == "openai-compatible",
                            timeout=timeout)
    if parsed.provider == "anthropic":
        from tears_bench.llm.anthropic_provider import AnthropicClient

        return AnthropicClient(parsed.model, base_url, timeout=timeout)
    from tears_bench.llm.hf_provider import HFClient

    return HFClient(parsed.model)


def complete_many(
    provider_spec: str,
    list_of_message_lists: Sequence[Sequence[Message | Mapping[str, str]]],
    params: Mapping[str, Any] | None = None,
    *,
    base_url: str | None = None,
    concurrency: int = 8,
    cache: bool | CompletionCache = True,
    desc: str = "",
    replicate: int | Sequence[int] = 0,
    retry: RetryPolicy | None = None,
    timeout: float | None = 120.0,
    progress: bool | None = None,
    on_result: Callable[[int, Completion], None] | None = None,
    stats_out: list | None = None,
    mode: str = "online",
    batch: BatchOptions | None = None,
) -> list[Completion]:
    spec = parse_provider(provider_spec)
    check_mode(mode)
    if mode == "batch":
        check_batch_provider(spec)
    requests = [normalise_messages(messages) for messages in list_of_message_lists]
    replicates = [int(replicate)] * len(requests) if isinstance(replicate, int) else [int(r) for r in replicate]
    if len(replicates) != len(requests):
        raise ValueError("replicate must be an int or one index per request")
    store = cache if isinstance(cache, CompletionCache) else (CompletionCache() if cache else None)
    try:
        if mode == "batch":
            from tears_bench.llm.batch import make_adapter, run_batch

            completions, stats = run_batch(
                spec, requests, normalise_params(params), adapter_factory=lambda: make_adapter(spec, base_url, timeout),
                cache=store, replicates=replicates, options=batch, desc=desc, progress=progress,
                on_result=on_result, endpoint=redact_url(base_url), retry=retry)
        else:
            completions, stats = run_requests(
                spec, requests, normalise_params(params), client_factory=lambda: get_client(spec, base_url, timeout),
                cache=store, concurrency=concurrency, replicates=replicates, retry=retry, timeout=timeout,
                desc=desc, progress=progress, on_result=on_result)
    finally:
        if store is not None and store is not cache:
            store.close()
    if stats_out is not None:
        stats_out.append(stats)
    return completions

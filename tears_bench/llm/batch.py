"""`--llm-mode batch`: the requests not already cached go through the provider's batch API.

    run_batch(spec, requests, params, *, adapter_factory, cache, replicates=None, options=None,
              desc="", progress=None, on_result=None, endpoint=None, log=None) -> (completions, RunStats)

A sibling of runner.run_requests with the same contract (answers in request order, `on_result`
as each arrives, RunStats), for `openai:`, `openai-compatible:` (OpenAI Batch API) and
`anthropic:` (Message Batches); `hf:` has no batch API and is refused. The steps:

1. the cache is read with the online keys (cache.request_key): what an online run answered is not
   asked again, and what a batch answers is found by a later online run;
2. a missing key held by a pending batch recorded in the cache (an interrupted earlier run) is
   collected from that batch, never submitted again;
3. the rest is split into batches within the provider's limits (requests and bytes per batch), and
   one line gives the number of requests and batches and the estimated cost at the batch price;
4. each batch's id is recorded in the cache the moment the provider has created it;
5. batches are polled with exponential backoff (options.poll_interval, doubling up to
   options.max_poll_interval); an ended batch's results are merged into the cache line by line;
6. requests a batch did not answer (an error line, an errored, expired or canceled result, a batch
   refused as a whole) are not cached; after every answer is stored one TearsBenchError counts
   them and names the first few, and a rerun resubmits exactly those.
Ctrl-C, or options.max_wait, leaves the batches running at the provider: a rerun of the same
command polls them by id.
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from tears_bench.errors import TearsBenchError
from tears_bench.llm.base import Completion, ProviderError, ProviderSpec, Usage
from tears_bench.llm.batch_base import BatchAdapter, BatchState
from tears_bench.llm.cache import CompletionCache
from tears_bench.llm.pricing import estimate_cost, estimate_usage, format_cost
from tears_bench.llm.runner import RetryPolicy, RunStats, request_positions

LLM_MODES = ("online", "batch")
BATCH_PROVIDERS = ("openai", "openai-compatible", "anthropic")
SHOWN_FAILURES = 3  # failed requests named in the error; the rest are counted
ENVELOPE_BYTES = 1024  # kept free of a batch's byte limit for what wraps the requests ({"requests": [...]})
LOST = "lost"  # a recorded batch the provider no longer knows


@dataclass
class BatchOptions:
    poll_interval: float = 30.0  # first wait between polls, s (TEARS_BENCH_BATCH_POLL)
    max_poll_interval: float = 600.0  # the wait doubles up to this, s (TEARS_BENCH_BATCH_POLL_MAX)
    max_wait: float | None = None  # stop waiting after this many s; batches stay pending (TEARS_BENCH_BATCH_WAIT)
    max_requests: int | None = None  # per batch; None: the provider's documented limit
    max_bytes: int | None = None

    @classmethod
    def from_env(cls) -> "BatchOptions":
        options = cls()
        for variable, name in (("TEARS_BENCH_BATCH_POLL", "poll_interval"),
                               ("TEARS_BENCH_BATCH_POLL_MAX", "max_poll_interval"),
                               ("TEARS_BENCH_BATCH_WAIT", "max_wait")):
            text = os.environ.get(variable)
            if text:
                try:
                    value = float(text)
                except ValueError:
                    value = float("nan")
                if not value > 0:
                    raise TearsBenchError(f"{variable}={text!r}: expected a positive number of seconds")
                setattr(options, name, value)
        return options

    def waits(self) -> Iterator[float]:
        wait = self.poll_interval
        while True:
            yield wait
            wait = min(self.max_poll_interval, wait * 2)


@dataclass
class CostEstimate:
    requests: int
    usage: Usage  # estimated input tokens, and output if every answer ran to max_tokens
    batch: float | None  # USD at the batch price
    online: float | None  # USD at the online price


def estimate(spec: ProviderSpec, requests: Sequence[list[dict[str, str]]], max_tokens: int) -> CostEstimate:
    usage = estimate_usage(requests, max_tokens)
    return CostEstimate(len(requests), usage, estimate_cost(spec, usage, batch=True), estimate_cost(spec, usage))


def check_mode(mode: str) -> None:
    if mode not in LLM_MODES:
        raise TearsBenchError(f"unknown LLM mode {mode!r}: use --llm-mode online or --llm-mode batch")


def check_batch_provider(spec: ProviderSpec | str) -> None:
    provider = spec.provider if isinstance(spec, ProviderSpec) else str(spec).partition(":")[0].strip().lower()
    if provider not in BATCH_PROVIDERS:
        raise TearsBenchError(
            f"{spec} has no batch API (a local model answers its requests one by one): use --llm-mode online; "
            "--llm-mode batch works with openai:, anthropic: and openai-compatible:")


def make_adapter(spec: ProviderSpec, base_url: str | None = None, timeout: float | None = None) -> BatchAdapter:
    from tears_bench.llm import get_client

    check_batch_provider(spec)
    client = get_client(spec, base_url, timeout)
    if spec.provider == "anthropic":
        from tears_bench.llm.batch_anthropic import AnthropicBatches

        return AnthropicBatches(client)
    from tears_bench.llm.batch_openai import OpenAIBatches

    return OpenAIBatches(client)


def shard(sizes: Sequence[int], max_requests: int, max_bytes: int) -> list[range]:
    """Consecutive ranges of request indices, each at most `max_requests` long and `max_bytes` big."""
    ranges, start, total = [], 0, 0
    for i, size in enumerate(sizes):
        if size > max_bytes:
            raise TearsBenchError(f"request {i + 1} is {size:,} bytes: over the {max_bytes:,} bytes one batch may hold")
        if i > start and (i - start >= max_requests or total + size > max_bytes):
            ranges.append(range(start, i))
            start, total = i, 0
        total += size
    if start < len(sizes):
        ranges.append(range(start, len(sizes)))
    return ranges


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_batch(
    spec: ProviderSpec,
    requests: Sequence[list[dict[str, str]]],
    params: dict[str, Any],
    *,
    adapter_factory: Callable[[], BatchAdapter],
    cache: CompletionCache | None,
    replicates: Sequence[int] | None = None,
    options: BatchOptions | None = None,
    desc: str = "",
    progress: bool | None = None,
    on_result: Callable[[int, Completion], None] | None = None,
    endpoint: str | None = None,
    log: Callable[[str], None] | None = None,
    retry: RetryPolicy | None = None,
) -> tuple[list[Completion], RunStats]:
    """Answers in request order, and the stats. `endpoint` (the redacted base URL) is recorded with
    each batch, for people reading the cache; `log` receives the cost line and notices (stderr);
    `retry` governs the calls that create and poll batches (default RetryPolicy.from_env())."""
    from tqdm import tqdm

    check_batch_provider(spec)
    if cache is None:
        raise TearsBenchError("--llm-mode batch needs the LLM cache: it keeps the batch ids a rerun resumes from")
    started = time.perf_counter()
    positions = request_positions(spec, params, requests, replicates)
    run = _BatchRun(spec, requests, params, positions, cache, options or BatchOptions.from_env(), on_result,
                    endpoint, log or _stderr, retry or RetryPolicy.from_env())
    run.bar = tqdm(total=len(requests), initial=run.stats.from_cache, desc=desc or f"{spec} batch", unit="req",
                   disable=(None if progress is None else not progress), dynamic_ncols=True)
    try:
        if run.missing:
            run.execute(adapter_factory())
    finally:
        run.bar.close()
        run.stats.seconds = time.perf_counter() - started
    return [r if r is not None else Completion("", finish_reason="missing") for r in run.results], run.stats


class _BatchRun:
    """One call of run_batch: the requests, their answers so far, and the batches that owe the rest."""

    def __init__(self, spec, requests, params, positions, cache, options, on_result, endpoint, log, retry):
        self.spec, self.requests, self.params, self.cache = spec, requests, params, cache
        self.options, self.on_result, self.endpoint, self.log, self.retry = options, on_result, endpoint, log, retry
        self.stats = RunStats(spec, requests=len(requests), mode="batch")
        self.results: list[Completion | None] = [None] * len(requests)
        self.positions = positions  # cache key -> the requests that asked it (asked once)
        self.batch_keys: dict[str, list[str]] = {}  # batch id -> the keys it holds
        self.failures: dict[str, str] = {}  # key -> why its batch did not answer it
        self.merged: set[str] = set()
        self.bar = None
        found = cache.get_many(self.positions)
        for key, where in self.positions.items():
            if key in found:
                self._fill(key, found[key])
                self.stats.from_cache += len(where)
        self.missing = [key for key in self.positions if key not in found]

    # -- the steps
    def execute(self, adapter: BatchAdapter) -> None:
        pending = self.cache.pending_batches(self.spec, self.missing)
        self.batch_keys.update(pending)
        held = {key for keys in pending.values() for key in keys}
        fresh = [key for key in self.missing if key not in held]
        shards = self._shards(adapter, fresh)
        self._announce(fresh, shards, pending)
        active = list(pending)
        for number, (shard_keys, shard_requests) in enumerate(shards, 1):
            batch_id = self._submit(adapter, shard_requests, number, len(shards), len(active))
            self.cache.add_batch(batch_id, self.spec, shard_keys, self.endpoint)  # before anything else
            self.batch_keys[batch_id] = shard_keys
            active.append(batch_id)
        self.stats.batches = len(active)
        self._poll(adapter, active)
        self._report()

    def _shards(self, adapter: BatchAdapter, fresh: list[str]) -> list[tuple[list[str], list[dict]]]:
        lines = [adapter.request(key, self.requests[self.positions[key][0]], self.params) for key in fresh]
        sizes = [len(json.dumps(line, separators=(",", ":"), ensure_ascii=False).encode()) + 1 for line in lines]
        max_requests = self.options.max_requests or adapter.max_requests
        max_bytes = self.options.max_bytes or adapter.max_bytes - ENVELOPE_BYTES
        return [([fresh[i] for i in part], [lines[i] for i in part]) for part in shard(sizes, max_requests, max_bytes)]

    def _announce(self, fresh: list[str], shards: list, pending: dict[str, list[str]]) -> None:
        parts = []
        if shards:
            cost = estimate(self.spec, [self.requests[self.positions[k][0]] for k in fresh], self.params["max_tokens"])
            price = (f"estimated cost at most {format_cost(cost.batch)} at the batch price (online "
                     f"{format_cost(cost.online)})" if cost.batch is not None else "cost unknown (no list price)")
            parts.append(f"submitting {cost.requests:,} request{'s' * (cost.requests != 1)} in {len(shards)} "
                         f"batch{'es' * (len(shards) != 1)}; {price}; about {cost.usage.input_tokens:,} tokens in, "
                         f"at most {cost.usage.output_tokens:,} out")
        if pending:
            waiting = sum(key in self.positions for keys in pending.values() for key in keys)
            parts.append(f"resuming {len(pending)} batch{'es' * (len(pending) != 1)} submitted before "
                         f"({', '.join(pending)}; {waiting:,} of the requests), not submitted again")
        self.log(f"tears-bench: {self.spec} batch: " + "; ".join(parts))

    def _submit(self, adapter: BatchAdapter, lines: list[dict], number: int, of: int, created: int) -> str:
        retry = self.retry
        for attempt in range(retry.max_retries + 1):
            try:
                return adapter.submit(lines)
            except ProviderError as error:
                if not error.retryable or attempt == retry.max_retries:
                    kept = (f"; the {created} batch{'es' * (created != 1)} created so far are recorded: a rerun "
                            "collects them" if created else "")
                    hint = (" (does the server offer the OpenAI Batch API? if not, use --llm-mode online)"
                            if self.spec.provider == "openai-compatible" and error.status in (404, 405) else "")
                    raise TearsBenchError(f"{self.spec}: creating batch {number} of {of} failed: "
                                          f"{error.describe()}{hint}{kept}") from None
                time.sleep(retry.delay(attempt, error.retry_after))
        raise AssertionError("unreachable")

    def _poll(self, adapter: BatchAdapter, active: list[str]) -> None:
        waits = self.options.waits()
        deadline = None if self.options.max_wait is None else time.monotonic() + self.options.max_wait
        failed_polls: dict[str, int] = {}
        try:
            while active:
                states = {}
                for batch_id in list(active):
                    try:
                        states[batch_id] = state = adapter.state(batch_id)
                        if state.ended:
                            self._collect(adapter, state)
                            active.remove(batch_id)
                        failed_polls.pop(batch_id, None)
                    except ProviderError as error:
                        self._poll_failed(batch_id, error, failed_polls, active)
                self._show(states)
                if not active:
                    return
                wait = next(waits)
                if deadline is not None:
                    if time.monotonic() >= deadline:
                        raise TearsBenchError(
                            f"{self.spec}: {len(active)} batch{'es' * (len(active) != 1)} still running after "
                            f"{self.options.max_wait:g} s ({', '.join(active)}); their ids are kept in the LLM "
                            "cache: rerun the same command to collect the answers (nothing is submitted twice)")
                    wait = min(wait, max(0.0, deadline - time.monotonic()))
                time.sleep(wait)
        except KeyboardInterrupt:
            one = len(active) == 1
            self.log(f"tears-bench: interrupted: {len(active)} batch{'es' * (not one)} of {self.spec} "
                     f"({', '.join(active)}) {'stays' if one else 'stay'} queued at the provider, not cancelled, and "
                     f"{'is' if one else 'are'} recorded in the LLM cache: rerun the same command to collect the "
                     "answers")
            raise

    def _poll_failed(self, batch_id: str, error: ProviderError, failed_polls: dict[str, int],
                     active: list[str]) -> None:
        if error.status == 404:  # another account or server, or deleted: nothing to wait for
            self.cache.finish_batch(batch_id, LOST)
            active.remove(batch_id)
            for key in self.batch_keys.get(batch_id, []):
                self._record(key, f"batch {batch_id} is unknown to the provider (HTTP 404)")
            return
        failed_polls[batch_id] = failed_polls.get(batch_id, 0) + 1
        if not error.retryable or failed_polls[batch_id] > self.retry.max_retries:
            raise TearsBenchError(f"{self.spec}: polling batch {batch_id} failed: {error.describe()}; it stays "
                                  "recorded in the LLM cache: rerun the same command to resume") from None

    def _collect(self, adapter: BatchAdapter, state: BatchState) -> None:
        """Merge an ended batch's results; its requests without a result are failures."""
        seen = set()
        for key, outcome in adapter.results(state):
            seen.add(key)
            self._record(key, outcome)
        reason = f"no result: the batch {state.status}" + (f" ({state.detail})" if state.detail else "")
        for key in self.batch_keys.get(state.batch_id, []):
            if key not in seen:
                self._record(key, reason)
        self.cache.finish_batch(state.batch_id, state.status)

    def _report(self) -> None:
        failed = [key for key in self.missing if key not in self.merged]
        self.stats.failed = len(failed)
        if not failed:
            return
        named = "; ".join(f"request {self.positions[k][0] + 1} ({k[:8]}): {self.failures.get(k, 'no result')}"
                          for k in failed[:SHOWN_FAILURES])
        more = f"; and {len(failed) - SHOWN_FAILURES:,} more" if len(failed) > SHOWN_FAILURES else ""
        answered = sum(r is not None for r in self.results)
        raise TearsBenchError(
            f"{self.spec} batch: {len(failed):,} of {len(self.missing):,} requests got no answer and are not cached "
            f"({named}{more}); {answered:,} of {len(self.results):,} answers are cached: rerun the same command to "
            "resubmit the rest")

    # -- bookkeeping
    def _record(self, key: str, outcome: Completion | str) -> None:
        if not isinstance(outcome, Completion):
            if key in self.positions and key not in self.merged:
                self.failures[key] = outcome
            return
        self.cache.put(key, self.spec, outcome)  # paid for: kept even when this call did not ask it
        if key not in self.positions or key in self.merged:
            return
        self.merged.add(key)
        self.stats.new += 1
        self.stats.usage += outcome.usage
        self._fill(key, outcome)
        self.bar.update(len(self.positions[key]))

    def _fill(self, key: str, completion: Completion) -> None:
        self.stats.empty += completion.empty * len(self.positions[key])
        self.stats.truncated += completion.truncated * len(self.positions[key])
        for i in self.positions[key]:
            self.results[i] = completion
            if self.on_result:
                self.on_result(i, completion)

    def _show(self, states: dict[str, BatchState]) -> None:
        counts: dict[str, int] = {}
        for state in states.values():
            counts[state.status] = counts.get(state.status, 0) + 1
        self.bar.set_postfix_str("batches " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))

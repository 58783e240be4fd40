"""Many requests through one client: cache first, then bounded concurrency with retries.

Threads, not asyncio: the official clients are synchronous and requests are I/O bound.
Retries use exponential backoff with jitter ("equal jitter": half fixed, half random) and never
wait less than a server's Retry-After. When a request fails for good (a status that retrying
cannot fix, or retries exhausted), the remaining requests are cancelled, the ones in flight are
let finish (and cached), and one TearsBenchError names the provider, model and status.
"""
from __future__ import annotations

import os
import random
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from tears_bench.errors import TearsBenchError
from tears_bench.llm.base import Completion, LLMClient, ProviderError, ProviderSpec, Usage
from tears_bench.llm.cache import CompletionCache, request_key
from tears_bench.llm.pricing import estimate_cost, format_cost


INTERRUPT_GRACE_SECONDS = 10.0


@dataclass
class RetryPolicy:
    max_retries: int = 6
    base_delay: float = 1.0  # seconds before the first retry (then doubled each time)
    max_delay: float = 60.0
    max_retry_after: float = 300.0  # a larger Retry-After is capped here

    @classmethod
    def from_env(cls) -> "RetryPolicy":
        """Defaults, with TEARS_BENCH_LLM_RETRIES / TEARS_BENCH_LLM_RETRY_DELAY overrides."""
        policy = cls()
        if os.environ.get("TEARS_BENCH_LLM_RETRIES"):
            policy.max_retries = int(os.environ["TEARS_BENCH_LLM_RETRIES"])
        if os.environ.get("TEARS_BENCH_LLM_RETRY_DELAY"):
            policy.base_delay = float(os.environ["TEARS_BENCH_LLM_RETRY_DELAY"])
        return policy

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        backoff = min(self.max_delay, self.base_delay * 2 ** attempt)
        jittered = backoff / 2 + random.uniform(0, backoff / 2)
        if retry_after is not None:
            return max(jittered, min(retry_after, self.max_retry_after))
        return jittered


@dataclass
class RunStats:
    """What a batch of requests cost. `usage`/`cost` count new requests only (what was paid now);
    `usage_all` counts every answer, cached or not (what the whole set costs)."""

    spec: ProviderSpec
    requests: int = 0
    from_cache: int = 0
    new: int = 0
    retries: int = 0
    empty: int = 0
    truncated: int = 0
    usage: Usage = field(default_factory=Usage)
    usage_all: Usage = field(default_factory=Usage)
    seconds: float = 0.0

    @property
    def cost(self) -> float | None:
        return estimate_cost(self.spec, self.usage)

    @property
    def cost_all(self) -> float | None:
        return estimate_cost(self.spec, self.usage_all)

    def as_dict(self) -> dict[str, Any]:
        return {"provider": str(self.spec), "requests": self.requests, "from_cache": self.from_cache,
                "new": self.new, "retries": self.retries, "empty": self.empty, "truncated": self.truncated,
                "input_tokens": self.usage.input_tokens, "output_tokens": self.usage.output_tokens,
                "cost_usd": self.cost, "seconds": round(self.seconds, 3)}

    def line(self) -> str:
        return (f"{self.requests} requests: {self.from_cache} from cache, {self.new} new "
                f"({self.retries} retries); tokens in {self.usage.input_tokens:,} / out "
                f"{self.usage.output_tokens:,}; estimated cost {format_cost(self.cost)}")


def run_requests(
    spec: ProviderSpec,
    requests: Sequence[list[dict[str, str]]],
    params: dict[str, Any],
    *,
    client_factory: Callable[[], LLMClient],
    cache: CompletionCache | None,
    concurrency: int = 8,
    replicates: Sequence[int] | None = None,
    retry: RetryPolicy | None = None,
    timeout: float | None = 120.0,
    desc: str = "",
    progress: bool | None = None,
    on_result: Callable[[int, Completion], None] | None = None,
) -> tuple[list[Completion], RunStats]:
    """Answers in request order, and the stats. `on_result(i, completion)` is called in the
    calling thread as each answer arrives (cached ones first), e.g. to save work incrementally.
    The client is only built when something is missing from the cache."""
    from tqdm import tqdm

    if concurrency < 1:
        raise TearsBenchError(f"--concurrency must be at least 1, got {concurrency}")
    retry = retry or RetryPolicy.from_env()
    replicates = list(replicates) if replicates is not None else [0] * len(requests)
    start = time.perf_counter()
    stats = RunStats(spec, requests=len(requests))
    keys = [request_key(spec, params, messages, r) for messages, r in zip(requests, replicates)]
    results: list[Completion | None] = [None] * len(requests)
    found = cache.get_many(keys) if cache is not None else {}

    # Identical requests are sent once; their answer fills every position that asked it.
    positions: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        positions.setdefault(key, []).append(i)
    for key, where in positions.items():
        if key in found:
            for i in where:
                results[i] = found[key]
                stats.from_cache += 1
                stats.usage_all += found[key].usage
                _count_flags(stats, found[key])
                if on_result:
                    on_result(i, found[key])
    missing = [key for key in positions if key not in found]

    bar = tqdm(total=len(requests), initial=stats.from_cache, desc=desc or str(spec), unit="req",
               disable=(None if progress is None else not progress), dynamic_ncols=True)
    try:
        if missing:
            client = client_factory()
            _send(client, spec, missing, positions, requests, params, cache, concurrency, retry, timeout,
                  results, stats, bar, on_result)
    finally:
        bar.close()
        stats.seconds = time.perf_counter() - start
    return [r if r is not None else Completion("", finish_reason="missing") for r in results], stats


def _count_flags(stats: RunStats, completion: Completion) -> None:
    stats.empty += completion.empty
    stats.truncated += completion.truncated


def _send(client, spec, missing, positions, requests, params, cache, concurrency, retry, timeout,
          results, stats, bar, on_result) -> None:
    stop = threading.Event()
    retries = [0]
    retries_lock = threading.Lock()

    def call(key: str) -> Completion | None:
        messages = requests[positions[key][0]]
        for attempt in range(retry.max_retries + 1):
            if stop.is_set():
                return None
            try:
                completion = client.complete(messages, params, timeout=timeout)
            except ProviderError as error:
                if not error.retryable or attempt == retry.max_retries:
                    error.attempts = attempt + 1
                    raise
                with retries_lock:
                    retries[0] += 1
                if stop.wait(retry.delay(attempt, error.retry_after)):
                    return None
                continue
            if cache is not None:
                cache.put(key, spec, completion)  # refuses empty answers: they are asked again next run
            return completion
        return None

    executor = ThreadPoolExecutor(max_workers=min(concurrency, len(missing)), thread_name_prefix="llm")
    failure: ProviderError | None = None
    try:
        pending: dict[Future, str] = {}
        queue = iter(missing)
        # Submit lazily (at most 2x concurrency queued) so a failure cancels little and costs nothing.
        def refill() -> None:
            while len(pending) < 2 * concurrency and not stop.is_set():
                key = next(queue, None)
                if key is None:
                    return
                pending[executor.submit(call, key)] = key
        refill()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                key = pending.pop(future)
                try:
                    completion = future.result()
                except ProviderError as error:
                    if failure is None:
                        failure = error
                    stop.set()
                    continue
                if completion is None:
                    continue
                stats.new += 1
                stats.usage += completion.usage
                stats.usage_all += completion.usage
                _count_flags(stats, completion)
                for i in positions[key]:
                    results[i] = completion
                    if on_result:
                        on_result(i, completion)
                bar.update(len(positions[key]))
                bar.set_postfix_str(f"tok in {stats.usage.input_tokens:,} out {stats.usage.output_tokens:,}",
                                    refresh=False)
            refill()
    except BaseException:
        # Ctrl-C: nothing new is sent; requests in flight may land (and be cached) for a short grace
        # period, since they are already paid for. A second Ctrl-C skips the wait.
        stop.set()
        for future in pending:
            future.cancel()
        try:
            wait([f for f in pending if not f.cancelled()], timeout=INTERRUPT_GRACE_SECONDS)
        finally:
            executor.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        stats.retries = retries[0]
    executor.shutdown(wait=True)
    if failure is not None:
        answered = sum(r is not None for r in results)
        attempts = getattr(failure, "attempts", 1)
        raise TearsBenchError(
            f"{spec} failed after {attempts} attempt{'s' * (attempts > 1)}: {failure.describe()}; "
            f"{answered} of {len(results)} answers are cached, rerun to request the rest")

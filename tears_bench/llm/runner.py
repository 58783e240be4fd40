"""Many requests through one client: cache first, then bounded concurrency with retries.

Threads, not asyncio: the official clients are synchronous and requests are I/O bound.
Retries use exponential backoff with jitter ("equal jitter": half fixed, half random) and never
wait less than a server's Retry-After. When a request fails for good (a status that retrying
cannot fix, or retries exhausted), the remaining requests are cancelled, the ones in flight are
let finish (and cached), and one TearsBenchError names the provider, model and status.
Each answer is committed to the cache as it arrives. On Ctrl-C nothing more is sent, answers in
flight get a short grace, and the run stops; a second Ctrl-C stops at once. Requests another
process is already sending (a claim row in the cache) are waited for, not paid twice.
"""
from __future__ import annotations

import os
import queue
import random
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from tears_bench.errors import TearsBenchError
from tears_bench.llm.base import Completion, LLMClient, ProviderError, ProviderSpec, Usage
from tears_bench.llm.cache import ANSWERED, CLAIMED, CompletionCache, request_key
from tears_bench.llm.pricing import estimate_cost, format_cost


# After a first Ctrl-C, how long answers already in flight may still land (TEARS_BENCH_LLM_GRACE).
INTERRUPT_GRACE_SECONDS = 5.0
CLAIM_POLL_SECONDS = 0.1  # how often a request another process is sending is looked up


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
    in `mode` "batch" the cost is at the batch price (half the online one), `batches` counts the
    provider batches submitted or resumed and `failed` the requests a batch did not answer."""

    spec: ProviderSpec
    requests: int = 0
    from_cache: int = 0
    new: int = 0
    retries: int = 0
    empty: int = 0
    truncated: int = 0
    usage: Usage = field(default_factory=Usage)
    seconds: float = 0.0
    mode: str = "online"
    batches: int = 0
    failed: int = 0

    @property
    def cost(self) -> float | None:
        return estimate_cost(self.spec, self.usage, batch=self.mode == "batch")

    def as_dict(self) -> dict[str, Any]:
        extra = {"mode": self.mode, "batches": self.batches, "failed": self.failed} if self.mode == "batch" else {}
        return {"provider": str(self.spec), "requests": self.requests, "from_cache": self.from_cache,
                "new": self.new, "retries": self.retries, "empty": self.empty, "truncated": self.truncated,
                "input_tokens": self.usage.input_tokens, "output_tokens": self.usage.output_tokens,
                "cost_usd": self.cost, "seconds": round(self.seconds, 3), **extra}

    def line(self) -> str:
        how = f" through {self.batches} batch{'es' * (self.batches != 1)}" if self.mode == "batch" else ""
        return (f"{self.requests} requests: {self.from_cache} from cache, {self.new} new{how} "
                f"({self.retries} retries); tokens in {self.usage.input_tokens:,} / out "
                f"{self.usage.output_tokens:,}; estimated cost {format_cost(self.cost)}")


def request_positions(spec: ProviderSpec, params: dict[str, Any], requests: Sequence[list[dict[str, str]]],
                      replicates: Sequence[int] | None = None) -> dict[str, list[int]]:
    """Each distinct request's cache key and the positions that asked it: identical requests are
    sent once, and their answer fills every position (both executors, online and batch)."""
    replicates = list(replicates) if replicates is not None else [0] * len(requests)
    positions: dict[str, list[int]] = {}
    for i, (messages, replicate) in enumerate(zip(requests, replicates)):
        positions.setdefault(request_key(spec, params, messages, replicate), []).append(i)
    return positions


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
    if timeout is not None and not timeout > 0:
        raise TearsBenchError(f"--llm-timeout must be a positive number of seconds, got {timeout}")
    retry = retry or RetryPolicy.from_env()
    start = time.perf_counter()
    stats = RunStats(spec, requests=len(requests))
    results: list[Completion | None] = [None] * len(requests)
    positions = request_positions(spec, params, requests, replicates)
    found = cache.get_many(positions) if cache is not None else {}
    for key, where in positions.items():
        if key in found:
            for i in where:
                results[i] = found[key]
                stats.from_cache += 1
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


def claim_ttl(timeout: float | None, retry: RetryPolicy) -> float:
    """How long a claim may go unrefreshed while its holder lives: one request plus the longest
    wait between attempts (the holder refreshes it before each attempt)."""
    return (timeout or 600.0) + max(retry.max_delay, retry.max_retry_after) + 10.0


def grace_seconds(timeout: float | None) -> float:
    grace = float(os.environ.get("TEARS_BENCH_LLM_GRACE") or INTERRUPT_GRACE_SECONDS)
    return min(grace, timeout) if timeout else grace


class _Work:
    """Keys still to do, shared by the worker threads. A key another process is sending is put
    aside and taken again, waiting for its answer, once nothing fresh is left."""

    def __init__(self, keys: Sequence[str]):
        self.fresh = deque(keys)
        self.aside: deque[str] = deque()
        self.lock = threading.Lock()

    def take(self) -> tuple[str, bool] | None:
        with self.lock:
            if self.fresh:
                return self.fresh.popleft(), False
            if self.aside:
                return self.aside.popleft(), True
            return None

    def put_aside(self, key: str) -> None:
        with self.lock:
            self.aside.append(key)


def _send(client, spec, missing, positions, requests, params, cache, concurrency, retry, timeout,
          results, stats, bar, on_result) -> None:
    stop = threading.Event()
    retries = [0]
    retries_lock = threading.Lock()
    ttl = claim_ttl(timeout, retry)
    work = _Work(missing)
    outcomes: queue.Queue = queue.Queue()

    def request(key: str) -> Completion | None:
        messages = requests[positions[key][0]]
        for attempt in range(retry.max_retries + 1):
            if stop.is_set():
                return None
            if cache is not None and attempt:
                cache.refresh_claim(key)
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
            # Committed at once, even after an interrupt: the answer is paid for. Empty answers are
            # refused (asked again next run).
            if cache is not None:
                cache.put(key, spec, completion)
            return completion
        return None

    def process(key: str, waiting: bool):
        """("new", answer), ("shared", answer another process paid for), ("aside", None), or None (stopped)."""
        if cache is None:
            return "new", request(key)
        while True:
            state, answer = cache.claim(key, ttl)
            if state == ANSWERED:
                return "shared", answer
            if state == CLAIMED:
                break
            if not waiting:
                return "aside", None
            if stop.wait(CLAIM_POLL_SECONDS):
                return None
        try:
            return "new", request(key)
        finally:
            cache.release(key)  # a no-op once put() stored the answer

    def worker() -> None:
        while not stop.is_set():
            job = work.take()
            if job is None:
                return
            key, waiting = job
            try:
                outcome = process(key, waiting)
            except BaseException as error:  # reported by the main thread
                outcome = error
            if isinstance(outcome, tuple) and outcome[0] == "aside":
                work.put_aside(key)
                continue
            outcomes.put((key, outcome))

    # Daemon threads: an interrupted run exits without waiting for requests still in flight
    # (a pool's threads would be joined at exit, for up to the request timeout).
    threads = [threading.Thread(target=worker, name=f"llm-{i}", daemon=True)
               for i in range(min(concurrency, len(missing)))]
    for thread in threads:
        thread.start()
    failure: ProviderError | None = None
    left = len(missing)

    def collect(block_for: float) -> bool:
        """Handle one finished request; False when none finished within `block_for` seconds."""
        nonlocal failure, left
        try:
            key, outcome = outcomes.get(timeout=block_for)
        except queue.Empty:
            return False
        left -= 1
        if isinstance(outcome, ProviderError):
            failure = failure or outcome
            stop.set()
        elif isinstance(outcome, BaseException):
            stop.set()
            raise outcome
        elif outcome is not None and outcome[1] is not None:
            _record(outcome[0] == "new", key, outcome[1], positions, results, stats, bar, on_result)
        return True

    try:
        while left and any(t.is_alive() for t in threads) or not outcomes.empty():
            collect(0.1)
    except KeyboardInterrupt:
        stop.set()
        _finish_in_flight(threads, collect, timeout)
        raise
    finally:
        stats.retries = retries[0]
    if failure is not None:
        answered = sum(r is not None for r in results)
        attempts = getattr(failure, "attempts", 1)
        raise TearsBenchError(
            f"{spec} failed after {attempts} attempt{'s' * (attempts > 1)}: {failure.describe()}; "
            f"{answered} of {len(results)} answers are cached, rerun to request the rest")


def _finish_in_flight(threads, collect, timeout) -> None:
    """After a first Ctrl-C: nothing new is sent; requests in flight may land for a short grace
    (they are paid for), and land in the cache even later. A second Ctrl-C ends the wait."""
    busy = sum(t.is_alive() for t in threads)
    if not busy:
        return
    grace = grace_seconds(timeout)
    print(f"tears-bench: interrupted: sending nothing more; waiting up to {grace:g} s for {busy} request(s) "
          "in flight (Ctrl-C again to stop now)", file=sys.stderr, flush=True)
    deadline = time.monotonic() + grace
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        collect(min(0.1, max(0.0, deadline - time.monotonic())))
    while collect(0):
        pass


def _record(new: bool, key, completion, positions, results, stats, bar, on_result) -> None:
    if new:
        stats.new += 1
        stats.usage += completion.usage
    else:
        stats.from_cache += len(positions[key])
    _count_flags(stats, completion)
    for i in positions[key]:
        results[i] = completion
        if on_result:
            on_result(i, completion)
    bar.update(len(positions[key]))
    bar.set_postfix_str(f"tok in {stats.usage.input_tokens:,} out {stats.usage.output_tokens:,}", refresh=False)

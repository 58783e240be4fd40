"""The SQLite completion cache: keys, persistence, WAL, thread safety, what is never stored."""
from __future__ import annotations

import sqlite3
import threading

from tears_bench.llm import CompletionCache
from tears_bench.llm.base import Completion, ProviderSpec, Usage, normalise_params
from tears_bench.llm.cache import default_path, request_key

SPEC = ProviderSpec("openai", "gpt-4o-mini")
MESSAGES = [{"role": "user", "content": "hello"}]


def test_key_depends_on_everything_that_changes_the_answer_and_nothing_else():
    params = normalise_params(None)
    key = request_key(SPEC, params, MESSAGES)
    assert len(key) == 32
    assert key == request_key(SPEC, normalise_params({"max_tokens": 300, "temperature": 0}), MESSAGES)
    assert key == request_key(SPEC, normalise_params({"base_url": "http://proxy"}), MESSAGES)
    others = {
        request_key(ProviderSpec("anthropic", "gpt-4o-mini"), params, MESSAGES),
        request_key(ProviderSpec("openai", "gpt-4o"), params, MESSAGES),
        request_key(SPEC, normalise_params({"temperature": 0.5}), MESSAGES),
        request_key(SPEC, normalise_params({"max_tokens": 100}), MESSAGES),
        request_key(SPEC, params, [{"role": "user", "content": "hello!"}]),
        request_key(SPEC, params, MESSAGES, replicate=1),
    }
    assert key not in others and len(others) == 6


def test_persistence_wal_and_no_empty_answers(tmp_path):
    path = tmp_path / "c.sqlite"
    with CompletionCache(path) as cache:
        assert cache.put("a", SPEC, Completion("Summary: x", Usage(10, 3), "length", "gpt-4o-mini-2024"))
        assert not cache.put("b", SPEC, Completion("  \n", Usage(10, 0)))
        assert len(cache) == 1
    with CompletionCache(path) as cache:
        got = cache.get("a")
        assert got.text == "Summary: x" and got.usage == Usage(10, 3) and got.truncated and got.cached
        assert got.model == "gpt-4o-mini-2024" and cache.get("b") is None
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_default_path_follows_tears_bench_home(isolated_home):
    assert default_path() == isolated_home / "llm" / "cache.sqlite"


def test_threads_and_two_connections_share_the_file(tmp_path):
    path = tmp_path / "c.sqlite"
    first, second = CompletionCache(path), CompletionCache(path)

    def fill(cache, start):
        for i in range(start, start + 200):
            cache.put(f"k{i}", SPEC, Completion(f"answer {i}"))

    threads = [threading.Thread(target=fill, args=(c, s)) for c, s in
               [(first, 0), (first, 200), (second, 400), (second, 600)]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    found = first.get_many(f"k{i}" for i in range(900))
    assert len(found) == 800 and found["k650"].text == "answer 650"
    first.close()
    second.close()

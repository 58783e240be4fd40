"""How fast summaries come back once paid for: summaries served per second from the caches.

Fills the LLM cache through a local fake OpenAI-compatible server (no network, no key), then times:
  llm cache     complete_many over the same prompts: SQLite lookups only
  summarizer    get_summaries with the summary store removed: prompts rebuilt + SQLite cache
  store         get_summaries again: one JSON file read (what models and tasks pay)

    python benchmarks/bench_summary_cache.py [--users 6000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the fake server is a test double: tests/fake_llm_server.py


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=6000)
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--words", type=int, default=180, help="words per fake summary")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    home = tempfile.mkdtemp(prefix="tears-bench-cache-")
    os.environ["TEARS_BENCH_HOME"] = home
    from tears_bench.data.split import build_split
    from tears_bench.data.synthetic import generate
    from tears_bench.llm import complete_many
    from tears_bench.llm.base import normalise_messages
    from tests.fake_llm_server import FakeLLMServer
    from tears_bench.summaries import get_summaries, summary_messages
    from tears_bench.storage import cache_dir

    split = build_split(generate(users=args.users, items=args.items, seed=0))
    n = len(split.user_ids)
    spec = "openai-compatible:fake-model"
    rows = []
    try:
        with FakeLLMServer(words=args.words) as server:
            started = time.perf_counter()
            get_summaries(split, spec, llm_base_url=server.openai_base_url, concurrency=args.concurrency,
                          progress=False)
            fill = time.perf_counter() - started
            rows.append(("fill (fake server, HTTP)", n, fill, server.count))
            prompts = [normalise_messages(summary_messages(split, u)) for u in range(n)]

            def best(fn) -> float:
                times = []
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    fn()
                    times.append(time.perf_counter() - started)
                return min(times)

            before = server.count
            rows.append(("llm cache (complete_many)", n,
                         best(lambda: complete_many(spec, prompts, progress=False)), server.count - before))

            def without_store():
                shutil.rmtree(cache_dir("summaries"))
                get_summaries(split, spec, progress=False)

            rows.append(("summarizer, store removed", n, best(without_store), server.count - before))
            rows.append(("summary store (get_summaries)", n,
                         best(lambda: get_summaries(split, spec, progress=False)), server.count - before))
    finally:
        shutil.rmtree(home, ignore_errors=True)

    print(f"{n:,} users, {args.words}-word summaries, best of {args.repeat}; Python {sys.version.split()[0]}")
    print(f"{'path':<32}{'summaries':>10}{'seconds':>10}{'per second':>14}{'requests':>10}")
    for name, count, seconds, requests in rows:
        print(f"{name:<32}{count:>10,}{seconds:>10.3f}{count / seconds:>14,.0f}{requests:>10,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

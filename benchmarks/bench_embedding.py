"""One-off embedding of the TEARS summaries with the frozen default encoder, cold and warm.

    python benchmarks/bench_embedding.py [SUMMARIES.json] [--encoder minilm] [--limit N]

Embeds every summary of a JSON file ({user: summary} or a list of summaries) into a temporary
TEARS_BENCH_HOME (removed afterwards unless --keep), then builds a fresh encoder object, as a new
process would, and reads all vectors back from the disk cache. Prints one table.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / ".." / "shared" / "data" / "summaries" / "tears-gpt4-ml-1m.json"


def load_summaries(path: Path) -> list[str]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    values = data.values() if isinstance(data, dict) else data
    texts = [v["summary"] if isinstance(v, dict) else v for v in values]
    return [str(t) for t in texts]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("summaries", nargs="?", default=str(DEFAULT))
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=None)
    parser.add_argument("--limit", type=int, default=None, help="embed only the first N summaries")
    parser.add_argument("--home", default=None, help="TEARS_BENCH_HOME to use (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary cache")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)

    texts = load_summaries(Path(args.summaries))[: args.limit]
    home = args.home or tempfile.mkdtemp(prefix="tears-bench-embed-")
    os.environ["TEARS_BENCH_HOME"] = home
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch

    from tears_bench.text import build_encoder

    start = time.perf_counter()
    encoder = build_encoder(args.encoder, max_length=args.max_length, batch_size=args.batch_size,
                            progress=args.progress)
    embeddings = encoder.embeddings
    setup = time.perf_counter() - start

    start = time.perf_counter()
    cold = encoder.encode(texts)
    cold_s = time.perf_counter() - start
    computed = embeddings.stats["computed"]

    start = time.perf_counter()
    fresh = build_encoder(args.encoder, max_length=args.max_length)  # reads the cache from disk
    opened = time.perf_counter() - start
    warm = fresh.encode(texts)
    warm_s = time.perf_counter() - start
    assert not fresh.embeddings.model_loaded and torch.equal(warm, cold)
    tokens = [len(ids) for ids in embeddings.encoder.tokenizer(texts, truncation=False)["input_ids"]]

    limit = embeddings.info["max_length"]
    rows = [
        ("encoder", encoder.identity),
        ("torch threads", str(torch.get_num_threads())),
        ("texts (distinct)", f"{len(texts)} ({computed})"),
        ("tokens mean / max", f"{sum(tokens) / max(len(tokens), 1):.0f} / {max(tokens, default=0)}"),
        (f"truncated at {limit}", f"{sum(t > limit for t in tokens)}"),
        ("setup s (imports, config, tokenizer)", f"{setup:.2f}"),
        ("cold embedding s (incl. weights load)", f"{cold_s:.1f}"),
        ("cold texts/s", f"{computed / cold_s:.1f}" if cold_s else "-"),
        ("warm: open cache s", f"{opened:.3f}"),
        ("warm: open + encode all s", f"{warm_s:.3f}"),
        ("cache folder", str(embeddings.store.folder)),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"{'metric':<{width}} | value")
    print(f"{'-' * width}-|-{'-' * 40}")
    for key, value in rows:
        print(f"{key:<{width}} | {value}")
    if args.home is None and not args.keep:
        import shutil
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

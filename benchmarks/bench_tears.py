"""Seconds per TEARS epoch once the summaries are embedded (frozen encoder), and the alpha sweep.

    python benchmarks/bench_tears.py [--dataset ../shared/data/ml-1m-positives]
        [--summaries file:../shared/data/summaries/tears-gpt4-ml-1m.json] [--models tears-multvae] [--epochs 5]

Uses the normal cache ($TEARS_BENCH_HOME): the split, summaries, embeddings and the CF backbone
are reused when present (embedding is timed separately by bench_embedding.py). The TEARS model
itself is trained for exactly --epochs epochs (no early stopping) under a config of its own, so it
is never served from the cache. Prints one table: embedding (cache) seconds, training seconds per
epoch (training steps only, and with the per-epoch validation), alpha-sweep seconds, peak RSS.
"""
from __future__ import annotations

import argparse
import os
import resource
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=os.path.join(REPO, "..", "shared", "data", "ml-1m-positives"))
    parser.add_argument("--summaries",
                        default="file:" + os.path.join(REPO, "..", "shared", "data", "summaries", "tears-gpt4-ml-1m.json"))
    parser.add_argument("--models", default="tears-multvae")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    import torch

    from tears_bench.models.tears_trainer import train_tears
    from tears_bench.data import get_split
    from tears_bench.summaries.registry import get_summaries
    from tears_bench.text import build_encoder

    split = get_split(args.dataset)
    summaries = get_summaries(split, args.summaries)
    started = time.perf_counter()
    build_encoder("minilm").encode([summaries[u] for u in summaries])
    embed_seconds = time.perf_counter() - started
    rows = []
    for name in args.models.split(","):
        started = time.perf_counter()
        # patience > epochs: every epoch runs; the epoch count keys a model of its own.
        config = {"epochs": args.epochs, "patience": args.epochs + 1, "anneal_epochs": args.epochs + 1}
        trained = train_tears(split, name, summaries, config=config, device=args.device, verbose=False)
        total = time.perf_counter() - started
        history = trained.metrics["history"]
        train_epoch = sum(h["seconds"] for h in history) / len(history)
        rows.append((name, len(history), train_epoch, total / len(history), trained.from_cache))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"dataset {split.dataset}: {len(split.train_users)} train users, {split.n_items} items; "
          f"{len(summaries)} summaries; torch threads {torch.get_num_threads()}; load {os.getloadavg()[0]:.2f}")
    print(f"embeddings from cache: {embed_seconds:.2f} s")
    print(f"{'model':<16}{'epochs':>7}{'train s/epoch':>15}{'s/epoch (all)':>15}{'peak RSS MB':>13}")
    for name, epochs, train_epoch, all_epoch, cached in rows:
        note = "  (cached: rerun with another --epochs)" if cached else ""
        print(f"{name:<16}{epochs:>7}{train_epoch:>15.2f}{all_epoch:>15.2f}{peak_mb:>13.0f}{note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

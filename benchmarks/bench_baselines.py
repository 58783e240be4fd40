"""Speed and memory of the CF baselines: seconds per training epoch, total training time (EASE and
pop: fit time), peak memory, and full-ranking evaluation throughput (users per second).

    python benchmarks/bench_baselines.py                       # ml-1m-positives beside the repo
    python benchmarks/bench_baselines.py --dataset synthetic --models multvae,ease --epochs 3
    python benchmarks/bench_baselines.py --device cuda --json bench.json

Each model runs in its own subprocess so that its peak memory (max RSS; on CUDA, also the peak of
allocated GPU memory) is its own. Training runs a fixed number of epochs (default 10) with no early
stopping, with the model's default configuration (batch 500); 's/epoch' is the training part of an
epoch, without the per-epoch validation, which 'train s' includes. Evaluation ranks the full item
set for every user of the split (train, validation and test users stacked, fold-in items excluded)
with the default evaluation batch size; the best of `--eval-repeats` timed runs after a warm-up.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = str(REPO.parent / "shared" / "data" / "ml-1m-positives")
ALL_MODELS = "pop,ease,multdae,multvae,recvae,macridvae"


def measure(args) -> dict:
    import scipy.sparse as sp
    import torch

    from tears_bench.models.evaluate import default_batch_size, evaluate, model_score_fn
    from tears_bench.models.registry import build_model, get_spec, resolve_config
    from tears_bench.device import resolve_device
    from tears_bench.models.trainer import evaluate_model, fit
    from tears_bench.data.registry import get_split
    from tears_bench.data.split import model_input

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    split = get_split(args.dataset, data_dir=args.data_dir)
    name = args.one
    spec = get_spec(name)
    overrides = {"epochs": args.epochs, "patience": args.epochs + 1} if spec.fit == "gradient" else {}
    if args.batch_size and spec.fit == "gradient":
        overrides["batch_size"] = args.batch_size
    config = resolve_config(name, overrides)
    torch.manual_seed(0)
    model = build_model(name, split.n_items, config).to(device)
    row = {"model": name, "dataset": split.dataset, "device": str(device), "threads": torch.get_num_threads(),
           "train_users": int(split.train_input.shape[0]), "items": split.n_items}

    started = time.perf_counter()
    if spec.fit == "closed_form":
        model.fit(split.train_target, model_input(split.val_input), split.val_target,
                  evaluate_fn=lambda f, x, y: evaluate(f, x, y))
        model.to(device)
        row["fit_s"] = time.perf_counter() - started
    else:
        result = fit(model, split, config, device=device, verbose=False)
        row.update(epochs=result.epochs, s_per_epoch=result.seconds_per_epoch,
                   epoch_s=[h["seconds"] for h in result.history],
                   train_s=time.perf_counter() - started, val_eval_s_per_epoch=result.eval_seconds / result.epochs)
    if device.type == "cuda":
        torch.cuda.synchronize()

    inputs = sp.vstack([model_input(m) for m in (split.train_input, split.val_input, split.test_input)]).tocsr()
    targets = sp.vstack([split.train_target, split.val_target, split.test_target]).tocsr()
    score = model_score_fn(model, device)
    evaluate(score, inputs[:512], targets[:512])  # warm-up
    times = []
    for _ in range(args.eval_repeats):
        started = time.perf_counter()
        result = evaluate(score, inputs, targets, batch_size=args.eval_batch_size)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    row.update(eval_users=result["users"], eval_s=min(times), eval_users_per_s=result["users"] / min(times),
               eval_batch=args.eval_batch_size or default_batch_size(split.n_items),
               test_ndcg20=evaluate_model(model, split, "test", device)["ndcg@20"])
    row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if device.type == "cuda":
        row["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    row["load_avg"] = os.getloadavg()[0]
    return row


def format_rows(rows: list[dict]) -> str:
    header = (f"{'model':<10} {'s/epoch':>8} {'epochs':>6} {'train s':>8} {'fit s':>7} {'peak MB':>8} "
              f"{'eval users/s':>12} {'eval s':>7} {'users':>6} {'test ndcg@20':>12} {'load':>5}")
    lines = [header]
    for r in rows:
        def cell(key, fmt, width):
            return f"{r[key]:{width}{fmt}}" if key in r else f"{'-':>{width}}"
        lines.append(f"{r['model']:<10} {cell('s_per_epoch', '.2f', 8)} {cell('epochs', 'd', 6)} "
                     f"{cell('train_s', '.1f', 8)} {cell('fit_s', '.2f', 7)} {cell('peak_rss_mb', '.0f', 8)} "
                     f"{cell('eval_users_per_s', ',.0f', 12)} {cell('eval_s', '.3f', 7)} {cell('eval_users', 'd', 6)} "
                     f"{cell('test_ndcg20', '.4f', 12)} {cell('load_avg', '.1f', 5)}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default=DEFAULT_DATASET)
    parser.add_argument("--data-dir")
    parser.add_argument("--models", default=ALL_MODELS)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, help="training batch (default: the model's, 500)")
    parser.add_argument("--eval-batch-size", type=int, help="default: models.evaluate.default_batch_size")
    parser.add_argument("--eval-repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto (default cpu)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's, one per core)")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--max-load", type=float,
                        help="on a shared machine: before each model, wait (up to --max-wait s) until the "
                             "1-minute load average is below this")
    parser.add_argument("--max-wait", type=float, default=600)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one model, print JSON
    args = parser.parse_args()

    if args.one:
        print("RESULT " + json.dumps(measure(args)), flush=True)
        return 0
    rows = []
    for name in args.models.split(","):
        waited = time.perf_counter()
        while args.max_load is not None and os.getloadavg()[0] > args.max_load \
                and time.perf_counter() - waited < args.max_wait:
            time.sleep(5)
        command = [sys.executable, __file__, "--one", name] + [
            f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()
            if v is not None and k not in ("one", "models", "json", "max_load", "max_wait")]
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
        lines = [l for l in done.stdout.splitlines() if l.startswith("RESULT ")]
        if done.returncode or not lines:
            print(f"{name}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(lines[-1][len("RESULT "):]))
        print(format_rows(rows[-1:]).splitlines()[-1] if len(rows) > 1 else format_rows(rows), flush=True)
    print()
    print(format_rows(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

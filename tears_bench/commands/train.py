"""`tears-bench train`: train a model end to end, print validation and test metrics, write
DIR/metrics.json, DIR/config.json and DIR/model.pt.

The model comes from tears_bench.models.registry.MODELS. Standard models go through models.trainer.get_trained,
so an identical second command reuses the cached model instead of retraining. TEARS entries (fit="tears")
are trained by tears_bench.commands._train_tears, which adds their options (--summaries, --encoder, ...);
this command then prints the 'val'/'test' parts of the metrics (flat {metric: value}, or one level
deeper, e.g. per alpha) and writes them to DIR/metrics.json.

Under torchrun (docs/distributed.md) every process trains its share of each batch; rank 0 alone
prepares the split and summaries, writes DIR and prints; EASE and popularity (closed forms) are
computed by rank 0 alone while the others wait.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from tears_bench.commands import _train_tears
from tears_bench.errors import TearsBenchError

TABLE_COLUMNS = ("ndcg@10", "ndcg@20", "ndcg@50", "ndcg@100", "recall@20", "recall@50")


def register(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train a recommender (MultVAE, RecVAE, EASE, ...) and evaluate it",
                                   description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="synthetic",
                        help="dataset spec: a name (tears-bench ls), name:key=value,..., or a folder of RecBole files")
    parser.add_argument("--data-dir", help="folder holding the dataset's files")
    parser.add_argument("--split-seed", type=int, default=42, help="seed of the held-out users split (default 42)")
    parser.add_argument("--epochs", type=int, help="maximum epochs (default: the model's)")
    parser.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default auto)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set lr=5e-4 --set latent=200 (repeatable)")
    parser.add_argument("--output", help="output folder (default results/train/<model>-<dataset>-<key>)")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    # The model registry imports torch (the TEARS entries): only when `train` itself is parsed.
    getattr(parser, "defer", lambda add: add(parser))(_add_model_arguments)
    parser.set_defaults(func=run)


def _add_model_arguments(parser) -> None:
    from tears_bench.models.registry import MODELS

    parser.add_argument("--model", required=True, choices=sorted(MODELS), metavar="NAME",
                        help=f"one of: {', '.join(MODELS)}")
    _train_tears.add_arguments(parser)  # after --model, where the usage line has always shown them


def parse_overrides(items: list[str]) -> dict:
    overrides = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise TearsBenchError(f"--set {item!r}: expected KEY=VALUE")
        try:
            overrides[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key.strip()] = value
    return overrides


def run(args) -> int:
    from tears_bench import distributed as dist
    from tears_bench.models.registry import get_spec
    from tears_bench.storage import atomic_write_json, check_writable_dir

    if dist.is_main():
        check_writable_dir(args.output or "results/train", "--output" if args.output else "results folder")
    args.quiet = args.quiet or not dist.is_main()  # one process prints: rank 0
    if get_spec(args.model).fit == "tears":
        metrics, output = _train_tears.train(args)
    else:
        metrics, output = train_standard(args)
    if not dist.is_main():
        return 0
    atomic_write_json(output / "metrics.json", metrics)
    print(format_table(metrics))
    print(f"wrote {output / 'metrics.json'}")
    return 0


def train_standard(args) -> tuple[dict, Path | None]:
    from tears_bench import distributed as dist
    from tears_bench.models.trainer import get_trained
    from tears_bench.data.registry import get_split
    from tears_bench.storage import atomic_write_json

    with dist.main_first():  # rank 0 builds and caches the split, the others read it
        split = get_split(args.dataset, data_dir=args.data_dir, seed=args.split_seed, verbose=not args.quiet)
    trained = get_trained(split, args.model, config=parse_overrides(args.set), seed=args.seed,
                          device=args.device, epochs=args.epochs, verbose=not args.quiet)
    if not dist.is_main():
        return trained.metrics, None
    output = output_folder(args, split, trained.key)
    shutil.copyfile(trained.path / "model.pt", output / "model.pt")
    atomic_write_json(output / "config.json", trained.config)
    metrics = {**trained.metrics, "cache": {"key": trained.key, "path": str(trained.path),
                                            "reused": trained.from_cache}}
    return metrics, output


def output_folder(args, split, key: str) -> Path:
    """--output, or results/train/<model>-<dataset>-<cache key>; created."""
    safe_dataset = "".join(c if c.isalnum() or c in "-_." else "_" for c in split.dataset)
    output = Path(args.output or f"results/train/{args.model}-{safe_dataset}-{key}")
    output.mkdir(parents=True, exist_ok=True)
    return output


def format_table(metrics: dict) -> str:
    header = f"{metrics.get('model', '')} on {metrics.get('dataset', '')}"
    split = metrics.get("split", {})
    if split:
        header += f" (split {split.get('hash')}: {split.get('val')} val / {split.get('test')} test users)"
    rows = []
    for part in ("val", "test"):
        values = metrics.get(part) or {}
        if values and all(isinstance(v, dict) for v in values.values()):
            rows += [(f"{part} {name}", v) for name, v in values.items()]
        elif values:
            rows.append((part, values))
    width = max([len(name) for name, _ in rows] + [6])
    lines = [header, " " * width + "".join(f"{c:>11}" for c in TABLE_COLUMNS)]
    for name, values in rows:
        cells = "".join(f"{values[c]:>11.4f}" if isinstance(values.get(c), (int, float)) else f"{'-':>11}"
                        for c in TABLE_COLUMNS)
        lines.append(f"{name:<{width}}{cells}")
    return "\n".join(lines)

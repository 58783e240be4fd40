"""`tears-bench train` for the TEARS models (registry entries with fit="tears"): their options and run.

`tears-bench train --model tears-multvae --dataset D --summaries S [--encoder E]
[--encoder-mode frozen|lora] [--align ot|none|kl|contrastive]` trains (or loads from the cache) the
TEARS model, prints its metrics per alpha next to its CF baseline, and writes DIR/metrics.json
with `by_alpha` and `best_alpha` (the `test` block is the one at `best_alpha`).

The CLI side only: fetching the summaries and turning options into a config happen here, so that
the models package never imports the command line or the summaries.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from tears_bench.commands import LLM_TIMEOUT_HELP, TEXT_HEAD_CHOICES, TEXT_HEAD_HELP, seconds


def add_arguments(parser) -> None:
    group = parser.add_argument_group("TEARS models")
    group.add_argument("--summaries", default="template",
                       help="summarizer id: template (default), file:PATH, tears-gpt4-ml-1m, openai:MODEL, ...")
    group.add_argument("--llm-base-url", help="base URL for an LLM summarizer (openai-compatible servers, proxies)")
    group.add_argument("--llm-timeout", type=seconds, metavar="SECONDS", help=LLM_TIMEOUT_HELP)
    group.add_argument("--allow-partial", action="store_true",
                       help="train on summaries covering under 90%% of the split's users (refused otherwise)")
    group.add_argument("--encoder", default="minilm", help="text encoder: minilm (default) or hf:NAME-OR-PATH")
    group.add_argument("--encoder-mode", default="frozen", choices=["frozen", "lora"],
                       help="frozen (default: embeddings computed once and cached) or lora (for GPUs)")
    group.add_argument("--segments", type=int, default=1,
                       help="embed the summary as K consecutive parts, concatenated (default 1: the whole text; "
                            "4 follows the summary's four parts and lets a frozen encoder see where a genre is)")
    group.add_argument("--align", default="ot", choices=["ot", "none", "kl", "contrastive"],
                       help="alignment of the text and CF posteriors (default ot)")
    group.add_argument("--text-head", choices=TEXT_HEAD_CHOICES, help=TEXT_HEAD_HELP)


def train(args) -> tuple[dict, Path | None]:
    """Train (or reuse) args.model on args.summaries; its metrics and the output folder, filled
    (under torchrun: by rank 0; the other ranks get no folder)."""
    from tears_bench import distributed as dist
    from tears_bench.commands.train import output_folder, parse_overrides
    from tears_bench.data import get_split
    from tears_bench.models.tears_trainer import train_tears
    from tears_bench.summaries.registry import check_coverage, get_summaries

    with dist.main_first():  # rank 0 builds and caches the split, the others read it
        split = get_split(args.dataset, data_dir=args.data_dir, seed=args.split_seed, verbose=not args.quiet)
    # Rank 0 fetches the summaries (an LLM is asked once) and sends them to the others.
    summaries = dist.from_main_object(lambda: get_summaries(split, args.summaries, llm_base_url=args.llm_base_url,
                                                            timeout=args.llm_timeout))
    check_coverage(split, summaries, args.summaries, getattr(args, "allow_partial", False))
    config = {**parse_overrides(args.set), "encoder": args.encoder, "encoder_mode": args.encoder_mode,
              "segments": args.segments, "align": args.align, "epochs": args.epochs,
              "text_head": getattr(args, "text_head", None)}  # None: --set or the default
    trained = train_tears(split, args.model, summaries, config=config, seed=args.seed, device=args.device,
                          verbose=not args.quiet)
    if not dist.is_main():
        return trained.metrics, None
    output = output_folder(args, split, trained.key)
    shutil.copyfile(trained.path / "model.pt", output / "model.pt")
    shutil.copyfile(trained.path / "config.json", output / "config.json")
    print(alpha_table(trained.metrics))
    return {**trained.metrics, "cache": {"key": trained.key, "path": str(trained.path),
                                         "reused": trained.from_cache}}, output


def alpha_table(metrics: dict) -> str:
    """Test NDCG@20, Recall@20 and Recall@50 per alpha, with the CF baseline on the same users."""
    columns = ("ndcg@20", "recall@20", "recall@50")
    lines = [f"{metrics['model']}: test metrics per alpha (alpha = weight of the text; best on validation: "
             f"{metrics['best_alpha']:.1f})", f"{'':<18}" + "".join(f"{c:>11}" for c in columns)]
    for alpha, parts in metrics["by_alpha"].items():
        mark = " *" if float(alpha) == metrics["best_alpha"] else ""
        lines.append(f"{'alpha ' + alpha + mark:<18}" + "".join(f"{parts['test'][c]:>11.4f}" for c in columns))
    if metrics.get("baseline"):
        base = metrics["baseline"]["test"]
        lines.append(f"{metrics['baseline']['model'] + ' (same users)':<18}" +
                     "".join(f"{base[c]:>11.4f}" for c in columns))
    return "\n".join(lines)

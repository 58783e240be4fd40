"""`tears-bench compare --summaries S1,S2[,...]`: judge summarizers on one split and one CF backbone."""
from __future__ import annotations

from tears_bench.commands import LLM_TIMEOUT_HELP, comma_list, seconds


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare", help="compare summary sources: accuracy, flip and uniqueness on the same split and backbone",
        description="For each summary source, train TEARS on the same split with the same config and seed (so "
                    "every source shares the same pre-trained CF VAE), then report test accuracy at alpha 1 and at "
                    "the best alpha, the flip task at alpha 1 and summary uniqueness: one table and one figure. "
                    "alpha = weight of the text latent (0 = CF only, 1 = text only).")
    parser.add_argument("--summaries", required=True, type=comma_list,
                        help="two or more comma-separated summary sources: template, file:PATH, tears-gpt4-ml-1m, "
                             "openai:MODEL, ...")
    parser.add_argument("--dataset", default="synthetic", help="dataset name or RecBole folder (default synthetic)")
    parser.add_argument("--data-dir", help="folder holding the dataset's files")
    parser.add_argument("--models", default=["tears-multvae"], type=comma_list,
                        help="comma-separated TEARS models (default tears-multvae)")
    parser.add_argument("--editor", default="offline", help="editor of the flip task: offline (default) or an LLM id")
    parser.add_argument("--encoder", default="minilm", help="text encoder: minilm (default) or hf:NAME-OR-PATH, "
                        "optionally :bf16 or :auto (frozen precision; default fp32, the same vectors on every CPU)")
    parser.add_argument("--epochs", type=int, help="maximum TEARS training epochs")
    parser.add_argument("--limit", type=int, help="at most N test users for flip and uniqueness")
    parser.add_argument("--seed", type=int, default=0, help="seed of the models and tasks (default 0)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--llm-base-url", help="base URL for openai-compatible servers, proxies or gateways")
    parser.add_argument("--llm-timeout", type=seconds, metavar="SECONDS", help=LLM_TIMEOUT_HELP)
    parser.add_argument("--pairs", type=int, default=2000, help="random summary pairs for uniqueness (default 2000)")
    parser.add_argument("--output", help="output folder (default results/compare-<id>/)")
    parser.add_argument("--allow-partial", action="store_true",
                        help="compare sources that cover under 90%% of the split's users (refused otherwise)")
    parser.set_defaults(func=main)


def main(args) -> int:
    from tears_bench.compare import CompareConfig, run_compare
    from tears_bench.storage import check_writable_dir

    check_writable_dir(args.output or "results", "--output" if args.output else "results folder")
    run_compare(CompareConfig(
        summaries=args.summaries, dataset=args.dataset, data_dir=args.data_dir, models=args.models,
        editor=args.editor, encoder=args.encoder, epochs=args.epochs, limit=args.limit, seed=args.seed,
        device=args.device, llm_base_url=args.llm_base_url, llm_timeout=args.llm_timeout, pairs=args.pairs,
        output=args.output,
        allow_partial=args.allow_partial))
    return 0

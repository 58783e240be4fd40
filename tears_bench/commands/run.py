"""`tears-bench run --task flip[,rank,guided,uniqueness]`: the benchmark's main job."""
from __future__ import annotations

from tears_bench.commands import LLM_TIMEOUT_HELP, TEXT_HEAD_CHOICES, TEXT_HEAD_HELP, comma_list, seconds


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "run", help="run benchmark tasks on TEARS models (default: synthetic data, offline, minutes)",
        description="Build or load everything a task needs (split, summaries, trained models), run the tasks "
                    "for every model and alpha, print a table per task and write the run folder.")
    parser.add_argument("--task", "--tasks", dest="tasks", required=True, type=comma_list,
                        help="comma-separated: flip, rank, guided, uniqueness")
    parser.add_argument("--dataset", default="synthetic", help="dataset name or RecBole folder (default synthetic)")
    parser.add_argument("--data-dir", help="folder holding the dataset's files")
    parser.add_argument("--summaries", default=["template"], type=comma_list,
                        help="summarizer id(s): template, file:PATH, tears-gpt4-ml-1m, openai:MODEL, ...; several "
                             "comma-separated sources of the same users feed the uniqueness task (default template)")
    parser.add_argument("--models", default=["tears-multvae"], type=comma_list,
                        help="comma-separated TEARS models (default tears-multvae)")
    parser.add_argument("--editor", default="offline", help="offline, or an LLM id such as openai:gpt-4o")
    parser.add_argument("--alphas", default="0:1:0.1",
                        help="start:stop:step or a comma list; alpha = weight of the text (default 0:1:0.1)")
    parser.add_argument("--limit", type=int, help="a seeded random N of the test users (the same in every task)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the models and tasks (default 0)")
    parser.add_argument("--split-seed", type=int, default=42, help="seed of the held-out users (default 42)")
    parser.add_argument("--output", help="run folder (default results/<run-id>); rerun into it to resume")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--llm-base-url", help="base URL for openai-compatible servers, proxies or gateways")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent LLM requests (default 8)")
    parser.add_argument("--llm-timeout", type=seconds, metavar="SECONDS", help=LLM_TIMEOUT_HELP)
    parser.add_argument("--encoder", default="minilm", help="text encoder: minilm (default) or hf:NAME-OR-PATH, "
                        "optionally :bf16 or :auto (frozen precision; default fp32, the same vectors on every CPU)")
    parser.add_argument("--encoder-mode", default="frozen", choices=["frozen", "lora"])
    parser.add_argument("--segments", type=int, default=1,
                        help="embed each summary as K consecutive parts, concatenated (default 1; see docs/decisions.md)")
    parser.add_argument("--align", default="ot", help="alignment: ot (default), none, kl, contrastive")
    parser.add_argument("--epochs", type=int, help="maximum TEARS training epochs")
    parser.add_argument("--pairs", type=int, default=2000, help="random summary pairs for uniqueness (default 2000)")
    parser.add_argument("--allow-partial", action="store_true",
                        help="run on a summaries source that covers under 90%% of the split's users (refused otherwise)")
    parser.add_argument("--loss-scale", default="authors", choices=["sum", "authors"],
                        help="TEARS loss normalisation: authors (default: NLL averaged over items, as in the "
                             "authors' code) or sum (NLL summed over items); see docs/protocol.md")
    parser.add_argument("--guided-control", default="empty", choices=["empty", "cf"],
                        help="guided task baseline: empty (default, the authors': the same mix with an empty "
                             "summary) or cf (the CF-only ranking for 'more')")
    parser.add_argument("--text-head", default="auto", choices=TEXT_HEAD_CHOICES, help=TEXT_HEAD_HELP)
    parser.set_defaults(func=main)


def main(args) -> int:
    from tears_bench.harness import RunConfig, parse_alphas, run_benchmark

    config = RunConfig(
        tasks=args.tasks, dataset=args.dataset, data_dir=args.data_dir, summaries=args.summaries,
        models=args.models, editor=args.editor, alphas=parse_alphas(args.alphas), limit=args.limit, seed=args.seed,
        split_seed=args.split_seed, output=args.output, device=args.device, llm_base_url=args.llm_base_url,
        concurrency=args.concurrency, llm_timeout=args.llm_timeout, encoder=args.encoder,
        encoder_mode=args.encoder_mode,
        segments=args.segments, align=args.align,
        epochs=args.epochs, pairs=args.pairs, allow_partial=args.allow_partial, loss_scale=args.loss_scale,
        guided_control=args.guided_control, text_head=args.text_head)
    run_benchmark(config)
    return 0

"""`tears-bench summarize`: write (or import) user summaries into the summary store."""
from __future__ import annotations

import json
from pathlib import Path

from tears_bench.commands import LLM_MODE_CHOICES, LLM_MODE_HELP, LLM_TIMEOUT_HELP, seconds
from tears_bench.errors import TearsBenchError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "summarize", help="write or import user summaries (template, LLMs, published or JSON files)",
        description="Write user summaries with a summarizer and keep them in the summary store. "
                    "Summarizers: template (offline), tears-gpt4-ml-1m, file:PATH.json, openai:MODEL, "
                    "anthropic:MODEL, openai-compatible:MODEL (with --llm-base-url), hf:NAME-OR-PATH.")
    parser.add_argument("--dataset", default="synthetic", help="dataset name or RecBole folder (default synthetic)")
    parser.add_argument("--data-dir", help="folder holding the dataset's files")
    parser.add_argument("--seed", type=int, default=42, help="split seed (default 42)")
    parser.add_argument("--summarizer", default="template", help="summarizer spec (default template)")
    parser.add_argument("--llm-base-url", help="server address for openai-compatible (also proxies for openai/anthropic)")
    parser.add_argument("--limit", type=int, help="summarize only the first N users")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight at once (default 8)")
    parser.add_argument("--llm-timeout", type=seconds, metavar="SECONDS", help=LLM_TIMEOUT_HELP)
    parser.add_argument("--llm-mode", choices=LLM_MODE_CHOICES, default="online", help=LLM_MODE_HELP)
    parser.add_argument("--temperature", type=float, default=0.0, help="LLM temperature (default 0, as the paper)")
    parser.add_argument("--max-tokens", type=int, default=300, help="LLM answer limit (default 300, as the paper)")
    parser.add_argument("--replicate", type=int, default=0,
                        help="replicate index: a new value asks again (regenerations for uniqueness)")
    parser.add_argument("--dry-run", action="store_true", help="print one full prompt and what would be sent; send nothing")
    parser.add_argument("--output", help="write a JSON object user id -> summary to this file")
    parser.set_defaults(func=run)


def run(args) -> int:
    from tears_bench.data import get_split
    from tears_bench.summaries.registry import get_summaries, plan_summaries

    params = {"temperature": args.temperature, "max_tokens": args.max_tokens}
    split = get_split(args.dataset, args.data_dir, seed=args.seed)
    if args.dry_run:
        return _dry_run(plan_summaries(split, args.summarizer, limit=args.limit, params=params,
                                       replicate=args.replicate, option="--summarizer", llm_mode=args.llm_mode), args)
    summaries = get_summaries(split, args.summarizer, llm_base_url=args.llm_base_url, limit=args.limit,
                              concurrency=args.concurrency, params=params, replicate=args.replicate,
                              timeout=args.llm_timeout, option="--summarizer", llm_mode=args.llm_mode)
    _print_report(split, summaries)
    if args.output:
        out = Path(args.output).expanduser()
        try:
            from tears_bench.storage import atomic_write_text

            atomic_write_text(out, json.dumps(summaries.by_user_id(), indent=1, ensure_ascii=False) + "\n")
        except OSError as error:
            raise TearsBenchError(f"cannot write {out}: {error.strerror}") from None
        print(f"output        {out} ({len(summaries):,} summaries)")
    return 0


def _print_report(split, summaries) -> None:
    from tears_bench.llm.pricing import format_cost

    r, meta = summaries.report, summaries.metadata
    model = f", model {meta['model']}" if meta.get("model") else ""
    version = f", prompt {meta['prompt_version']}" if meta.get("prompt_version") else ""
    print(f"summarizer    {meta['summarizer']}{model}{version}")
    print(f"dataset       {split.dataset}, split {split.hash}, store key {summaries.key}")
    llm = r.get("llm")
    from_cache = r["from_store"] + (r.get("from_llm_cache") or 0)
    print(f"users         {r['users']:,}: {r['summarized']:,} summarized ({from_cache:,} from cache, "
          f"{r['new']:,} new), {r['missing']:,} without a summary")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(r["flag_counts"].items()))
    print(f"flagged       {r['flagged']:,}" + (f" ({counts})" if counts else ""))
    w = r["words"]
    if w:
        print(f"words         min {w['min']} / median {w['median']:g} / mean {w['mean']:g} / max {w['max']}")
    if "import" in r and r["import"]:
        i = r["import"]
        print(f"source        {i['source']}")
        print(f"import        {i['keys']:,} summaries in the file: {i['matched']:,} matched, "
              f"{i['users_without']:,} users of the split without a summary, {i['unknown_keys']:,} unknown keys"
              + (f", {i['empty']:,} empty" if i.get("empty") else ""))
    if llm:
        how = (f" through {llm['batches']:,} batch{'es' * (llm['batches'] != 1)}" if llm.get("mode") == "batch"
               else f", {llm['retries']:,} retries")
        price = " at the batch price" if llm.get("mode") == "batch" else ""
        print(f"LLM           {llm['requests']:,} requests: {llm['from_cache']:,} from cache, {llm['new']:,} new{how}; "
              f"tokens in {llm['input_tokens']:,} / out {llm['output_tokens']:,}; "
              f"estimated cost {format_cost(llm['cost_usd'])}{price}")
    print(f"time          {r['seconds']:.2f} s")


def _dry_run(plan, args) -> int:
    from tears_bench.llm.pricing import format_cost

    if plan.prompt is None:
        print(f"{plan.summarizer} sends no requests: it would summarize {plan.users:,} users offline")
        return 0
    print("=" * 30 + " first prompt " + "=" * 30)
    for message in plan.prompt:
        print(f"[{message['role']}]\n{message['content']}\n")
    print("=" * 74)
    print(f"summarizer    {plan.summarizer}")
    print(f"users         {plan.users:,} ({plan.cached:,} already summarized or cached)")
    print(f"requests      {plan.requests:,} would be sent")
    print(f"tokens        about {plan.input_tokens:,} in (estimated at 4 characters a token), "
          f"at most {plan.max_output_tokens:,} out")
    price = " at the batch price (--llm-mode batch: half the online price)" if plan.llm_mode == "batch" else ""
    print(f"cost          at most {format_cost(plan.cost_upper)}{price}")
    from tears_bench.llm.base import parse_provider

    provider = parse_provider(plan.summarizer).provider
    variable = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}.get(provider)
    import os

    if variable and not os.environ.get(variable) and plan.requests:
        print(f"note          {variable} is not set: a real run would stop before sending anything")
    return 0

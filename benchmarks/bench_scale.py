"""Scale: a Netflix-size data path on synthetic data, and what summarizing Netflix would cost.

    python benchmarks/bench_scale.py                            # 100,000 and 500,000 users x 20,000 items
    python benchmarks/bench_scale.py --users 100000 --cf-batches 0 --json out.json

Each size runs in its own subprocess, so its peak memory (max RSS) is its own:
- split: generate `synthetic:users=N,items=20000` and build the split (seconds; max RSS right after);
- CF: MultVAE (default configuration, batch 500) on the training users: the whole first epoch with
  `--cf-batches 0`, else that many batches after 3 warm-up batches, per-batch time times the batches
  of an epoch (extrapolated; the table says which);
- eval: full ranking of `--eval-users` training users (inputs, fold-in items excluded, every item
  ranked, default evaluation batch) by that MultVAE: users per second, the fold-in not timed apart
  because it is one encoder pass of the same batch;
- max RSS at the end (split, model, optimizer and evaluation together).

Summarizing Netflix (463,435 users) with a provider's batch API: input tokens per request measured on
`--prompt-users` users of the first size's split with the real prompt builder
(tears_bench.summaries.prompt.summary_messages, tokens estimated as `--dry-run` does: 4 characters a
token plus 4 a message; no tokenizer ships offline); output tokens from the lengths of the authors'
GPT-4 summaries of ML-1M (same estimate, capped at the protocol's max_tokens 300), or 300 when that
file is absent (`--summaries-file`; default under $TEARS_BENCH_SHARED_DATA). Prices:
tears_bench/llm/pricing.py list prices, halved for the batch APIs (OpenAI Batch and Anthropic Message
Batches both bill 50%). Time: a batch completes within its 24 h window;
files are cut at 50,000 requests (OpenAI's limit per batch; Anthropic allows 100,000), so Netflix is
10 files. If the account's enqueued-token limit admits them all at once, the whole run is one
window (at most 24 h); otherwise ceil(input tokens / limit) windows one after another.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ITEMS = 20_000
NETFLIX_USERS = 463_435
BATCH_REQUESTS = 50_000  # OpenAI's requests per batch file
BATCH_WINDOW_H = 24
SHARED_DATA = Path(os.environ.get("TEARS_BENCH_SHARED_DATA", REPO.parent / "shared" / "data"))
SUMMARY_FILE = SHARED_DATA / "summaries" / "tears-gpt4-ml-1m.json"
PRICED_MODELS = ("gpt-4-1106-preview", "gpt-4o", "gpt-4o-mini", "gpt-4.1-mini", "gpt-4.1-nano",
                 "claude-3-5-haiku", "claude-sonnet-4")


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(args) -> dict:
    import numpy as np
    import torch

    from tears_bench.data import load_dataset
    from tears_bench.data.split import build_split, model_input
    from tears_bench.models.evaluate import default_batch_size, evaluate, model_score_fn
    from tears_bench.models.registry import build_model, resolve_config
    from tears_bench.models.trainer import batches, make_adam

    if args.threads:
        torch.set_num_threads(args.threads)
    row = {"users": args.one, "items": ITEMS, "threads": torch.get_num_threads()}
    started = time.perf_counter()
    data = load_dataset(f"synthetic:users={args.one},items={ITEMS}")
    row["generate_s"] = time.perf_counter() - started
    row["ratings"] = int(data.n_ratings)
    started = time.perf_counter()
    split = build_split(data)
    row["split_s"] = time.perf_counter() - started
    del data
    row["split_rss_mb"] = max_rss_mb()
    row["train_users"] = int(split.train_input.shape[0])

    if args.prompt_users:
        row.update(prompt_tokens(split, args.prompt_users))

    config = resolve_config("multvae")
    torch.manual_seed(0)
    model = build_model("multvae", split.n_items, config)
    optimizer = make_adam(model.parameters(), config)
    inputs, targets = model_input(split.train_input), split.train_target
    n_batches = math.ceil(inputs.shape[0] / config["batch_size"])
    timed = n_batches if args.cf_batches <= 0 else min(args.cf_batches, n_batches - 3)
    model.train()
    stream = batches(inputs, targets, config["batch_size"], np.random.default_rng(0), "cpu")
    for step in range(n_batches if args.cf_batches <= 0 else timed + 3):
        if step == (0 if args.cf_batches <= 0 else 3):
            started = time.perf_counter()
        batch = next(stream)
        loss, _ = model.loss(batch.x, batch.target, min(0.2, step / 2000))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    per_batch = (time.perf_counter() - started) / timed
    row.update(cf_batches=n_batches, cf_timed_batches=timed, cf_epoch_s=per_batch * n_batches,
               cf_extrapolated=timed < n_batches)

    model.eval()
    users = min(args.eval_users, inputs.shape[0])
    score = model_score_fn(model, "cpu")
    evaluate(score, inputs[:256], targets[:256])  # warm-up
    started = time.perf_counter()
    result = evaluate(score, inputs[:users], targets[:users])
    row.update(eval_users=result["users"], eval_s=time.perf_counter() - started,
               eval_batch=default_batch_size(split.n_items))
    row["eval_users_per_s"] = row["eval_users"] / row["eval_s"]
    row["peak_rss_mb"] = max_rss_mb()
    row["load_1min"] = os.getloadavg()[0]
    return row


def prompt_tokens(split, n_users: int) -> dict:
    """Input tokens per summarization request (as plan_summaries estimates them), and the time the
    template summarizer takes per user, on a seeded sample of the split's users."""
    import numpy as np

    from tears_bench.llm.base import normalise_messages
    from tears_bench.summaries.prompt import estimate_tokens, summary_messages
    from tears_bench.summaries.template import template_summaries

    users = np.sort(np.random.default_rng(0).choice(len(split.user_ids), size=n_users, replace=False))
    tokens = []
    for u in users.tolist():
        messages = normalise_messages(summary_messages(split, u))
        tokens.append(estimate_tokens(" ".join(m["content"] for m in messages)) + 4 * len(messages))
    started = time.perf_counter()
    template_summaries(split, users.tolist())
    return {"prompt_users": n_users, "prompt_tokens_mean": float(np.mean(tokens)),
            "prompt_tokens_p95": float(np.percentile(tokens, 95)),
            "template_users_per_s": n_users / (time.perf_counter() - started)}


def output_tokens(path: Path) -> tuple[float, str]:
    from tears_bench.llm.base import DEFAULT_PARAMS
    from tears_bench.summaries.prompt import estimate_tokens

    cap = DEFAULT_PARAMS["max_tokens"]
    if not path.is_file():
        return float(cap), f"max_tokens {cap}: {path} not found"
    texts = json.loads(path.read_text()).values()
    lengths = [min(estimate_tokens(t), cap) for t in texts]
    return sum(lengths) / len(lengths), f"{len(lengths):,} GPT-4 summaries of ML-1M"


def cost_rows(tokens_in: float, tokens_out: float) -> list[dict]:
    from tears_bench.llm.base import parse_provider
    from tears_bench.llm.pricing import price

    total_in, total_out = tokens_in * NETFLIX_USERS, tokens_out * NETFLIX_USERS
    rows = []
    for model in PRICED_MODELS:
        provider = "anthropic" if model.startswith("claude") else "openai"
        rates = price(parse_provider(f"{provider}:{model}"))
        if rates is None:
            continue
        full = (total_in * rates[0] + total_out * rates[1]) / 1e6
        rows.append({"model": f"{provider}:{model}", "input_tokens": total_in, "output_tokens": total_out,
                     "list_usd": full, "batch_usd": full / 2})
    return rows


def print_tables(rows: list[dict], tokens_out: float, source: str) -> None:
    print("| users | ratings | generate s | split s | RSS after split MB | CF epoch s (MultVAE) | "
          "eval users/s | peak RSS MB | load |")
    print("|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for r in rows:
        how = (f"{r['cf_epoch_s']:.0f} ({r['cf_timed_batches']} of {r['cf_batches']} batches, extrapolated)"
               if r["cf_extrapolated"] else f"{r['cf_epoch_s']:.0f} (all {r['cf_batches']} batches)")
        print(f"| {r['users']:,} | {r['ratings']:,} | {r['generate_s']:.1f} | {r['split_s']:.1f} | "
              f"{r['split_rss_mb']:,.0f} | {how} | {r['eval_users_per_s']:,.0f} | {r['peak_rss_mb']:,.0f} | "
              f"{r['load_1min']:.1f} |")
    sample = next((r for r in rows if "prompt_tokens_mean" in r), None)
    if sample is None:
        return
    tokens_in = sample["prompt_tokens_mean"]
    print(f"\nSummarizing Netflix ({NETFLIX_USERS:,} users): {tokens_in:.0f} input tokens a request (mean of "
          f"{sample['prompt_users']:,} synthetic users' prompts, p95 {sample['prompt_tokens_p95']:.0f}), "
          f"{tokens_out:.0f} output tokens ({source}); {math.ceil(NETFLIX_USERS / BATCH_REQUESTS)} batch files "
          f"of <= {BATCH_REQUESTS:,} requests, done within one {BATCH_WINDOW_H} h window if the enqueued-token "
          f"limit admits {tokens_in * NETFLIX_USERS / 1e6:,.0f}M input tokens at once, else "
          f"ceil({tokens_in * NETFLIX_USERS / 1e6:,.0f}M / limit) windows. The template summarizer: "
          f"{sample['template_users_per_s']:,.0f} users/s, {NETFLIX_USERS / sample['template_users_per_s'] / 60:.1f} "
          f"min for all.\n")
    print("| summarizer | input tokens | output tokens | list price USD | batch API USD (50%) |")
    print("|---|---:|---:|---:|---:|")
    for c in cost_rows(tokens_in, tokens_out):
        print(f"| {c['model']} | {c['input_tokens'] / 1e6:,.0f}M | {c['output_tokens'] / 1e6:,.0f}M | "
              f"{c['list_usd']:,.0f} | {c['batch_usd']:,.0f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", default="100000,500000", help="comma-separated user counts (items: 20,000)")
    parser.add_argument("--cf-batches", type=int, default=60,
                        help="MultVAE batches to time and extrapolate to an epoch (0: time the whole epoch)")
    parser.add_argument("--full-epoch-up-to", type=int, default=100_000,
                        help="sizes up to this many users time the whole epoch regardless of --cf-batches")
    parser.add_argument("--eval-users", type=int, default=20_000)
    parser.add_argument("--prompt-users", type=int, default=2000)
    parser.add_argument("--summaries-file", type=Path, default=SUMMARY_FILE,
                        help="published summaries whose lengths give the output tokens (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args)))
        return 0

    rows = []
    for i, users in enumerate(int(u) for u in args.users.split(",")):
        cf = 0 if users <= args.full_epoch_up_to else args.cf_batches
        command = [sys.executable, __file__, "--one", str(users), "--cf-batches", str(cf),
                   "--eval-users", str(args.eval_users), "--prompt-users", str(args.prompt_users if i == 0 else 0),
                   "--threads", str(args.threads)]
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
        if done.returncode != 0:
            print(f"{users:,} users failed:\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"measured {users:,} users", file=sys.stderr, flush=True)
    tokens_out, source = output_tokens(args.summaries_file)
    print_tables(rows, tokens_out, source)
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "output_tokens": tokens_out}, indent=1))
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())

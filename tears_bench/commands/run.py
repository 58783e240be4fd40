"""`tears-bench run --task flip[,rank,guided,uniqueness]`: the benchmark's main job."""
from __future__ import annotations

from tears_bench.options import RUN, add_options


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "run", help="run benchmark tasks on TEARS models (default: synthetic data, offline, minutes)",
        description="Build or load everything a task needs (split, summaries, trained models), run the tasks "
                    "for every model and alpha, print a table per task and write the run folder.")
    add_options(parser, RUN)  # every flag is a field of tears_bench.options.RunConfig
    parser.set_defaults(func=main)


def main(args) -> int:
    from tears_bench.harness import run_benchmark
    from tears_bench.options import config_from_args

    run_benchmark(config_from_args(args, RUN))
    return 0

"""`tears-bench compare --summaries S1,S2[,...]`: judge summarizers on one split and one CF backbone."""
from __future__ import annotations

from tears_bench.options import COMPARE, add_options


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare", help="compare summary sources: accuracy, flip and uniqueness on the same split and backbone",
        description="For each summary source, train TEARS on the same split with the same config and seed (so "
                    "every source shares the same pre-trained CF VAE), then report test accuracy at alpha 1 and at "
                    "the best alpha, the flip task at alpha 1 and summary uniqueness: one table and one figure. "
                    "The options are `run`'s, less --task, --alphas and --guided-control. "
                    "alpha = weight of the text latent (0 = CF only, 1 = text only).")
    add_options(parser, COMPARE)  # every flag is a field of tears_bench.options.RunConfig
    parser.set_defaults(func=main)


def main(args) -> int:
    from tears_bench.compare import run_compare
    from tears_bench.options import config_from_args

    run_compare(config_from_args(args, COMPARE))
    return 0

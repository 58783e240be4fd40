"""The `tears-bench` command line. Each subcommand lives in its own module of
`tears_bench.commands` and exposes `register(subparsers)`; the module's parser sets `func`."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from tears_bench import __version__, commands
from tears_bench.errors import TearsBenchError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tears-bench",
        description="Controllability evaluation and benchmarking for TEARS (scrutable text user profiles).",
    )
    parser.add_argument("--version", action="version", version=f"tears-bench {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in sorted(m.name for m in pkgutil.iter_modules(commands.__path__)):
        importlib.import_module(f"tears_bench.commands.{module}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except TearsBenchError as error:
        if args.debug:
            raise
        print(f"tears-bench: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tears-bench: interrupted; finished work is cached, rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

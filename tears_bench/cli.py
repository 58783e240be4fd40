"""The `tears-bench` command line. Each subcommand lives in its own module of
`tears_bench.commands` and exposes `register(subparsers)`; the module's parser sets `func`.

Building the parser imports nothing heavy (torch, transformers, pandas, matplotlib): `--help` and
argument errors answer at once. Commands import those inside their function; options that need a
heavy import to be listed (a model plugin's) are added by `parser.defer(add)`, which runs only when
that command is parsed."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from tears_bench import __version__, commands
from tears_bench.errors import TearsBenchError
from tears_bench.openmp import prefer_passive_wait


class CommandParser(argparse.ArgumentParser):
    """A subcommand's parser whose deferred option builders run just before it parses (or prints
    its --help), so that listing the commands never pays for them."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._deferred: list = []

    def defer(self, add) -> None:
        """Call `add(self)` before this parser first parses its arguments."""
        self._deferred.append(add)

    def _run_deferred(self) -> None:
        while self._deferred:
            self._deferred.pop(0)(self)

    def parse_known_args(self, args=None, namespace=None):
        self._run_deferred()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self._run_deferred()
        return super().format_help()

    def format_usage(self) -> str:
        self._run_deferred()
        return super().format_usage()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tears-bench",
        description="Controllability evaluation and benchmarking for TEARS (scrutable text user profiles).",
    )
    parser.add_argument("--version", action="version", version=f"tears-bench {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
    # One module per command; a module named _x holds helpers of a command, not a command.
    for module in sorted(m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_")):
        importlib.import_module(f"tears_bench.commands.{module}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    prefer_passive_wait()  # before any command loads torch
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return _run(args)
    except TearsBenchError as error:
        if args.debug:
            raise
        print(f"tears-bench: error: {_rank_prefix()}{_scrub(str(error), args)}", file=sys.stderr)
        return 2
    except OSError as error:
        # A full disk or a read-only folder met by a writer outside tears_bench.storage (figures,
        # copies): one sentence, as for any environment problem; everything finished is cached.
        from tears_bench.storage import WRITE_ERRNOS

        if args.debug or error.errno not in WRITE_ERRNOS:
            raise
        where = f"{error.filename}: " if error.filename else ""
        print(f"tears-bench: error: cannot write {where}{error.strerror}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tears-bench: {_rank_prefix()}interrupted; finished work is cached, rerun to resume", file=sys.stderr)
        return 130


# Commands that run as several processes under torchrun (tears_bench.distributed); the others refuse.
DISTRIBUTED_COMMANDS = ("train", "run")


def _run(args) -> int:
    """The command, inside the torchrun process group when torchrun started this process."""
    from tears_bench import distributed

    if not distributed.launched():
        return int(args.func(args) or 0)
    if args.command not in DISTRIBUTED_COMMANDS:
        raise TearsBenchError(f"tears-bench {args.command} runs as one process; under torchrun only "
                              f"{' and '.join(DISTRIBUTED_COMMANDS)} do (start it without torchrun)")
    with distributed.session(getattr(args, "device", "auto")):
        return int(args.func(args) or 0)


def _rank_prefix() -> str:
    """'rank N: ' in a process torchrun started (each prints its own error), else nothing."""
    import os

    from tears_bench import distributed

    return f"rank {os.environ.get('RANK', '?')}: " if distributed.launched() else ""


def _scrub(message: str, args) -> str:
    """Last line of defence: no credential of --llm-base-url in a printed error."""
    url = getattr(args, "llm_base_url", None)
    if not url:
        return message
    from tears_bench.llm.base import redact_text

    return redact_text(message, url)


if __name__ == "__main__":
    sys.exit(main())

"""The command line answers `--help` without importing anything heavy, and a command's deferred
options (the model plugins' of `train`) still appear in its own help and parse."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tears_bench import cli

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "pandas", "matplotlib", "numpy", "scipy")


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_building_the_parser_imports_nothing_heavy():
    out = _python("import tears_bench.cli, sys; tears_bench.cli.build_parser(); "
                  f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules) or 'none')")
    assert out == "none"
    assert _python("import tears_bench.cli, sys; tears_bench.cli.build_parser(); "
                   "print('torch' in sys.modules)") == "False"


def test_help_lists_every_command():
    script = Path(sys.executable).parent / "tears-bench"  # the installed entry point, when there is one
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "tears_bench"]
    done = subprocess.run(command + ["--help"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == ""
    for command in ("compare", "data", "ls", "report", "run", "summarize", "train"):
        assert f"    {command}" in done.stdout


def test_train_help_shows_the_deferred_model_options(capsys):
    try:
        cli.main(["train", "--help"])
    except SystemExit as done:
        assert done.code == 0
    out = capsys.readouterr().out
    assert "--model NAME" in out and "tears-multvae" in out  # the registry, loaded on demand
    assert "--summaries SUMMARIES" in out and "--encoder-mode {frozen,lora}" in out  # the TEARS plugin's


def test_deferred_options_parse():
    args = cli.build_parser().parse_args(["train", "--model", "ease", "--encoder", "hf:x", "--dataset", "ml-1m"])
    assert (args.model, args.encoder, args.dataset, args.command) == ("ease", "hf:x", "ml-1m", "train")


def test_defer_runs_once_before_parsing():
    calls = []
    parser = cli.CommandParser(prog="x")
    parser.defer(lambda p: calls.append(p.add_argument("--late", type=int)))
    assert calls == []
    assert parser.parse_args(["--late", "3"]).late == 3
    assert parser.parse_args([]).late is None and len(calls) == 1

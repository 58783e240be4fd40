"""`tears-bench run`: every task end to end on a small synthetic dataset, results schema, resume."""
from __future__ import annotations

import json

import pytest

from tears_bench.cli import main

DATASET = "synthetic:users=200,items=300,seed=4"


def run_args(tiny, out, tasks="flip,rank,guided,uniqueness", *extra):
    return ["run", "--task", tasks, "--dataset", DATASET, "--encoder", tiny, "--epochs", "2",
            "--alphas", "0:1:0.5", "--output", str(out), *extra]


def test_run_writes_the_documented_results(tiny, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(run_args(tiny, out)) == 0
    printed = capsys.readouterr().out
    assert "flip: interest flip" in printed and "guided 'more'" in printed and "uniqueness" in printed
    document = json.loads((out / "results.json").read_text())
    assert set(document) >= {"config", "manifest", "tasks", "models"}
    manifest = document["manifest"]
    assert manifest["packages"]["torch"] and manifest["dataset"]["split_hash"]
    assert manifest["editor"] == "offline" and "template" in manifest["summarizer"]
    assert manifest["seeds"] == {"run": 0, "split": 42}
    tasks = document["tasks"]
    assert set(tasks) == {"flip", "rank", "guided", "uniqueness"}
    flip = tasks["flip"]["tears-multvae"]
    assert list(flip) == ["0.0", "0.5", "1.0"]
    assert set(flip["1.0"]) >= {"delta_up", "delta_down", "delta_up_ci", "delta_down_ci", "flip_ratio", "n_users"}
    assert set(tasks["flip"]["references"]) == {"random", "oracle"}
    # At alpha 0 the CF latent alone ranks: the summary edit cannot move anything.
    assert flip["0.0"]["delta_up"] == 0 and flip["0.0"]["delta_down"] == 0
    rank = tasks["rank"]["tears-multvae"]
    assert set(rank["1.0"]) >= {"rank_change", "help_ratio", "n_users"}
    guided = tasks["guided"]["tears-multvae"]
    assert "mean" in guided["more"] and "mean" in guided["less"]
    assert tasks["uniqueness"]["between_users"]["pairs"] == 2000
    assert tasks["uniqueness"]["sources"] == ["template"] and tasks["uniqueness"]["within_user"] is None
    for task in ("flip", "rank", "guided", "uniqueness"):
        assert (out / "figures" / f"{task}.png").stat().st_size > 10_000
        assert (out / "tables" / f"{task}.csv").read_text().count("\n") >= 2
        assert (out / "tables" / f"{task}.md").read_text().startswith("**")
    rows = [json.loads(line) for line in (out / "rows" / "flip.jsonl").read_text().splitlines()]
    kept = [r for r in rows if "skipped" not in r]
    assert kept and all(r["original"] != r["edited"] for r in kept)
    assert set(kept[0]["scores"]["tears-multvae"]) == {"0.0", "0.5", "1.0"}


def test_rerun_resumes_finished_tasks(tiny, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert main(run_args(tiny, out, "flip")) == 0
    first = json.loads((out / "results.json").read_text())["tasks"]["flip"]
    import tears_bench.tasks.flip
    monkeypatch.setattr(tears_bench.tasks.flip, "run_flip", lambda *a, **k: pytest.fail("flip should come from the run folder"))
    capsys.readouterr()
    assert main(run_args(tiny, out, "flip")) == 0
    assert "already done" in capsys.readouterr().out
    assert json.loads((out / "results.json").read_text())["tasks"]["flip"] == first


@pytest.mark.parametrize("args, message", [
    (["--task", "swap"], "unknown task"),
    (["--task", "flip", "--models", "tears-foo"], "unknown model"),
    (["--task", "flip", "--alphas", "0,1.5"], "alphas must lie in"),
    (["--task", "flip", "--alphas", "a:b"], "expected start:stop:step"),
    (["--task", "flip", "--editor", "nobody"], "unknown editor"),
])
def test_bad_run_arguments_are_one_line_errors(args, message, capsys):
    assert main(["run", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err

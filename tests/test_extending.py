"""docs/extending.md: its worked examples (a summarizer, a task) run exactly as written."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tears_bench.models.tears_trainer import DEFAULTS
from tests.tiny_encoders import build_tiny_encoders

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"
DATASET = "synthetic:users=200,items=300,seed=4"


def example(name: str) -> str:
    """The Python block after `<!-- worked example: NAME -->` in the guide."""
    found = re.search(rf"<!-- worked example: {re.escape(name)} -->\s*```python\n(.*?)```", DOC.read_text(), re.S)
    assert found, f"docs/extending.md has no worked example {name!r}"
    return found.group(1)


@pytest.fixture
def module_folder(tmp_path, monkeypatch):
    """A folder on sys.path for the examples' modules, removed from sys.modules afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("my_summarizer", "my_coverage"):
        sys.modules.pop(name, None)


def test_the_summarizer_example_writes_a_summary_file_source(module_folder, tmp_path):
    from tears_bench.data import get_split
    from tears_bench.summaries.registry import get_summaries

    (module_folder / "my_summarizer.py").write_text(example("summarizer"))
    import my_summarizer

    path = tmp_path / "genres.json"
    assert my_summarizer.write_summaries(DATASET, str(path)) == 200
    split = get_split(DATASET)
    imported = get_summaries(split, f"file:{path}")
    assert len(imported) == 200 and imported.report["import"]["matched"] == 200
    # The summary names the genres the user liked most in the summary set.
    user = int(split.test_users[0])
    liked = [g for item, rating in split.summary_set(user) if rating > 3 for g in split.catalog.genres[item]]
    top = max(set(liked), key=lambda g: (liked.count(g), -liked.index(g)))
    assert imported[user].startswith("Summary: The user enjoys ") and top in imported[user].split(".")[0]


def test_the_task_example_runs_in_the_harness_and_the_report(module_folder, tmp_path, monkeypatch, capsys):
    import tears_bench.tasks.registry
    import tears_bench.report.views
    from tears_bench.cli import main
    from tears_bench.harness import RunConfig, prepare, run_benchmark

    # The registration mutates registries: give it copies that the test's end throws away.
    monkeypatch.setattr(tears_bench.tasks.registry, "TASKS", dict(tears_bench.tasks.registry.TASKS))
    monkeypatch.setattr(tears_bench.report.views, "VIEWS", dict(tears_bench.report.views.VIEWS))
    monkeypatch.setitem(DEFAULTS, "cf_config", {"epochs": 3})  # a fast CF backbone
    (module_folder / "my_coverage.py").write_text(example("task"))
    exec(compile(example("task registration"), str(DOC), "exec"), {})
    assert main(["ls"]) == 0 and "catalogue coverage@20" in capsys.readouterr().out

    encoder = build_tiny_encoders(tmp_path / "tiny")["bert"]
    config = RunConfig(tasks=["coverage"], dataset=DATASET, encoder=encoder, epochs=2, alphas=[0.0, 0.5, 1.0],
                       output=str(tmp_path / "run"))
    folder = run_benchmark(config)
    assert "coverage@20: share of the catalogue" in capsys.readouterr().out
    result = json.loads((folder / "results.json").read_text())["tasks"]["coverage"]
    assert list(result["tears-multvae"]) == ["0.0", "0.5", "1.0"]

    # The same numbers computed by hand from the trained model's scores.
    split, sources, models = prepare(config)
    model = models["tears-multvae"].recommender
    users = [int(u) for u in split.test_users]
    texts = [sources["template"][u] for u in users]
    scores = model.recommend(texts, split.test_input, [0.0, 0.5, 1.0])
    for i, alpha in enumerate(("0.0", "0.5", "1.0")):
        top = torch.topk(scores[i], 20, dim=-1).indices.numpy()
        assert result["tears-multvae"][alpha]["coverage"] == pytest.approx(len(np.unique(top)) / split.n_items)
        assert 20 / split.n_items <= result["tears-multvae"][alpha]["coverage"] <= 1
        assert result["tears-multvae"][alpha]["n_users"] == len(users)

    out = tmp_path / "report"
    assert main(["report", str(folder), "--output", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "## Other tasks" in report and "coverage@20: share of the catalogue" in report
    assert f"{result['tears-multvae']['1.0']['coverage']:.4f}" in (out / "tables" / "coverage.md").read_text()

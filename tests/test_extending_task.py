"""A task added through the registries alone (TASKS and register_view, no file of the package
touched) shows up in `run` (results.json, the printed table), the run folder's tables and figure,
and `tears-bench report`'s report.md; a task registered without a view gets the generic table."""
from __future__ import annotations

import csv
import io
import json
import math

import pytest

DATASET = "synthetic:users=200,items=300,seed=4"
TITLE = "words: summary words kept at each alpha"


def run_words(models, split, summaries, editor=None, alphas=None, seed=0, limit=None):
    """A toy task that needs no model: the mean number of the first ceil(alpha x length) words of
    each summary it is given (the run passes a task without models every user's summary)."""
    counts = [len(text.split()) for text in summaries.values()]
    by_alpha = {f"{a:.1f}": {"words": sum(math.ceil(a * c) for c in counts) / len(counts), "n_users": len(counts)}
                for a in alphas}
    return {"template": by_alpha, "meta": {"n_summaries": len(counts)}}, []


def words_tables(result):
    from tears_bench.report import Table
    from tears_bench.report.table import model_names, thin_cells

    rows = [[m, a, v["words"], v["n_users"]] for m in model_names(result) for a, v in result[m].items()]
    return [Table(TITLE, ["source", "alpha", "words", "n_users"], rows, thin=thin_cells(rows, 3, [2]))]


def words_figure(runs):
    from tears_bench.report.figures import ALPHA_LABEL, new_figure, series, series_label, series_n

    members = [run for run in runs if run.task("words")]
    if not members:
        return None
    fig = new_figure(6, 4)
    ax = fig.subplots()
    for run in members:
        xs, ys, _ = series(run.task("words")["template"], "words")
        ax.plot(xs, ys, marker="o", label=series_label(run.tag, series_n(run.task("words")["template"])))
    ax.set_xlabel(ALPHA_LABEL)
    ax.legend()
    return fig


@pytest.fixture
def registered(monkeypatch):
    """'words' with a view, 'plain' (the same function) without one; the registries are copies that
    the test's end throws away."""
    import tears_bench.report.views
    import tears_bench.tasks.registry
    from tears_bench.report import register_view
    from tears_bench.tasks.registry import TaskInfo

    monkeypatch.setattr(tears_bench.tasks.registry, "TASKS", dict(tears_bench.tasks.registry.TASKS))
    monkeypatch.setattr(tears_bench.report.views, "VIEWS", dict(tears_bench.report.views.VIEWS))
    for name in ("words", "plain"):
        tears_bench.tasks.registry.TASKS[name] = TaskInfo(name, __name__, "run_words", "toy: summary words kept",
                                                         needs_models=False)
    register_view("words", tables=words_tables, figure=words_figure)


def test_a_task_added_through_the_registry_is_in_the_run_the_tables_and_the_report(registered, tmp_path, capsys):
    from tears_bench.cli import main
    from tears_bench.data import get_split
    from tears_bench.report.table import cell
    from tears_bench.summaries.registry import get_summaries

    out = tmp_path / "run"
    assert main(["run", "--task", "words,plain", "--dataset", DATASET, "--alphas", "0.5,1",
                 "--output", str(out)]) == 0
    printed = capsys.readouterr().out

    # results.json: the numbers, computed by hand from the template summaries.
    split = get_split(DATASET)
    summaries = get_summaries(split, "template")
    counts = [len(text.split()) for text in summaries.values()]
    expected = {a: sum(math.ceil(float(a) * c) for c in counts) / len(counts) for a in ("0.5", "1.0")}
    tasks = json.loads((out / "results.json").read_text())["tasks"]
    assert tasks["words"]["template"] == {a: {"words": pytest.approx(w), "n_users": len(counts)}
                                          for a, w in expected.items()}
    assert tasks["plain"] == tasks["words"]
    assert expected["0.5"] < expected["1.0"] == sum(counts) / len(counts)

    # The printed tables: the view's, and the generic one for the task without a view.
    assert TITLE in printed and cell(expected['1.0']) in printed
    assert "plain\nmodel     alpha  words" in printed

    # The run folder: tables (Markdown shows the value as every table does, CSV the full number) and the figure.
    markdown = (out / "tables" / "words.md").read_text()
    assert f"| template | 1.0 | {cell(expected['1.0'])}" in markdown
    rows = list(csv.reader(io.StringIO((out / "tables" / "words.csv").read_text())))
    assert rows[0] == ["source", "alpha", "words", "n_users"]
    assert [float(r[2]) for r in rows[1:]] == [pytest.approx(expected["0.5"]), pytest.approx(expected["1.0"])]
    assert (out / "figures" / "words.png").stat().st_size > 5_000
    assert not (out / "figures" / "plain.png").exists()  # no view, no figure
    assert "| template | 0.5 |" in (out / "tables" / "plain.md").read_text()

    # The report: both tasks under "Other tasks", the view's figure with them.
    report_dir = tmp_path / "report"
    assert main(["report", str(out), "--output", str(report_dir)]) == 0
    report = (report_dir / "report.md").read_text()
    other = report.split("## Other tasks", 1)[1].split("\n## ", 1)[0]
    assert TITLE in other and cell(expected['1.0']) in other and "**plain**" in other
    assert "](figures/words.png)" in other
    assert (report_dir / "figures" / "words.pdf").read_bytes().startswith(b"%PDF")
    assert cell(expected['0.5']) in (report_dir / "tables" / "words.md").read_text()

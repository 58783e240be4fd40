"""`tears-bench report`: tables hold the runs' numbers, best values are marked, figures have the
expected axes and series, several runs line up, bad folders are one-line errors."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tears_bench.cli import main
from tears_bench.report import load_runs, write_report
from tears_bench.report.accuracy import accuracy_table, controllability_table, tradeoff_figure
from tears_bench.report.flip import flip_figure
from tears_bench.report.guided import guided_figure
from tears_bench.report.rank import rank_figure
from tears_bench.report.table import Table as ReportTable
from tears_bench.report.uniqueness import uniqueness_report_tables as uniqueness_tables
from tests.tiny_encoders import fast_tears_setup

DATASET = "synthetic:users=200,items=300,seed=4"
ALPHAS = [round(a / 10, 1) for a in range(11)]
GENRES = ["drama", "comedy", "action"]


# --- a real (small) run of the harness -----------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory) -> Path:
    """One harness run on the synthetic dataset, tiny encoder, 2 epochs, every task."""
    from tears_bench.harness import RunConfig, run_benchmark

    root = tmp_path_factory.mktemp("report-run")
    with fast_tears_setup(root) as encoder:
        return run_benchmark(RunConfig(tasks=["flip", "rank", "guided", "uniqueness"], dataset=DATASET,
                                       encoder=encoder, epochs=2, alphas=[0.0, 0.5, 1.0], pairs=300,
                                       output=str(root / "run")))


def markdown_rows(text: str) -> dict[str, list[str]]:
    """First cell -> the other cells of every body row of the Markdown tables in `text`."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows.setdefault(cells[0], cells[1:])
    return rows


def plain(cell: str) -> str:
    return cell.replace("**", "").replace("\u2020", "")  # bold, and the dagger of a thin cell


def test_report_of_a_synthetic_run_holds_its_numbers(synthetic_run, tmp_path):
    out = tmp_path / "report"
    written = write_report([synthetic_run], output=out)
    document = json.loads((synthetic_run / "results.json").read_text())
    model = document["models"]["tears-multvae"]

    report = (out / "report.md").read_text()
    for figure in ("flip", "rank", "tradeoff", "guided"):
        assert (out / "figures" / f"{figure}.png").stat().st_size > 10_000
        assert (out / "figures" / f"{figure}.pdf").read_bytes().startswith(b"%PDF")
        assert f"](figures/{figure}.png)" in report
    for table in ("runs", "accuracy", "controllability", "flip_references", "guided_more", "guided_less",
                  "uniqueness"):
        for fmt in ("md", "tex", "csv"):
            assert (out / "tables" / f"{table}.{fmt}").is_file(), (table, fmt)
    assert "Not in this report" not in report  # every task is there
    assert "weight of the text latent" in report

    accuracy = markdown_rows((out / "tables" / "accuracy.md").read_text())
    best = accuracy["tears-multvae (best alpha)"]
    assert plain(best[0]) == f"{model['best_alpha']:.1f}"
    assert plain(best[2]) == f"{model['test']['ndcg@20']:.4f}"  # columns: alpha, NDCG@10, NDCG@20, ...
    assert plain(best[4]) == f"{model['test']['recall@20']:.4f}"
    text_only = accuracy["tears-multvae (alpha 1, text only)"]
    assert plain(text_only[2]) == f"{model['by_alpha']['1.0']['test']['ndcg@20']:.4f}"
    assert plain(accuracy["multvae (CF only)"][2]) == f"{model['baseline']['test']['ndcg@20']:.4f}"
    # CSV keeps full precision.
    assert repr(model["test"]["ndcg@20"]) in (out / "tables" / "accuracy.csv").read_text()

    flip = document["tasks"]["flip"]["tears-multvae"]["1.0"]
    rank = document["tasks"]["rank"]["tears-multvae"]["1.0"]
    control = [r for r in (out / "tables" / "controllability.md").read_text().splitlines()
               if r.startswith("| tears-multvae | 1.0 |")]
    cells = [plain(c.strip()) for c in control[0].strip("|").split("|")]
    assert cells[2].startswith("text only")
    assert cells[3:10] == [f"{flip['delta_up']:.4f}", f"{flip['delta_down']:.4f}", f"{flip['flip_ratio']:.4f}",
                           str(flip["n_users"]), f"{rank['rank_change']:.4f}", f"{rank['help_ratio']:.4f}",
                           str(rank["n_users"])]

    latex = (out / "tables" / "accuracy.tex").read_text()
    assert "\\toprule" in latex and "\\midrule" in latex and "\\bottomrule" in latex
    assert "\\multicolumn{7}{c}{synthetic / template / offline}" in latex  # alpha, 5 metrics, users
    assert latex.count("\\textbf{") == len(accuracy_table(load_runs([synthetic_run])).best_cells())
    assert (out / "tables.tex").read_text().count("\\begin{table}") == sum(len(v) for v in written["sections"].values())


def test_figures_have_the_expected_axes_and_series(synthetic_run):
    runs = load_runs([synthetic_run])
    document = runs[0].document
    flip = document["tasks"]["flip"]

    fig = flip_figure(runs)
    up, down = fig.axes[:2]
    for ax in (up, down):
        assert "weight of the text latent" in ax.get_xlabel() and "0 = CF only, 1 = text only" in ax.get_xlabel()
        assert [l.get_label() for l in ax.lines if not l.get_label().startswith("_")] == ["tears-multvae"]
        references = sorted(l.get_label() for l in ax.lines if "[" in l.get_label())
        assert references == ["_tears-multvae [oracle]", "_tears-multvae [random]"]
        assert len(ax.collections) == 1  # the 95% CI band
    assert "Δ-up" in up.get_ylabel() and "Δ-down" in down.get_ylabel()
    line = next(l for l in up.lines if l.get_label() == "tears-multvae")
    assert list(line.get_xdata()) == [0.0, 0.5, 1.0]
    assert list(line.get_ydata()) == [flip["tears-multvae"][a]["delta_up"] for a in ("0.0", "0.5", "1.0")]
    legend = [t.get_text() for t in down.get_legend().get_texts()]
    assert legend == ["tears-multvae (edited, 95% CI band)", "random reference", "oracle reference"]

    fig = tradeoff_figure(runs)
    ax = fig.axes[0]
    assert "NDCG@20" in ax.get_ylabel() and "Δ-up" in ax.get_xlabel()
    assert "weight of the text latent" in fig.axes[-1].get_ylabel()  # the alpha colour bar
    curve = next(l for l in ax.lines if l.get_label() == "tears-multvae (n=20\u2020)")  # 20 test users: thin
    by_alpha = document["models"]["tears-multvae"]["by_alpha"]
    assert list(curve.get_xdata()) == [flip["tears-multvae"][a]["delta_up"] for a in ("0.0", "0.5", "1.0")]
    assert list(curve.get_ydata()) == [by_alpha[a]["test"]["ndcg@20"] for a in ("0.0", "0.5", "1.0")]
    assert {t.get_text().split(" ")[0] for t in ax.texts} >= {"α=0.0", "α=1.0"}

    fig = rank_figure(runs)
    assert "rank change" in fig.axes[0].get_ylabel() and "weight of the text latent" in fig.axes[0].get_xlabel()
    rank_n = document["tasks"]["rank"]["tears-multvae"]["1.0"]["n_users"]
    assert [l.get_label() for l in fig.axes[0].lines if not l.get_label().startswith("_")] == [
        f"tears-multvae (n={rank_n}\u2020)"]

    fig = guided_figure(runs)
    genres = document["tasks"]["guided"]["meta"]["genres"]
    for ax, direction in zip(fig.axes[:2], ("more", "less")):
        heights = [round(p.get_height(), 6) for p in ax.patches]
        assert heights == [round(document["tasks"]["guided"]["tears-multvae"][direction][g], 6) for g in genres]
        assert [t.get_text() for t in ax.get_xticklabels()] == genres


# --- hand-made results: best marking, several runs, missing tasks --------------------------------


def metrics(x: float, **override) -> dict:
    values = {"ndcg@10": x - 0.01, "ndcg@20": x, "ndcg@50": x + 0.05, "ndcg@100": x + 0.1, "recall@20": x + 0.02,
              "recall@50": x + 0.1, "n_users": 100}
    return {**values, **override}


def model(best_alpha: float, best: float, text: float, baseline_name: str, baseline: dict) -> dict:
    by_alpha = {f"{a:.1f}": {"val": metrics(best), "test": metrics(best - 0.1 * abs(a - best))} for a in ALPHAS}
    by_alpha[f"{best_alpha:.1f}"]["test"] = metrics(best)
    by_alpha["1.0"]["test"] = metrics(text)
    return {"best_alpha": best_alpha, "val": metrics(best), "test": metrics(best), "by_alpha": by_alpha,
            "baseline": {"model": baseline_name, "val": baseline, "test": baseline},
            "users_without_summary": {"train": 0, "val": 0, "test": 0}}


def flip_result(slopes: dict[str, float]) -> dict:
    def sweep(slope):
        return {f"{a:.1f}": {"delta_up": round(slope * a, 6), "delta_down": round(slope * a / 2, 6),
                             "delta_up_ci": [round(slope * a - 0.05, 6), round(slope * a + 0.05, 6)],
                             "delta_down_ci": [round(slope * a / 2 - 0.05, 6), round(slope * a / 2 + 0.05, 6)],
                             "flip_ratio": round(0.5 + slope * a / 2, 6), "n_users": 100} for a in ALPHAS}
    result = {m: sweep(s) for m, s in slopes.items()}
    result["references"] = {"random": {m: sweep(0.01) for m in slopes}, "oracle": {m: sweep(0.9) for m in slopes}}
    result["meta"] = {"k": 20, "alphas": [f"{a:.1f}" for a in ALPHAS], "skipped": {}}
    return result


def hand_made(folder: Path, dataset: str, summarizer: str, models: dict, tasks: dict, editor="offline") -> Path:
    document = {
        "config": {"dataset": dataset, "summaries": [summarizer], "editor": editor, "encoder": "minilm",
                   "models": list(models), "tasks": list(tasks)},
        "manifest": {"dataset": {"name": dataset, "split_hash": f"hash-{dataset}"}, "editor": editor,
                     "summarizer": {summarizer: {"summarizer": summarizer}}, "models": {}},
        "models": models, "tasks": tasks}
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(document))
    return folder


@pytest.fixture
def two_runs(tmp_path) -> list[Path]:
    first = hand_made(tmp_path / "a", "ml-1m", "template", {
        "tears-multvae": model(0.3, 0.30, 0.25, "multvae", metrics(0.31, **{"recall@50": 0.90})),
        "tears-recvae": model(0.5, 0.33, 0.20, "recvae", metrics(0.29)),
    }, {
        "flip": flip_result({"tears-multvae": 0.2, "tears-recvae": 0.4}),
        "rank": {"tears-multvae": {a: {"rank_change": 10.0, "rank_change_ci": [5.0, 15.0], "help_ratio": 0.6,
                                       "n_users": 50} for a in ("0.3", "1.0")},
                 "tears-recvae": {a: {"rank_change": 20.0, "rank_change_ci": [15.0, 25.0], "help_ratio": 0.7,
                                      "n_users": 50} for a in ("0.5", "1.0")}, "meta": {}},
        "guided": {"tears-multvae": {"more": {"drama": 0.1, "comedy": 0.3, "action": -0.1, "mean": 0.1},
                                     "less": {"drama": 0.05, "comedy": 0.0, "action": 0.02, "mean": 0.0233}},
                   "tears-recvae": {"more": {"drama": 0.2, "comedy": 0.1, "action": 0.0, "mean": 0.1},
                                    "less": {"drama": 0.01, "comedy": 0.04, "action": 0.02, "mean": 0.0233}},
                   "meta": {"genres": GENRES}},
        "uniqueness": {"sources": ["summaries", "template"],
                       "length": {"summaries": {"n": 100, "mean": 120.0}, "template": {"n": 100, "mean": 120.0}},
                       "between_users": {"source": "summaries", "pairs": 500, "bleu_mean": 0.2,
                                         "levenshtein_mean": 80.0, "levenshtein_normalised_mean": 0.6},
                       "within_user": {"by_source_pair": {"summaries|template": {"pairs": 100, "bleu_mean": 1.0,
                                                                                "levenshtein_mean": 0.0,
                                                                                "levenshtein_normalised_mean": 0.0}}}},
    })
    second = hand_made(tmp_path / "b", "ml-1m", "file:gpt4.json", {
        "tears-multvae": model(0.3, 0.32, 0.28, "multvae", metrics(0.31, **{"recall@50": 0.90})),
    }, {
        "flip": flip_result({"tears-multvae": 0.3}),
        "uniqueness": {"sources": ["summaries", "file:gpt4.json"],
                       "length": {"summaries": {"n": 100, "mean": 170.0}, "file:gpt4.json": {"n": 100, "mean": 170.0}},
                       "between_users": {"source": "summaries", "pairs": 500, "bleu_mean": 0.1,
                                         "levenshtein_mean": 120.0, "levenshtein_normalised_mean": 0.7}},
    }, editor="openai:gpt-4o")
    return [first, second]


def bold_cells(table: ReportTable) -> set[tuple[str, str]]:
    return {(str(table.rows[r][0]), table.columns[c]) for r, c in table.best_cells()}


def test_best_per_column_is_marked_on_hand_made_results(two_runs):
    table = accuracy_table(load_runs(two_runs[:1]))
    assert bold_cells(table) == {("tears-recvae (best alpha)", c) for c in
                                 ("NDCG@10", "NDCG@20", "NDCG@50", "Recall@20")} | {("multvae (CF only)", "Recall@50")}
    markdown = markdown_rows(table.markdown())
    assert markdown["tears-recvae (best alpha)"] == ["0.5", "**0.3200**", "**0.3300**", "**0.3800**", "**0.3500**",
                                                     "0.4300", "100"]  # n users
    assert markdown["multvae (CF only)"][0] == "-" and markdown["multvae (CF only)"][5] == "**0.9000**"
    latex = table.latex()
    assert latex.count("\\textbf{") == 5 and "\\textbf{0.3300}" in latex and "\\textbf{0.9000}" in latex

    control = controllability_table(load_runs(two_runs[:1]))
    rows = {(r[0], r[1]): r for r in control.rows}
    assert set(rows) == {("tears-multvae", "0.3"), ("tears-multvae", "1.0"), ("tears-recvae", "0.5"),
                         ("tears-recvae", "1.0")}  # alpha 1 and each model's best alpha
    assert rows[("tears-multvae", "0.3")][2] == "best" and rows[("tears-recvae", "1.0")][2] == "text only"
    assert rows[("tears-recvae", "1.0")][3] == 0.4  # Delta-up = slope x alpha
    assert {(r, c) for r, c in bold_cells(control)} == {("tears-recvae", c) for c in control.columns[3:]
                                                         if not c.endswith(" n")}  # n columns never compete
    asked = controllability_table(load_runs(two_runs[:1]), alphas=[0.7])
    assert ("tears-multvae", "0.7", "asked") in {(r[0], r[1], r[2]) for r in asked.rows}

    uniqueness = uniqueness_tables(load_runs(two_runs))[0]
    # The harness's duplicate 'summaries' source is shown once, under the run's summarizer.
    assert [(r[0], r[1]) for r in uniqueness.rows] == [("R1", "template"), ("R2", "file:gpt4.json")]
    assert {(uniqueness.rows[r][0], uniqueness.columns[c]) for r, c in uniqueness.best_cells()} == {
        ("R2", "BLEU"), ("R2", "edit distance"), ("R2", "normalised distance")}  # lower BLEU is better


def test_ties_are_all_marked_and_a_constant_column_is_not():
    table = ReportTable("t", ["model", "a", "b"], [["x", 0.5, 0.1], ["y", 0.5, 0.1], ["z", 0.2, 0.1]],
                        best={1: "max", 2: "max"})
    assert table.best_cells() == {(0, 1), (1, 1)}


def test_several_runs_line_up_side_by_side(two_runs, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", *map(str, two_runs), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "R1 NDCG@20" in printed and "R2 NDCG@20" in printed
    accuracy = markdown_rows((out / "tables" / "accuracy.md").read_text())
    header = (out / "tables" / "accuracy.md").read_text().splitlines()[2]
    assert header.startswith("| model | R1 alpha | R1 NDCG@10 |") and "| R2 alpha | R2 NDCG@10 |" in header
    # Columns per run: alpha + 5 metrics; R2 has no tears-recvae.
    assert plain(accuracy["tears-multvae (best alpha)"][2]) == "0.3000"
    assert plain(accuracy["tears-multvae (best alpha)"][9]) == "0.3200"  # R1: alpha, 5 metrics, users
    assert accuracy["tears-recvae (best alpha)"][7:] == ["-"] * 7
    latex = (out / "tables" / "accuracy.tex").read_text()
    assert "\\multicolumn{7}{c}{R1: ml-1m / template / offline}" in latex
    assert "\\multicolumn{7}{c}{R2: ml-1m / file:gpt4.json / openai:gpt-4o}" in latex
    assert "\\cmidrule(lr){2-8} \\cmidrule(lr){9-15}" in latex
    report = (out / "report.md").read_text()
    assert "rank: not in R2." in report and "guided: not in R2." in report
    assert "R2: no rank task in this run." in (out / "tables" / "controllability.md").read_text()
    flip = flip_figure(load_runs(two_runs))
    assert len(flip.axes) == 4 and flip.axes[2].get_title().endswith("R2: ml-1m / file:gpt4.json / openai:gpt-4o")
    assert len(rank_figure(load_runs(two_runs)).axes) == 1  # only R1 has the rank task
    assert (out / "figures" / "rank.png").is_file() and (out / "figures" / "guided.pdf").is_file()


def test_a_run_without_some_tasks_omits_their_tables(two_runs, tmp_path):
    document = json.loads((two_runs[1] / "results.json").read_text())
    partial = copy.deepcopy(document)
    partial["tasks"] = {}
    folder = tmp_path / "models-only"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps(partial))
    written = write_report([folder], output=tmp_path / "out", formats="md,csv")
    assert set(written["sections"]) == {"Runs", "Accuracy"}
    report = (tmp_path / "out" / "report.md").read_text()
    assert "Controllability: omitted, no run has a flip or rank task." in report
    assert "Summary uniqueness: omitted" in report
    assert not list((tmp_path / "out" / "tables").glob("*.tex")) and not (tmp_path / "out" / "tables.tex").exists()
    assert written["figures"] == {}


def test_bad_run_folders_are_one_line_errors(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "results.json").write_text("{not json")
    for args, message in [([str(tmp_path / "nowhere")], f"run folder not found: {tmp_path / 'nowhere'}"),
                          ([str(empty)], f"{empty} is not a tears-bench run folder: it has no results.json"),
                          ([str(broken)], f"{broken / 'results.json'}: not readable JSON"),
                          ([str(empty), "--format", "pdf"], "--format pdf: choose among md, tex, csv")]:
        assert main(["report", *args]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_the_paper_flip_values_are_a_cited_reference_row_next_to_each_run(two_runs):
    from tears_bench.report.paper import CITATION, paper_flip_table

    table = paper_flip_table(load_runs(two_runs))
    # tears-multvae: paper row, then R1 (slope 0.2 -> Delta-up 0.2, Delta-down 0.1 at alpha 1) and R2 (slope 0.3);
    # tears-recvae: paper row and R1 only; no paper value for other models, so no rows.
    assert table.rows == [
        ["tears-multvae", "paper", "ML-1M", "LLM", 0.201, 0.193, None],
        ["tears-multvae", "R1", "ml-1m", "offline", 0.2, 0.1, 100],
        ["tears-multvae", "R2", "ml-1m", "openai:gpt-4o", 0.3, 0.15, 100],
        ["tears-recvae", "paper", "ML-1M", "LLM", 0.391, 0.346, None],
        ["tears-recvae", "R1", "ml-1m", "offline", 0.4, 0.2, 100],
    ]
    assert CITATION in table.notes[0] and "arXiv:2410.19302" in CITATION
    assert paper_flip_table(load_runs(two_runs[1:])).rows[0][:2] == ["tears-multvae", "paper"]

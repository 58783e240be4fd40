"""`tears-bench report`: the paper's tables and figures from one or more run folders.

    write_report(["results/a", "results/b"], output="report/", formats=("md", "tex", "csv"))

Runs are read from their `results.json` (tears_bench/report/run_folder.py) and lined up side by
side: a column group (or a block of rows) per run, labelled "dataset / summarizer / editor". Tables:
    runs              what each run is (tag, folder, dataset, summarizer, editor, encoder, models)
    accuracy          test NDCG@{10,20,50}, Recall@{20,50}: the CF baselines, TEARS at its best alpha
                      (chosen on validation NDCG@20) and TEARS at alpha 1 (text only)
    controllability   flip Delta-up / Delta-down / flip ratio and rank change / help ratio at alpha 1,
                      each model's best alpha and any alphas asked for
    flip_references   the random and oracle reference edits at the same alphas
    guided_more|less  guided per genre (runs with the same genre list share a table)
    uniqueness        length and between-user BLEU / word edit distance per summary source
                      (and uniqueness_within: the same between the sources of each user)
    other tasks       a task added by a user appears through its view (tears_bench/report/views.py):
                      its tables, one block per run, and its figure
Best value per column in bold (LaTeX: \\textbf), among model rows only, never a value from fewer
than MIN_CELL_USERS users (marked with a dagger and a footnote; tears_bench/report/table.py). Every
table has the users behind its values (n columns). Results on a dataset without timestamps carry its
caveat (results.json "caveats") as a note of every table and in report.md. alpha is the weight of
the TEXT latent (0 = CF only, 1 = text only) everywhere.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Sequence

from tears_bench.errors import TearsBenchError
from tears_bench.report import views
from tears_bench.report.accuracy import accuracy_table, controllability_table, runs_table, tradeoff_figure
from tears_bench.report.flip import flip_figure, flip_references_table
from tears_bench.report.guided import guided_figure, guided_report_tables
from tears_bench.report.paper import paper_flip_table
from tears_bench.report.rank import rank_figure
from tears_bench.report.runs import Run, caveat_lines, load_runs
from tears_bench.report.table import ALPHA_NOTE, MIN_CELL_USERS, THIN_MARK, Table
from tears_bench.report.uniqueness import uniqueness_report_tables
from tears_bench.storage import atomic_write_text

FORMATS = ("md", "tex", "csv")
OTHER = "Other tasks"
# Section -> (its tables, what a run needs for them); flip, rank, guided and uniqueness name theirs
# in their views (`section`), a task without a section is shown under "Other tasks".
SECTIONS = {
    "Accuracy": (lambda runs, alphas: [accuracy_table(runs)], "models (no trained model in the run)"),
    "Controllability": (lambda runs, alphas: [controllability_table(runs, alphas), flip_references_table(runs, alphas),
                                              paper_flip_table(runs)], "flip or rank task"),
    "Guided recommendation": (lambda runs, alphas: guided_report_tables(runs), "guided task"),
    "Summary uniqueness": (lambda runs, alphas: uniqueness_report_tables(runs), "uniqueness task"),
}
# Section -> the figures under it: (name, builder(runs), caption).
FIGURES = {
    "Accuracy": [("tradeoff", tradeoff_figure, "Accuracy against controllability as alpha varies")],
    "Controllability": [("flip", flip_figure, "Interest flip against alpha"),
                        ("rank", rank_figure, "Rank change against alpha")],
    "Guided recommendation": [("guided", guided_figure, "Guided recommendation per genre")],
}


def sectioned_tasks() -> list[str]:
    """Tasks a report section of their own shows (the others go under "Other tasks")."""
    return [task for task, shown in views.VIEWS.items() if shown.section in SECTIONS]


def other_tasks(runs: list[Run]) -> list[str]:
    known = sectioned_tasks()
    return list(dict.fromkeys(task for run in runs for task in run.tasks if task not in known))


def other_task_tables(runs: list[Run]) -> list[Table]:
    """Tasks added by users (docs/extending.md): the tables of their view, one block per run."""
    out = []
    for run in runs:
        for task in other_tasks([run]):
            for i, table in enumerate(views.view(task).tables(run.tasks[task])):
                title = table.title if len(runs) == 1 else f"{run.tag}: {table.title}"
                name = f"{task}{f'_{i + 1}' if i else ''}{f'_{run.tag}' if len(runs) > 1 else ''}"
                out.append(dataclasses.replace(table, title=title, name=name))
    return out


def figure_places(runs: list[Run]) -> dict[str, list[tuple]]:
    """FIGURES, with the figure of each other task that has one under "Other tasks"."""
    others = [(task, views.view(task).figure, f"The {task} task") for task in other_tasks(runs)]
    return {**FIGURES, OTHER: [entry for entry in others if entry[1] is not None]}


def report_tables(runs: list[Run], alphas: Sequence[float] = ()) -> tuple[dict[str, list[Table]], list[str]]:
    """Section -> tables, and notes on what is missing."""
    sections = {"Runs": [runs_table(runs)]}
    missing = []
    for section, (build, what) in SECTIONS.items():
        tables = [t for t in build(runs, alphas) if t is not None]
        if tables:
            sections[section] = tables
        else:
            missing.append(f"{section}: omitted, no run has a {what}.")
    others = other_task_tables(runs)
    if others:
        sections[OTHER] = others
    for task in sectioned_tasks():
        absent = [r.tag for r in runs if not r.task(task)]
        if absent and len(absent) < len(runs):
            missing.append(f"{task}: not in {', '.join(absent)}.")
    return sections, missing


def write_figures(runs: list[Run], folder: str | Path) -> dict[str, tuple[Path, Path]]:
    """Every figure the runs have data for: name -> (png, pdf)."""
    from tears_bench.report.figures import save_figure

    out = {}
    for places in figure_places(runs).values():
        for name, build, _ in places:
            fig = build(runs)
            if fig is not None:
                out[name] = save_figure(fig, folder, name)
    return out


def parse_formats(text: str | Sequence[str]) -> list[str]:
    names = [f.strip().lower() for f in (text.split(",") if isinstance(text, str) else text) if f.strip()]
    names = ["md" if f == "markdown" else "tex" if f == "latex" else f for f in names]
    bad = [f for f in names if f not in FORMATS]
    if bad or not names:
        raise TearsBenchError(f"--format {','.join(names) or repr(text)}: choose among {', '.join(FORMATS)}")
    return list(dict.fromkeys(names))


def default_output(paths: Sequence[str | Path]) -> Path:
    if len(paths) == 1:
        return Path(paths[0]) / "report"
    return Path("results") / f"report-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"


def write_report(paths: Sequence[str | Path], output: str | Path | None = None,
                 formats: Sequence[str] = FORMATS, alphas: Sequence[float] = ()) -> dict:
    """Tables (md/tex/csv) and figures (PNG and PDF) of the runs, and report.md when md is asked.

    Returns {"output", "report", "tables": {name: [files]}, "figures": {name: [png, pdf]}, "missing"}.
    """
    formats = parse_formats(formats)
    runs = load_runs(paths)
    out = Path(output) if output else default_output(paths)
    sections, missing = report_tables(runs, alphas)
    written: dict[str, list[Path]] = {}
    for tables in sections.values():
        for table in tables:
            for fmt in formats:
                path = out / "tables" / f"{table.name}.{fmt}"
                body = {"md": table.markdown, "tex": table.latex, "csv": table.csv}[fmt]()
                atomic_write_text(path, body if body.endswith("\n") else body + "\n")
                written.setdefault(table.name, []).append(path)
    if "tex" in formats:
        everything = [t.latex() for tables in sections.values() for t in tables]
        atomic_write_text(out / "tables.tex", "% needs \\usepackage{booktabs}\n" + "\n\n".join(everything) + "\n")
    figures = write_figures(runs, out / "figures")
    report = None
    if "md" in formats:
        report = out / "report.md"
        atomic_write_text(report, render_markdown(runs, sections, missing, figures, out, formats))
    return {"output": out, "report": report, "tables": written, "figures": figures, "missing": missing,
            "sections": sections}


def render_markdown(runs: list[Run], sections: dict, missing: list[str], figures: dict, out: Path,
                    formats: Sequence[str]) -> str:
    lines = ["# tears-bench report", "",
             f"{len(runs)} run(s), written {dt.datetime.now().strftime('%Y-%m-%d %H:%M')}. {ALPHA_NOTE[0].upper()}"
             f"{ALPHA_NOTE[1:]}. Best value per column in **bold**; {THIN_MARK} marks a value from fewer "
             f"than {MIN_CELL_USERS} users (never bold).", ""]
    caveats = caveat_lines(runs)
    if caveats:
        lines += ["## Caveats", ""] + [f"- {c}" for c in caveats] + [""]
    figure_note = (" " + " ".join(caveats)) if caveats else ""
    for section, tables in sections.items():
        lines += [f"## {section}", ""]
        for table in tables:
            lines += [table.markdown(), ""]
        for name, _, caption in figure_places(runs).get(section, []):
            if name in figures:
                png, pdf = figures[name]
                lines += [f"![{caption}]({png.relative_to(out).as_posix()})", "",
                          f"_{caption} ([PDF]({pdf.relative_to(out).as_posix()})); legends give n, the users "
                          f"of each series.{figure_note}_", ""]
    if missing:
        lines += ["## Not in this report", ""] + [f"- {m}" for m in missing] + [""]
    files = [f"`tables/*.{f}`" for f in formats if f != "md"]
    files += ["`tables.tex` (all tables)"] if "tex" in formats else []
    lines += ["## Files", "", f"Tables also as {', '.join(files) or 'Markdown only'}; figures as PNG and PDF in "
              "`figures/`.", ""]
    return "\n".join(lines)

"""Everything tears-bench shows: the tables and figures of a run folder and the paper-style report.

    table.py        the one table class (text, Markdown, LaTeX, CSV; thin cells, best per column)
    figures.py      the one figure style (alpha axis, n per series, captions, saving)
    views.py        task name -> its tables and figure: the one place a task registers how it is shown
    flip.py, rank.py, guided.py, uniqueness.py   the built-in tasks' tables and figures
    accuracy.py     the report's tables across tasks (runs, accuracy, controllability) and the trade-off
    paper.py        the paper's reference values
    runs.py         a run folder's results.json as the report reads it
    run_folder.py   writing a run folder (results.json, tables/, figures/)
    page.py         `tears-bench report`: report.md, tables in md/tex/csv, figures in PNG and PDF
    compare.py      the figure of `tears-bench compare`

Nothing here imports matplotlib until a figure is drawn.
"""
from __future__ import annotations

from tears_bench.report.page import write_report
from tears_bench.report.runs import Run, load_runs
from tears_bench.report.table import Table
from tears_bench.report.views import TaskView, register_view

__all__ = ["Run", "Table", "TaskView", "load_runs", "register_view", "write_report"]

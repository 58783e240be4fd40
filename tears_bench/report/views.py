"""How each task is shown, by task name: the one place a task registers its tables and figure.

    register_view("coverage", tables=coverage_tables, figure=coverage_figure)

`tables(result) -> [Table]` builds the run's tables from the task's result: `tears-bench run` prints
them and writes tables/TASK.md and .csv, and `tears-bench report` shows them under "Other tasks",
one block per run. `figure(runs) -> Figure | None` (optional) draws the task for one or more runs
(tears_bench.report.runs.Run, `run.task(name)` is the result): the run folder's figures/TASK.png,
and the report's figure under "Other tasks". `section` names the report section that already shows
a built-in task with its paper tables. A task without a view gets the generic table below.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from tears_bench.report.flip import flip_figure, flip_tables
from tears_bench.report.guided import guided_figure, guided_tables
from tears_bench.report.rank import rank_figure, rank_tables
from tears_bench.report.table import Table, model_names, thin_cells
from tears_bench.report.uniqueness import uniqueness_figure, uniqueness_tables


@dataclass(frozen=True)
class TaskView:
    tables: Callable[[dict], list[Table]]
    figure: Callable | None = None
    section: str | None = None


VIEWS: dict[str, TaskView] = {
    "flip": TaskView(flip_tables, flip_figure, "Controllability"),
    "rank": TaskView(rank_tables, rank_figure, "Controllability"),
    "guided": TaskView(guided_tables, guided_figure, "Guided recommendation"),
    "uniqueness": TaskView(uniqueness_tables, uniqueness_figure, "Summary uniqueness"),
}


def register_view(task: str, tables: Callable[[dict], list[Table]], figure: Callable | None = None,
                  section: str | None = None) -> TaskView:
    """Show task `task` with these builders from now on (replacing any view it had)."""
    VIEWS[task] = TaskView(tables, figure, section)
    return VIEWS[task]


def view(task: str) -> TaskView:
    """The task's view; a task without one is shown by the generic table."""
    return VIEWS.get(task) or TaskView(lambda result: generic_tables(task, result))


def task_tables(task: str, result: dict) -> list[Table]:
    return view(task).tables(result)


def generic_tables(task: str, result: dict) -> list[Table]:
    """A table of any task result: a row per model and alpha ({MODEL: {ALPHA: {name: value}}}),
    one column per number; a result of another shape gets a row per top-level value."""
    per_alpha = {m: result[m] for m in model_names(result)
                 if isinstance(result[m], dict) and result[m] and all(isinstance(v, dict) for v in result[m].values())}
    if not per_alpha:
        rows = [[key, value] for key, value in result.items() if key != "meta" and _plain(value)]
        return [Table(task, ["name", "value"], rows)]
    names = list(dict.fromkeys(k for by_alpha in per_alpha.values() for v in by_alpha.values()
                               for k, x in v.items() if _plain(x)))
    rows = [[model, alpha] + [v.get(k) for k in names] for model, by_alpha in per_alpha.items()
            for alpha, v in by_alpha.items()]
    thin = set()
    if "n_users" in names:  # values from too few users are marked, as in every other table
        n_column = 2 + names.index("n_users")
        thin = thin_cells(rows, n_column, [c for c in range(2, 2 + len(names)) if c != n_column])
    return [Table(task, ["model", "alpha", *names], rows, thin)]


def _plain(value) -> bool:
    """A value a table cell can show: a number, a string, or a (low, high) interval."""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return True
    return isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value)


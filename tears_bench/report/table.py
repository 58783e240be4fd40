"""The one table class: printed text, Markdown, LaTeX (booktabs) and CSV from one description.

Every table shows n, the users behind each value. A value from fewer than MIN_CELL_USERS users is
"thin": shown with THIN_MARK and a footnote in text, Markdown and LaTeX, and never marked best (a
mean of a handful of users, its bootstrap interval included, says little). CSV keeps plain numbers
and the n columns, so that a reader can filter on n.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Sequence

MIN_CELL_USERS = 30
THIN_MARK = "\u2020"  # dagger
THIN_NOTE = f"{THIN_MARK} fewer than {MIN_CELL_USERS} users: too few to compare, never marked best."
ALPHA_NOTE = "alpha = weight of the text latent (0 = CF only, 1 = text only)"
RESERVED = ("meta", "references")  # result keys that are not models


def is_thin(n) -> bool:
    """Whether a value computed over `n` users is too thin to compare (unknown n is not)."""
    return isinstance(n, (int, float)) and not isinstance(n, bool) and n < MIN_CELL_USERS


def source_label(spec: str) -> str:
    """A summary source as tables show it: `file:NAME.json`, not the absolute path."""
    spec = str(spec)
    return f"file:{PurePath(spec[5:]).name}" if spec.startswith("file:") else spec


def model_names(result: dict | None) -> list[str]:
    """The models of a task result (every key but "meta" and "references")."""
    return [k for k in (result or {}) if k not in RESERVED]


@dataclass
class Table:
    """A table, with what paper tables need: column groups (one per run), the best value per column
    marked, notes, thin cells, and a booktabs LaTeX rendering.

    The first `lead` columns are labels (left-aligned). `groups` are (label, span) over the columns
    after them; `latex_columns` are the short headers under the groups (default: `columns`). `best`
    maps a column index to "max" or "min"; only rows in `best_rows` (default all) compete, and only
    when at least two do. `name` is the file name of the table in a report.
    """

    title: str
    columns: list[str]
    rows: list[list]
    thin: set = field(default_factory=set)  # (row, column) of values from too few users
    notes: list[str] = field(default_factory=list)
    name: str = "table"
    lead: int = 1
    groups: list[tuple[str, int]] = field(default_factory=list)
    latex_columns: list[str] | None = None
    best: dict[int, str] = field(default_factory=dict)
    best_rows: list[int] | None = None

    def shown(self, r: int, c: int, value) -> str:
        text = cell(value)
        return text + THIN_MARK if (r, c) in self.thin and value is not None else text

    def all_notes(self) -> list[str]:
        thin = any(self.rows[r][c] is not None for r, c in self.thin)
        return list(self.notes) + ([THIN_NOTE] if thin and THIN_NOTE not in self.notes else [])

    def best_cells(self) -> set[tuple[int, int]]:
        """(row, column) of the best value of every marked column (ties all marked)."""
        rows = range(len(self.rows)) if self.best_rows is None else self.best_rows
        cells = set()
        for column, direction in self.best.items():
            values = {r: shown_number(self.rows[r][column]) for r in rows if (r, column) not in self.thin}
            values = {r: v for r, v in values.items() if v is not None}
            if len(values) < 2 or len(set(values.values())) == 1:  # nothing to single out
                continue
            target = max(values.values()) if direction == "max" else min(values.values())
            cells |= {(r, column) for r, v in values.items() if v == target}
        return cells

    def _marked(self, bold) -> list[list[str]]:
        best = self.best_cells()
        return [[bold(self.shown(r, c, v)) if (r, c) in best else self.shown(r, c, v) for c, v in enumerate(row)]
                for r, row in enumerate(self.rows)]

    def text(self) -> str:
        cells = [self.columns] + [[self.shown(r, c, v) for c, v in enumerate(row)] for r, row in enumerate(self.rows)]
        widths = [max(len(r[i]) for r in cells) for i in range(len(self.columns))]
        lines = [self.title, "  ".join(c.ljust(w) for c, w in zip(cells[0], widths)),
                 "  ".join("-" * w for w in widths)]
        lines += ["  ".join(c.ljust(w) if i < self.lead else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                  for r in cells[1:]]
        return "\n".join(lines + [f"  {note}" for note in self.all_notes()])

    def markdown(self) -> str:
        lines = [f"**{self.title}**", "", "| " + " | ".join(self.columns) + " |",
                 "|" + "|".join(["---"] * self.lead + ["---:"] * (len(self.columns) - self.lead)) + "|"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |"
                  for row in self._marked(lambda s: f"**{s}**")]
        notes = self.all_notes()
        lines += [""] + [f"_{note}_  " for note in notes] if notes else []
        return "\n".join(lines)

    def latex(self) -> str:
        headers = self.latex_columns or self.columns
        n = len(headers)
        lines = ["\\begin{table}[t]", "\\centering", "\\small", f"\\caption{{{latex_escape(self.title)}}}",
                 f"\\label{{tab:{self.name}}}", f"\\begin{{tabular}}{{{'l' * self.lead}{'r' * (n - self.lead)}}}",
                 "\\toprule"]
        if self.groups:
            cells, rules, start = [""] * self.lead, [], self.lead + 1
            for label, span in self.groups:
                cells.append(f"\\multicolumn{{{span}}}{{c}}{{{latex_escape(label)}}}")
                rules.append(f"\\cmidrule(lr){{{start}-{start + span - 1}}}")
                start += span
            lines += [" & ".join(cells) + " \\\\", " ".join(rules)]
        lines += [" & ".join(latex_escape(h) for h in headers) + " \\\\", "\\midrule"]
        best = self.best_cells()
        for r, row in enumerate(self.rows):
            cells = []
            for c, value in enumerate(row):
                text = "--" if value is None else latex_escape(self.shown(r, c, value))
                cells.append(f"\\textbf{{{text}}}" if (r, c) in best else text)
            lines.append(" & ".join(cells) + " \\\\")
        lines += ["\\bottomrule", "\\end{tabular}"]
        if self.all_notes():
            lines.append("\\par\\smallskip{\\footnotesize " + " ".join(latex_escape(n) for n in self.all_notes()) + "}")
        lines.append("\\end{table}")
        return "\n".join(lines)

    def csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(self.columns)
        writer.writerows([["" if v is None else v for v in row] for row in self.rows])
        return buffer.getvalue()


def cell(value) -> str:
    """A value as every table shows it."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        return f"[{value[0]:.3f}, {value[1]:.3f}]"
    return str(value)


def shown_number(value) -> float | None:
    """A number as the tables show it (so that ties on screen are ties when marking)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return float(cell(float(value)))


_LATEX = {THIN_MARK: "$^\\dagger$", "\\": "\\textbackslash{}", "&": "\\&", "%": "\\%", "$": "\\$", "#": "\\#",
          "_": "\\_", "{": "\\{", "}": "\\}", "~": "\\textasciitilde{}", "^": "\\textasciicircum{}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in str(text)).replace("\u0394", "$\\Delta$").replace("\u03b1", "$\\alpha$")


def caveat_notes(result: dict) -> list[str]:
    """A task result's caveats (results.json puts the dataset's there) as table notes."""
    return [f"Caveat: {c}" for c in (result.get("meta") or {}).get("caveats") or []]


def thin_cells(rows: list[list], n_column: int, columns: range | Sequence[int]) -> set:
    """(row, column) of every value in `columns` of a row whose n (in `n_column`) is thin."""
    return {(r, c) for r, row in enumerate(rows) if is_thin(row[n_column]) for c in columns}


def thin_groups(rows: list[list], start: int, width: int, n_at: int, value_columns: Sequence[int]) -> set:
    """Thin cells of tables with a group of `width` columns per run from column `start`: in each
    group, `value_columns` (offsets) are thin when the group's n (at offset `n_at`) is."""
    cells = set()
    for r, row in enumerate(rows):
        for g in range((len(row) - start) // width):
            base = start + g * width
            if is_thin(row[base + n_at]):
                cells |= {(r, base + j) for j in value_columns}
    return cells

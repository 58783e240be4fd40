"""Turning task results into tables: printed text, Markdown and CSV, from one description.

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

MIN_CELL_USERS = 30
THIN_MARK = "\u2020"  # dagger
THIN_NOTE = f"{THIN_MARK} fewer than {MIN_CELL_USERS} users: too few to compare, never marked best."


def is_thin(n) -> bool:
    """Whether a value computed over `n` users is too thin to compare (unknown n is not)."""
    return isinstance(n, (int, float)) and not isinstance(n, bool) and n < MIN_CELL_USERS


def source_label(spec: str) -> str:
    """A summary source as tables show it: `file:NAME.json`, not the absolute path."""
    spec = str(spec)
    return f"file:{PurePath(spec[5:]).name}" if spec.startswith("file:") else spec


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list]
    thin: set = field(default_factory=set)  # (row, column) of values from too few users
    notes: list[str] = field(default_factory=list)

    def shown(self, r: int, c: int, value) -> str:
        text = _cell(value)
        return text + THIN_MARK if (r, c) in self.thin and value is not None else text

    def all_notes(self) -> list[str]:
        thin = any(self.rows[r][c] is not None for r, c in self.thin)
        return list(self.notes) + ([THIN_NOTE] if thin and THIN_NOTE not in self.notes else [])

    def text(self) -> str:
        cells = [self.columns] + [[self.shown(r, c, v) for c, v in enumerate(row)] for r, row in enumerate(self.rows)]
        widths = [max(len(r[i]) for r in cells) for i in range(len(self.columns))]
        lines = [self.title, "  ".join(c.ljust(w) for c, w in zip(cells[0], widths)),
                 "  ".join("-" * w for w in widths)]
        lines += ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
                  for r in cells[1:]]
        return "\n".join(lines + [f"  {note}" for note in self.all_notes()])

    def markdown(self) -> str:
        lines = [f"**{self.title}**", "", "| " + " | ".join(self.columns) + " |",
                 "|" + "|".join(["---"] + ["---:"] * (len(self.columns) - 1)) + "|"]
        lines += ["| " + " | ".join(self.shown(r, c, v) for c, v in enumerate(row)) + " |"
                  for r, row in enumerate(self.rows)]
        notes = self.all_notes()
        return "\n".join(lines + ([""] + [f"_{note}_  " for note in notes] if notes else []))

    def csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(self.columns)
        writer.writerows([["" if v is None else v for v in row] for row in self.rows])
        return buffer.getvalue()


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        return f"[{value[0]:.3f}, {value[1]:.3f}]"
    return str(value)


def model_names(result: dict) -> list[str]:
    return [k for k in result if k not in ("meta", "references")]


def caveat_notes(result: dict) -> list[str]:
    return [f"Caveat: {c}" for c in (result.get("meta") or {}).get("caveats") or []]


def thin_cells(rows: list[list], n_column: int, columns: range | list[int]) -> set:
    """(row, column) of every value in `columns` of a row whose n (in `n_column`) is thin."""
    return {(r, c) for r, row in enumerate(rows) if is_thin(row[n_column]) for c in columns}


def flip_tables(result: dict) -> list[Table]:
    columns = ["model", "alpha", "delta_up", "delta_up 95% CI", "delta_down", "delta_down 95% CI", "flip_ratio", "n_users"]
    rows = []

    def add(label, by_alpha):
        for alpha, v in by_alpha.items():
            rows.append([label, alpha, v["delta_up"], v["delta_up_ci"], v["delta_down"], v["delta_down_ci"],
                         v["flip_ratio"], v["n_users"]])

    for model in model_names(result):
        add(model, result[model])
    for reference, per_model in result.get("references", {}).items():
        for model, by_alpha in per_model.items():
            add(f"{model} [{reference}]", by_alpha)
    skipped = result.get("meta", {}).get("skipped", {})
    note = ", ".join(f"{n} {reason}" for reason, n in skipped.items() if n)
    title = "flip: interest flip (gNDCG@20 deltas, larger is better)" + (f"; skipped: {note}" if note else "")
    return [Table(title, columns, rows, thin_cells(rows, 7, range(2, 7)), caveat_notes(result))]


def rank_tables(result: dict) -> list[Table]:
    columns = ["model", "alpha", "rank_change", "median", "95% CI", "help_ratio", "n_users"]
    rows = [[m, a, v["rank_change"], v.get("rank_change_median"), v.get("rank_change_ci"), v["help_ratio"], v["n_users"]]
            for m in model_names(result) for a, v in result[m].items()]
    meta = result.get("meta", {})
    title = (f"rank: fine-grained rank adjustment (positive = moved up); eligible users "
             f"{meta.get('n_eligible_users', '?')} of {meta.get('n_test_users', '?')}")
    return [Table(title, columns, rows, thin_cells(rows, 6, range(2, 6)), caveat_notes(result))]


def guided_tables(result: dict) -> list[Table]:
    genres = result.get("meta", {}).get("genres", [])
    tables = []
    for direction in ("more", "less"):
        rows = [[m] + [(result[m][direction] or {}).get(g) for g in genres] + [(result[m][direction] or {}).get("mean")]
                + [result[m].get("n_users")] for m in model_names(result)]
        sign = "increase" if direction == "more" else "decrease"
        tables.append(Table(f"guided '{direction}': gNDCG@20 {sign} of the genre", ["model", *genres, "mean", "n_users"],
                            rows, thin_cells(rows, len(genres) + 2, range(1, len(genres) + 2)), caveat_notes(result)))
    return tables


def uniqueness_tables(result: dict) -> list[Table]:
    rows = []
    for source, stats in result.get("length", {}).items():
        rows.append([source_label(source), "length (words)", stats.get("mean"), stats.get("median"), stats.get("min"),
                     stats.get("max"), stats.get("n")])
    tables = [Table("uniqueness: summary length", ["source", "statistic", "mean", "median", "min", "max", "n_users"],
                    rows, thin_cells(rows, 6, range(2, 6)))]
    pair_rows = []
    between = result.get("between_users") or {}
    if between.get("pairs"):
        pair_rows.append(["between users", source_label(between["source"]), between.get("n_users"), between["pairs"],
                          between["bleu_mean"], between["levenshtein_mean"], between["levenshtein_normalised_mean"]])
    within = result.get("within_user") or {}
    for pair, stats in (within.get("by_source_pair") or {}).items():
        label = " | ".join(source_label(p) for p in pair.split("|"))
        pair_rows.append(["within user", label, stats["pairs"], stats["pairs"], stats["bleu_mean"],
                          stats["levenshtein_mean"], stats["levenshtein_normalised_mean"]])
    tables.append(Table("uniqueness: BLEU (lower = more unique) and word edit distance (higher = more unique)",
                        ["pairs of", "source", "n_users", "pairs", "BLEU", "edit distance", "normalised distance"],
                        pair_rows, thin_cells(pair_rows, 2, range(4, 7))))
    return tables


TABLES = {"flip": flip_tables, "rank": rank_tables, "guided": guided_tables, "uniqueness": uniqueness_tables}


def task_tables(task: str, result: dict) -> list[Table]:
    return TABLES[task](result) if task in TABLES else []

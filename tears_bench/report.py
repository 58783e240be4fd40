"""`tears-bench report`: the paper's tables and figures from one or more run folders.

    write_report(["results/a", "results/b"], output="report/", formats=("md", "tex", "csv"))

Runs are read from their `results.json` (tears_bench/results.py) and lined up side by side: a
column group (or a block of rows) per run, labelled "dataset / summarizer / editor". Tables:
    runs              what each run is (tag, folder, dataset, summarizer, editor, encoder, models)
    accuracy          test NDCG@{10,20,50}, Recall@{20,50}: the CF baselines, TEARS at its best alpha
                      (chosen on validation NDCG@20) and TEARS at alpha 1 (text only)
    controllability   flip Delta-up / Delta-down / flip ratio and rank change / help ratio at alpha 1,
                      each model's best alpha and any alphas asked for
    flip_references   the random and oracle reference edits at the same alphas
    guided_more|less  guided per genre (runs with the same genre list share a table)
    uniqueness        length and between-user BLEU / word edit distance per summary source
                      (and uniqueness_within: the same between the sources of each user)
    other tasks       a task added by a user appears through its tears_bench.tables builder
Best value per column in bold (LaTeX: \\textbf), among model rows only, never a value from fewer
than MIN_CELL_USERS users (marked with a dagger and a footnote; tears_bench/tables.py). Every table
has the users behind its values (n columns). Results on a dataset without timestamps carry its
caveat (results.json "caveats") as a note of every table and in report.md. alpha is the weight of
the TEXT latent (0 = CF only, 1 = text only) everywhere.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from tears_bench.errors import TearsBenchError
from tears_bench.storage import atomic_write_text
from tears_bench.tables import MIN_CELL_USERS, THIN_MARK, Table, _cell, is_thin, source_label, thin_cells

FORMATS = ("md", "tex", "csv")
ALPHA_NOTE = "alpha = weight of the text latent (0 = CF only, 1 = text only)"
ACCURACY_METRICS = (("ndcg@10", "NDCG@10"), ("ndcg@20", "NDCG@20"), ("ndcg@50", "NDCG@50"),
                    ("recall@20", "Recall@20"), ("recall@50", "Recall@50"))
RESERVED = ("meta", "references")


# ---------------------------------------------------------------------------------------------
# Tables with column groups, best-per-column marking and LaTeX


@dataclass
class ReportTable(Table):
    """A Table with what paper tables need: column groups (one per run), the best value per column
    marked, notes, and a booktabs LaTeX rendering.

    `groups` are (label, span) over the columns after the first `lead` ones; `latex_columns` are
    the short headers under the groups (default: `columns`). `best` maps a column index to "max"
    or "min"; only rows in `best_rows` (default all) compete, and only when at least two do.
    """

    name: str = "table"
    lead: int = 1
    groups: list[tuple[str, int]] = field(default_factory=list)
    latex_columns: list[str] | None = None
    best: dict[int, str] = field(default_factory=dict)
    best_rows: list[int] | None = None
    notes: list[str] = field(default_factory=list)

    def best_cells(self) -> set[tuple[int, int]]:
        """(row, column) of the best value of every marked column (ties all marked)."""
        rows = range(len(self.rows)) if self.best_rows is None else self.best_rows
        cells = set()
        for column, direction in self.best.items():
            values = {r: _shown(self.rows[r][column]) for r in rows if (r, column) not in self.thin}
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


def _thin_groups(rows: list[list], start: int, width: int, n_at: int, value_columns: Sequence[int]) -> set:
    """Thin cells of tables with a group of `width` columns per run from column `start`: in each
    group, `value_columns` (offsets) are thin when the group's n (at offset `n_at`) is."""
    cells = set()
    for r, row in enumerate(rows):
        for g in range((len(row) - start) // width):
            base = start + g * width
            if is_thin(row[base + n_at]):
                cells |= {(r, base + j) for j in value_columns}
    return cells


def _caveat_notes(runs: list[Run]) -> list[str]:
    """Each run's caveats (results.json), once per distinct text, naming the runs it concerns."""
    by_text: dict[str, list[str]] = {}
    for run in runs:
        for caveat in run.document.get("caveats") or []:
            by_text.setdefault(caveat, []).append(run.tag)
    return [f"Caveat ({', '.join(tags)}): {text}" if len(runs) > 1 else f"Caveat: {text}"
            for text, tags in by_text.items()]


def _shown(value) -> float | None:
    """A number as the tables show it (so that ties on screen are ties when marking)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return float(_cell(float(value)))


_LATEX = {THIN_MARK: "$^\\dagger$", "\\": "\\textbackslash{}", "&": "\\&", "%": "\\%", "$": "\\$", "#": "\\#", "_": "\\_", "{": "\\{",
          "}": "\\}", "~": "\\textasciitilde{}", "^": "\\textasciicircum{}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in str(text)).replace("\u0394", "$\\Delta$").replace("\u03b1", "$\\alpha$")


# ---------------------------------------------------------------------------------------------
# Run folders


@dataclass
class Run:
    path: Path
    document: dict
    tag: str = "R1"
    label: str = ""

    @property
    def config(self) -> dict:
        return self.document.get("config") or {}

    @property
    def manifest(self) -> dict:
        return self.document.get("manifest") or {}

    @property
    def models(self) -> dict:
        return self.document.get("models") or {}

    @property
    def tasks(self) -> dict:
        return self.document.get("tasks") or {}

    def task(self, name: str) -> dict | None:
        return self.tasks.get(name) or None

    @property
    def dataset(self) -> str:
        name = (self.manifest.get("dataset") or {}).get("name") or self.config.get("dataset") or "?"
        return Path(name).name if "/" in str(name) else str(name)

    @property
    def summarizer(self) -> str:
        specs = self.config.get("summaries") or list(self.manifest.get("summarizer") or {})
        if not specs:
            return "?"
        meta = (self.manifest.get("summarizer") or {}).get(specs[0]) or {}
        return source_label(meta.get("summarizer") or specs[0])

    @property
    def editor(self) -> str:
        return str(self.config.get("editor") or self.manifest.get("editor") or "?")


def load_run(path: str | Path) -> Run:
    """A finished run folder (its results.json); TearsBenchError naming the folder otherwise."""
    folder = Path(path)
    if not folder.is_dir():
        raise TearsBenchError(f"run folder not found: {folder}")
    results = folder / "results.json"
    if not results.is_file():
        hint = " (an interrupted run: rerun it with the same --output to finish)" if (folder / "tasks").is_dir() else ""
        raise TearsBenchError(f"{folder} is not a tears-bench run folder: it has no results.json{hint}")
    try:
        document = json.loads(results.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TearsBenchError(f"{results}: not readable JSON ({error})") from None
    if isinstance(document, dict) and "cf_backbone" in document and "sources" in document:
        raise TearsBenchError(f"{folder} is a `tears-bench compare` folder, not a run: its table and figure are "
                              f"{folder / 'compare.md'} and {folder / 'compare.png'}")
    if not isinstance(document, dict) or not ({"models", "tasks"} & set(document)):
        raise TearsBenchError(f"{results}: not a tears-bench results file (no 'models' or 'tasks')")
    return Run(folder, document)


def load_runs(paths: Sequence[str | Path]) -> list[Run]:
    if not paths:
        raise TearsBenchError("give at least one run folder")
    runs = [load_run(p) for p in paths]
    labels = [f"{r.dataset} / {r.summarizer} / {r.editor}" for r in runs]
    for i, run in enumerate(runs):
        run.tag = f"R{i + 1}"
        # Two runs of the same dataset, summarizer and editor differ by something else: say which folder.
        run.label = labels[i] if labels.count(labels[i]) == 1 else f"{labels[i]} ({run.path.name})"
    return runs


def model_names(result: dict | None) -> list[str]:
    return [k for k in (result or {}) if k not in RESERVED]


def _union(lists: Iterable[Iterable[str]]) -> list[str]:
    return list(dict.fromkeys(x for items in lists for x in items))


def _grouped(runs: list[Run], per_run: list[str]) -> tuple[list[str], list[tuple[str, int]]]:
    """Column names for a group of `per_run` columns per run (prefixed by the run's tag when there
    are several runs) and the LaTeX groups."""
    if len(runs) == 1:
        return list(per_run), [(runs[0].label, len(per_run))]
    return [f"{r.tag} {c}" for r in runs for c in per_run], [(f"{r.tag}: {r.label}", len(per_run)) for r in runs]


# ---------------------------------------------------------------------------------------------
# The tables


def runs_table(runs: list[Run]) -> ReportTable:
    rows = []
    for run in runs:
        dataset = run.manifest.get("dataset") or {}
        encoders = {m.get("encoder") for m in (run.manifest.get("models") or {}).values() if m.get("encoder")}
        rows.append([run.tag, run.label, str(run.path), dataset.get("split_hash"), run.config.get("encoder")
                     or ", ".join(sorted(encoders)) or None, ", ".join(run.models) or None,
                     ", ".join(run.tasks) or None])
    return ReportTable("Runs", ["run", "dataset / summarizer / editor", "folder", "split", "encoder", "models",
                                "tasks"], rows, name="runs", lead=7)


def accuracy_table(runs: list[Run]) -> ReportTable | None:
    if not any(run.models for run in runs):
        return None
    per_run = ["alpha"] + [label for _, label in ACCURACY_METRICS] + ["users"]
    columns, groups = _grouped(runs, per_run)
    tears = _union(run.models for run in runs)
    baselines = _union([(m.get("baseline") or {}).get("model") for m in run.models.values()
                        if (m.get("baseline") or {}).get("model")] for run in runs)
    keys = [("cf", b) for b in baselines] + [(kind, m) for m in tears for kind in ("best", "text")]
    rows = []
    for kind, name in keys:
        label = {"cf": f"{name} (CF only)", "best": f"{name} (best alpha)", "text": f"{name} (alpha 1, text only)"}
        row = [label[kind]]
        for run in runs:
            alpha, metrics = _accuracy(run, kind, name)
            shown = None if alpha is None else f"{float(alpha):.1f}"
            row += [shown] + [None if metrics is None else metrics.get(key) for key, _ in ACCURACY_METRICS]
            row.append(None if metrics is None else metrics.get("n_users"))
        rows.append(row)
    metric_columns = range(1, 1 + len(ACCURACY_METRICS))
    best = {1 + g * len(per_run) + j: "max" for g in range(len(runs)) for j in metric_columns}
    thin = _thin_groups(rows, 1, len(per_run), len(per_run) - 1, metric_columns)
    notes = ["Test users. TEARS at its best alpha: chosen on validation NDCG@20; " + ALPHA_NOTE + ".",
             "CF only: the pre-trained VAE alone, on the same users as the TEARS model built on it."]
    for run in runs:
        missing = {m: sum((v.get("users_without_summary") or {}).values()) for m, v in run.models.items()}
        missing = {m: n for m, n in missing.items() if n}
        if missing:
            notes.append(f"{run.tag}: users without a summary, left out: "
                         + ", ".join(f"{m} {n}" for m, n in missing.items()) + ".")
    return ReportTable("Accuracy (test NDCG@k and Recall@k; best per column in bold)", ["model", *columns], rows,
                       name="accuracy", groups=groups, latex_columns=["model"] + per_run * len(runs),
                       best=best, thin=thin, notes=notes + _caveat_notes(runs))


def _accuracy(run: Run, kind: str, name: str) -> tuple[float | None, dict | None]:
    if kind == "cf":
        for model in run.models.values():
            baseline = model.get("baseline") or {}
            if baseline.get("model") == name:
                return None, baseline.get("test")
        return None, None
    model = run.models.get(name)
    if not model:
        return None, None
    if kind == "best":
        return model.get("best_alpha"), model.get("test")
    entry = (model.get("by_alpha") or {}).get("1.0") or {}
    return (1.0, entry["test"]) if entry.get("test") else (None, None)


def chosen_alphas(runs: list[Run], model: str, extra: Sequence[float] = ()) -> dict[str, list[str]]:
    """alpha key -> why it is shown: "text only" (1.0), "best R1" (a run's best alpha), "asked"."""
    chosen: dict[str, list[str]] = {"1.0": ["text only"]}
    for run in runs:
        best = (run.models.get(model) or {}).get("best_alpha")
        if best is not None:
            chosen.setdefault(f"{float(best):.1f}", []).append(f"best {run.tag}" if len(runs) > 1 else "best")
    for alpha in extra:
        chosen.setdefault(f"{float(alpha):.1f}", []).append("asked")
    return dict(sorted(chosen.items(), key=lambda kv: float(kv[0])))


def controllability_table(runs: list[Run], alphas: Sequence[float] = ()) -> ReportTable | None:
    if not any(run.task("flip") or run.task("rank") for run in runs):
        return None
    per_run = ["Δ-up", "Δ-down", "flip ratio", "flip n", "rank change", "help ratio", "rank n"]
    columns, groups = _grouped(runs, per_run)
    models = _union(model_names(run.task("flip")) + model_names(run.task("rank")) for run in runs)
    rows = []
    for model in models:
        for alpha, why in chosen_alphas(runs, model, alphas).items():
            row = [model, alpha, ", ".join(why)]
            for run in runs:
                flip = (run.task("flip") or {}).get(model, {}).get(alpha) or {}
                rank = (run.task("rank") or {}).get(model, {}).get(alpha) or {}
                row += [flip.get("delta_up"), flip.get("delta_down"), flip.get("flip_ratio"), flip.get("n_users"),
                        rank.get("rank_change"), rank.get("help_ratio"), rank.get("n_users")]
            if any(v is not None for v in row[3:]):
                rows.append(row)
    best = {3 + g * len(per_run) + j: "max" for g in range(len(runs)) for j in (0, 1, 2, 4, 5)}
    thin = _thin_groups(rows, 3, len(per_run), 3, (0, 1, 2)) | _thin_groups(rows, 3, len(per_run), 6, (4, 5))
    notes = ["Flip: gNDCG@20 deltas of the edited summary, both larger = better; flip ratio = share of users "
             "whose least favourite genre gains. Rank: rank(original) - rank(edited) of a held-out item "
             "(positive = moved up); help ratio = share of users whose item moved up. " + ALPHA_NOTE + "."]
    for run in runs:
        absent = [t for t in ("flip", "rank") if not run.task(t)]
        if absent:
            notes.append(f"{run.tag}: no {' or '.join(absent)} task in this run.")
    return ReportTable("Controllability at the chosen alphas (best per column in bold)",
                       ["model", "alpha", "chosen as", *columns], rows, name="controllability", lead=3,
                       groups=groups, latex_columns=["model", "alpha", "chosen as"] + per_run * len(runs),
                       best=best, thin=thin, notes=notes + _caveat_notes(runs))


def flip_references_table(runs: list[Run], alphas: Sequence[float] = ()) -> ReportTable | None:
    if not any((run.task("flip") or {}).get("references") for run in runs):
        return None
    per_run = ["Δ-up", "Δ-down", "flip ratio", "n"]
    columns, groups = _grouped(runs, per_run)
    models = _union(model_names(run.task("flip")) for run in runs)
    references = _union((run.task("flip") or {}).get("references", {}) for run in runs)
    rows = []
    for model in models:
        for alpha in chosen_alphas(runs, model, alphas):
            for variant in ["edited", *references]:
                row = [model, alpha, "editor" if variant == "edited" else variant]
                for run in runs:
                    flip = run.task("flip") or {}
                    source = flip if variant == "edited" else flip.get("references", {}).get(variant, {})
                    entry = source.get(model, {}).get(alpha) or {}
                    row += [entry.get("delta_up"), entry.get("delta_down"), entry.get("flip_ratio"), entry.get("n_users")]
                if any(v is not None for v in row[3:]):
                    rows.append(row)
    return ReportTable("Flip: the editor's edit against the random and oracle reference edits",
                       ["model", "alpha", "edit", *columns], rows, name="flip_references", lead=3, groups=groups,
                       latex_columns=["model", "alpha", "edit"] + per_run * len(runs),
                       thin=_thin_groups(rows, 3, len(per_run), 3, (0, 1, 2)),
                       notes=["random: two genres of the list swapped at random; oracle: a summary that loves the "
                              "least favourite genre and dislikes the favourite (an upper reference). " + ALPHA_NOTE
                              + "."] + _caveat_notes(runs))


GUIDED_MIX = {"more": "z = (z_text + z_cf) / 2 against the CF ranking",
              "less": "z = (z_cf - z_text) / 2 against the same with an empty summary"}


def paper_flip_table(runs: list[Run]) -> ReportTable | None:
    from tears_bench.paper_reference import CITATION, paper_flip_rows

    rows = paper_flip_rows(runs)
    if not rows:
        return None
    return ReportTable("Interest flip at alpha 1 next to the paper", ["model", "source", "dataset", "editor", "Δ-up",
                       "Δ-down", "n"], rows, name="flip_paper", lead=4, thin=thin_cells(rows, 6, (4, 5)),
                       notes=[f"Reference rows: {CITATION}. Indicative only: the paper fine-tunes T5 with LoRA and "
                              "edits with an LLM; each run row names its dataset and editor."] + _caveat_notes(runs))


def guided_tables(runs: list[Run]) -> list[ReportTable]:
    """Per direction, one table per genre list (runs of the same dataset share one; a block of rows per run)."""
    by_genres: dict[tuple[str, ...], list[Run]] = {}
    for run in runs:
        guided = run.task("guided")
        if guided:
            by_genres.setdefault(tuple((guided.get("meta") or {}).get("genres") or []), []).append(run)
    tables = []
    for index, (genres, members) in enumerate(by_genres.items()):
        suffix = f"_{index + 1}" if len(by_genres) > 1 else ""
        for direction, sign in (("more", "increase"), ("less", "decrease")):
            rows = []
            for run in members:
                guided = run.task("guided")
                for model in model_names(guided):
                    values = (guided[model] or {}).get(direction) or {}
                    rows.append([run.tag, model] + [values.get(g) for g in genres] + [values.get("mean"),
                                                                                       guided[model].get("n_users")])
            tables.append(ReportTable(
                f"Guided \"{direction.capitalize()} <genre>\": gNDCG@20 {sign} of the genre (larger = better)",
                ["run", "model", *genres, "mean", "n"], rows, name=f"guided_{direction}{suffix}", lead=2,
                best={c: "max" for c in range(2, len(genres) + 3)},
                thin={(r, c) for r, row in enumerate(rows) if is_thin(row[-1]) for c in range(2, len(genres) + 3)},
                notes=[f"{GUIDED_MIX[direction]}; runs: {', '.join(r.tag for r in members)}."]
                + _caveat_notes(members)))
    return tables


def _sources(run: Run) -> dict[str, str]:
    """Source name in the result -> label. The harness passes its first source twice (as
    'summaries' and under its spec): shown once, under its spec."""
    result = run.task("uniqueness") or {}
    names = result.get("sources") or list(result.get("length") or {})
    specs = run.config.get("summaries") or []
    labels = {}
    for name in names:
        label = source_label(specs[0] if name == "summaries" and specs and "summaries" not in specs else name)
        if label not in labels.values():
            labels[name] = label
    return labels


def uniqueness_tables(runs: list[Run]) -> list[ReportTable]:
    members = [run for run in runs if run.task("uniqueness")]
    if not members:
        return []
    rows, within = [], []
    for run in members:
        result = run.task("uniqueness")
        labels = _sources(run)
        between = result.get("between_users") or {}
        for name, label in labels.items():
            length = (result.get("length") or {}).get(name) or {}
            pairs = between if between.get("source") == name and between.get("pairs") else {}
            rows.append([run.tag, label, length.get("n"), length.get("mean"), pairs.get("n_users"), pairs.get("pairs"),
                         pairs.get("bleu_mean"), pairs.get("levenshtein_mean"),
                         pairs.get("levenshtein_normalised_mean")])
        for pair, stats in ((result.get("within_user") or {}).get("by_source_pair") or {}).items():
            a, _, b = pair.partition("|")
            if a in labels and b in labels:
                within.append([run.tag, f"{labels[a]} vs {labels[b]}", stats.get("pairs"), stats.get("bleu_mean"),
                               stats.get("levenshtein_mean"), stats.get("levenshtein_normalised_mean")])
    thin = {(r, 3) for r, row in enumerate(rows) if is_thin(row[2])}
    thin |= {(r, c) for r, row in enumerate(rows) if is_thin(row[4]) for c in (6, 7, 8)}
    tables = [ReportTable(
        "Summary uniqueness between users (lower BLEU, larger edit distance = more unique)",
        ["run", "source", "users", "words (mean)", "pair users", "pairs", "BLEU", "edit distance",
         "normalised distance"], rows, name="uniqueness", lead=2, best={6: "min", 7: "max", 8: "max"}, thin=thin,
        notes=["Random pairs of different users of the run's first summary source; sentence BLEU-4 (smoothed) "
               "and word-level Levenshtein."])]
    if within:
        tables.append(ReportTable(
            "Summary similarity within users, between sources", ["run", "sources", "pairs", "BLEU", "edit distance",
                                                                  "normalised distance"], within,
            name="uniqueness_within", lead=2, thin={(r, c) for r, row in enumerate(within) if is_thin(row[2])
                                                    for c in (3, 4, 5)},
            notes=["One pair per user (the same user's summaries from two sources): pairs = users."]))
    return tables


KNOWN_TASKS = ("flip", "rank", "guided", "uniqueness")


def other_task_tables(runs: list[Run]) -> list[ReportTable]:
    """Tasks added by users (docs/extending.md): their tears_bench.tables builder, one block per run."""
    from tears_bench.tables import task_tables

    out = []
    for run in runs:
        for task, result in run.tasks.items():
            if task in KNOWN_TASKS:
                continue
            for i, table in enumerate(task_tables(task, result)):
                title = table.title if len(runs) == 1 else f"{run.tag}: {table.title}"
                name = f"{task}{f'_{i + 1}' if i else ''}{f'_{run.tag}' if len(runs) > 1 else ''}"
                out.append(ReportTable(title, list(table.columns), [list(r) for r in table.rows], name=name))
    return out


def report_tables(runs: list[Run], alphas: Sequence[float] = ()) -> tuple[dict[str, list[ReportTable]], list[str]]:
    """Section -> tables, and notes on what is missing."""
    sections = {"Runs": [runs_table(runs)]}
    missing = []
    builders = [("Accuracy", lambda: [accuracy_table(runs)], "models (no trained model in the run)"),
                ("Controllability", lambda: [controllability_table(runs, alphas), flip_references_table(runs, alphas),
                                                paper_flip_table(runs)],
                 "flip or rank task"),
                ("Guided recommendation", lambda: guided_tables(runs), "guided task"),
                ("Summary uniqueness", lambda: uniqueness_tables(runs), "uniqueness task")]
    for section, build, what in builders:
        tables = [t for t in build() if t is not None]
        if tables:
            sections[section] = tables
        else:
            missing.append(f"{section}: omitted, no run has a {what}.")
    others = other_task_tables(runs)
    if others:
        sections["Other tasks"] = others
    for task in KNOWN_TASKS:
        absent = [r.tag for r in runs if not r.task(task)]
        if absent and len(absent) < len(runs):
            missing.append(f"{task}: not in {', '.join(absent)}.")
    return sections, missing


# ---------------------------------------------------------------------------------------------
# Writing the report


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
    from tears_bench import report_figures

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
    figures = report_figures.write_figures(runs, out / "figures")
    report = None
    if "md" in formats:
        report = out / "report.md"
        atomic_write_text(report, render_markdown(runs, sections, missing, figures, out, formats))
    return {"output": out, "report": report, "tables": written, "figures": figures, "missing": missing,
            "sections": sections}


FIGURE_PLACES = {"Accuracy": [("tradeoff", "Accuracy against controllability as alpha varies")],
                 "Controllability": [("flip", "Interest flip against alpha"), ("rank", "Rank change against alpha")],
                 "Guided recommendation": [("guided", "Guided recommendation per genre")]}


def render_markdown(runs: list[Run], sections: dict, missing: list[str], figures: dict, out: Path,
                    formats: Sequence[str]) -> str:
    lines = ["# tears-bench report", "",
             f"{len(runs)} run(s), written {dt.datetime.now().strftime('%Y-%m-%d %H:%M')}. {ALPHA_NOTE[0].upper()}"
             f"{ALPHA_NOTE[1:]}. Best value per column in **bold**; {THIN_MARK} marks a value from fewer "
             f"than {MIN_CELL_USERS} users (never bold).", ""]
    caveats = _caveat_notes(runs)
    if caveats:
        lines += ["## Caveats", ""] + [f"- {c}" for c in caveats] + [""]
    figure_note = (" " + " ".join(caveats)) if caveats else ""
    for section, tables in sections.items():
        lines += [f"## {section}", ""]
        for table in tables:
            lines += [table.markdown(), ""]
        for name, caption in FIGURE_PLACES.get(section, []):
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

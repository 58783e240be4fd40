"""The uniqueness task shown: summary length and between / within-user BLEU and word edit distance,
as a run's tables and figure and as the report's tables (a block of rows per run)."""
from __future__ import annotations

from tears_bench.report import figures as style
from tears_bench.report.runs import Run
from tears_bench.report.table import THIN_MARK, Table, is_thin, source_label, thin_cells


def uniqueness_tables(result: dict) -> list[Table]:
    """A run's tables (printed, tables/uniqueness.md|csv)."""
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
    for pair, stats in ((result.get("within_user") or {}).get("by_source_pair") or {}).items():
        label = " | ".join(source_label(p) for p in pair.split("|"))
        pair_rows.append(["within user", label, stats["pairs"], stats["pairs"], stats["bleu_mean"],
                          stats["levenshtein_mean"], stats["levenshtein_normalised_mean"]])
    tables.append(Table("uniqueness: BLEU (lower = more unique) and word edit distance (higher = more unique)",
                        ["pairs of", "source", "n_users", "pairs", "BLEU", "edit distance", "normalised distance"],
                        pair_rows, thin_cells(pair_rows, 2, range(4, 7))))
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


def uniqueness_report_tables(runs: list[Run]) -> list[Table]:
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
    tables = [Table(
        "Summary uniqueness between users (lower BLEU, larger edit distance = more unique)",
        ["run", "source", "users", "words (mean)", "pair users", "pairs", "BLEU", "edit distance",
         "normalised distance"], rows, name="uniqueness", lead=2, best={6: "min", 7: "max", 8: "max"},
        thin=thin_cells(rows, 2, (3,)) | thin_cells(rows, 4, (6, 7, 8)),
        notes=["Random pairs of different users of the run's first summary source; sentence BLEU-4 (smoothed) "
               "and word-level Levenshtein."])]
    if within:
        tables.append(Table(
            "Summary similarity within users, between sources", ["run", "sources", "pairs", "BLEU", "edit distance",
                                                                  "normalised distance"], within,
            name="uniqueness_within", lead=2, thin=thin_cells(within, 2, (3, 4, 5)),
            notes=["One pair per user (the same user's summaries from two sources): pairs = users."]))
    return tables


def uniqueness_figure(runs: list[Run]):
    """Mean BLEU and word edit distance of each kind of summary pair, for the first run that has the
    task (a run folder's figure)."""
    result = next((r.task("uniqueness") for r in runs if r.task("uniqueness")), None)
    if result is None:
        return None
    fig = style.new_figure(10, 4.6)
    axes = fig.subplots(1, 2)
    labels, bleu, distance = [], [], []
    between = result.get("between_users") or {}
    if between.get("pairs"):
        n = between.get("n_users")
        labels.append(f"between users\n{source_label(between['source'])}\n"
                      f"n={n}{THIN_MARK if is_thin(n) else ''} users, {between['pairs']} pairs")
        bleu.append(between["bleu_mean"])
        distance.append(between["levenshtein_mean"])
    for pair, stats in ((result.get("within_user") or {}).get("by_source_pair") or {}).items():
        n = stats["pairs"]
        labels.append("within user\n" + "\nvs ".join(source_label(p) for p in pair.split("|"))
                      + f"\nn={n}{THIN_MARK if is_thin(n) else ''} users")
        bleu.append(stats["bleu_mean"])
        distance.append(stats["levenshtein_mean"])
    axes[0].bar(range(len(labels)), bleu, color="tab:blue")
    axes[0].set_ylabel("mean sentence BLEU (lower = more unique)")
    axes[1].bar(range(len(labels)), distance, color="tab:orange")
    axes[1].set_ylabel("mean word edit distance (higher = more unique)")
    for ax in axes:
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, fontsize=7)
        ax.set_xlabel("summary pairs")
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle("Summary uniqueness")
    return fig

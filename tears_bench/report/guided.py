"""The guided task shown: a table per direction ("More" / "Less" <genre>) for a run and for the
report (runs of the same genre list share one, a block of rows per run), and its figure."""
from __future__ import annotations

from tears_bench.report import figures as style
from tears_bench.report.runs import Run, caveat_lines, panel_title
from tears_bench.report.table import Table, caveat_notes, model_names, thin_cells

DIRECTIONS = (("more", "increase"), ("less", "decrease"))
GUIDED_MIX = {"more": "z = (z_text + z_cf) / 2 against the CF ranking",
              "less": "z = (z_cf - z_text) / 2 against the same with an empty summary"}


def genres_of(result: dict) -> list[str]:
    return list((result.get("meta") or {}).get("genres") or [])


def guided_rows(result: dict, direction: str, genres: list[str]) -> list[list]:
    """[model, value per genre..., mean, n_users] per model."""
    rows = []
    for model in model_names(result):
        values = (result[model] or {}).get(direction) or {}
        rows.append([model] + [values.get(g) for g in genres] + [values.get("mean"), result[model].get("n_users")])
    return rows


def guided_tables(result: dict) -> list[Table]:
    """A run's tables (printed, tables/guided.md|csv)."""
    genres = genres_of(result)
    tables = []
    for direction, sign in DIRECTIONS:
        rows = guided_rows(result, direction, genres)
        tables.append(Table(f"guided '{direction}': gNDCG@20 {sign} of the genre", ["model", *genres, "mean", "n_users"],
                            rows, thin_cells(rows, len(genres) + 2, range(1, len(genres) + 2)), caveat_notes(result)))
    return tables


def guided_report_tables(runs: list[Run]) -> list[Table]:
    """Per direction, one table per genre list (runs of the same dataset share one; a block of rows per run)."""
    by_genres: dict[tuple[str, ...], list[Run]] = {}
    for run in runs:
        if run.task("guided"):
            by_genres.setdefault(tuple(genres_of(run.task("guided"))), []).append(run)
    tables = []
    for index, (genres, members) in enumerate(by_genres.items()):
        suffix = f"_{index + 1}" if len(by_genres) > 1 else ""
        for direction, sign in DIRECTIONS:
            rows = [[run.tag] + row for run in members for row in guided_rows(run.task("guided"), direction, list(genres))]
            values = range(2, len(genres) + 3)
            tables.append(Table(
                f"Guided \"{direction.capitalize()} <genre>\": gNDCG@20 {sign} of the genre (larger = better)",
                ["run", "model", *genres, "mean", "n"], rows, name=f"guided_{direction}{suffix}", lead=2,
                best={c: "max" for c in values}, thin=thin_cells(rows, len(genres) + 3, values),
                notes=[f"{GUIDED_MIX[direction]}; runs: {', '.join(r.tag for r in members)}."]
                + caveat_lines(members)))
    return tables


def guided_figure(runs: list[Run]):
    """Guided "More" / "Less" gNDCG@20 change per genre; a row per run (None: no run has it)."""
    members = [r for r in runs if r.task("guided")]
    if not members:
        return None
    fig = style.new_figure(13, 4.6 * len(members))
    axes = fig.subplots(len(members), 2, squeeze=False)
    for row, run in zip(axes, members):
        result = run.task("guided")
        genres = genres_of(result)
        models = [m for m in model_names(result) if (result[m] or {}).get("more")]
        width = 0.8 / max(1, len(models))
        for ax, (direction, sign) in zip(row, DIRECTIONS):
            for i, model in enumerate(models):
                values = [(result[model].get(direction) or {}).get(g) or 0.0 for g in genres]
                ax.bar([x + i * width for x in range(len(genres))], values, width, color=f"C{i % 10}",
                       label=style.series_label(model, result[model].get("n_users")))
            ax.set_xticks([x + width * (len(models) - 1) / 2 for x in range(len(genres))])
            ax.set_xticklabels(genres, rotation=40, ha="right", fontsize=8)
            ax.axhline(0, color="grey", linewidth=0.7)
            ax.set_xlabel("genre")
            ax.set_ylabel(f"gNDCG@20 {sign} of the genre\n(larger = better)")
            mix = "alpha 0.5: (z_text + z_cf) / 2" if direction == "more" else "(z_cf - z_text) / 2"
            ax.set_title(f"Guided \"{direction.capitalize()} <genre>\", {mix}\n{panel_title(run, runs)}", fontsize=10)
            ax.grid(alpha=0.3, axis="y")
        row[0].legend(fontsize=8)
    return fig

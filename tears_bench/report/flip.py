"""The flip task shown: its run table, its figure (Delta-up / Delta-down against alpha, with the
random and oracle reference edits) and the report's reference table."""
from __future__ import annotations

from typing import Sequence

from tears_bench.report import figures as style
from tears_bench.report.accuracy import chosen_alphas
from tears_bench.report.runs import Run, caveat_lines, grouped, panel_title, union
from tears_bench.report.table import ALPHA_NOTE, Table, caveat_notes, model_names, thin_cells, thin_groups


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


def flip_figure(runs: list[Run]):
    """Delta-up and Delta-down against alpha per model, 95% bootstrap bands, the random (dotted) and
    oracle (dashed) reference edits; a row per run. None when no run has the task."""
    members = [r for r in runs if r.task("flip")]
    if not members:
        return None
    from matplotlib.lines import Line2D

    colors = style.palette(m for r in members for m in model_names(r.task("flip")))
    fig = style.new_figure(12, 4.3 * len(members))
    axes = fig.subplots(len(members), 2, squeeze=False)
    references = list(dict.fromkeys(ref for r in members for ref in (r.task("flip").get("references") or {})))
    for row, run in zip(axes, members):
        result = run.task("flip")
        for ax, key, title in zip(row, ("delta_up", "delta_down"),
                                  ("Δ-up: the least favourite genre rises", "Δ-down: the favourite genre falls")):
            for model in model_names(result):
                style.curve(ax, *style.series(result[model], key), model, colors[model])
                for reference, per_model in (result.get("references") or {}).items():
                    xs, ys, _ = style.series(per_model.get(model), key)
                    if xs:
                        ax.plot(xs, ys, style.REFERENCE_STYLE.get(reference, "-."), color=colors[model],
                                linewidth=1.2, alpha=0.8, label=f"_{model} [{reference}]")
            ax.axhline(0, color="grey", linewidth=0.7, zorder=0)
            ax.set_xlim(-0.03, 1.03)
            ax.set_xlabel(style.ALPHA_LABEL)
            ax.set_ylabel(f"{'Δ-up' if key == 'delta_up' else 'Δ-down'} (gNDCG@20, larger = better)")
            ax.set_title(f"{title}; {style.n_text(result)}\n{panel_title(run, runs)}", fontsize=10)
            ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=c, marker=".", label=f"{m} (edited, 95% CI band)") for m, c in colors.items()]
    handles += [Line2D([], [], color="black", linestyle=style.REFERENCE_STYLE.get(ref, "-."), label=f"{ref} reference")
                for ref in references]
    axes[0][1].legend(handles=handles, fontsize=8, loc="best")
    return fig


def flip_references_table(runs: list[Run], alphas: Sequence[float] = ()) -> Table | None:
    if not any((run.task("flip") or {}).get("references") for run in runs):
        return None
    per_run = ["Δ-up", "Δ-down", "flip ratio", "n"]
    columns, groups = grouped(runs, per_run)
    models = union(model_names(run.task("flip")) for run in runs)
    references = union((run.task("flip") or {}).get("references", {}) for run in runs)
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
    return Table("Flip: the editor's edit against the random and oracle reference edits",
                 ["model", "alpha", "edit", *columns], rows, name="flip_references", lead=3, groups=groups,
                 latex_columns=["model", "alpha", "edit"] + per_run * len(runs),
                 thin=thin_groups(rows, 3, len(per_run), 3, (0, 1, 2)),
                 notes=["random: two genres of the list swapped at random; oracle: a summary that loves the "
                        "least favourite genre and dislikes the favourite (an upper reference). " + ALPHA_NOTE
                        + "."] + caveat_lines(runs))

"""The rank task shown: its run table and its figure (mean rank change against alpha)."""
from __future__ import annotations

from tears_bench.report import figures as style
from tears_bench.report.runs import Run, panel_title
from tears_bench.report.table import Table, caveat_notes, model_names, thin_cells


def rank_tables(result: dict) -> list[Table]:
    columns = ["model", "alpha", "rank_change", "median", "95% CI", "help_ratio", "n_users"]
    rows = [[m, a, v["rank_change"], v.get("rank_change_median"), v.get("rank_change_ci"), v["help_ratio"], v["n_users"]]
            for m in model_names(result) for a, v in result[m].items()]
    meta = result.get("meta", {})
    title = (f"rank: fine-grained rank adjustment (positive = moved up); eligible users "
             f"{meta.get('n_eligible_users', '?')} of {meta.get('n_test_users', '?')}")
    return [Table(title, columns, rows, thin_cells(rows, 6, range(2, 6)), caveat_notes(result))]


def rank_figure(runs: list[Run]):
    """Mean rank change against alpha per model, with 95% bands; a panel per run (None: no run has it)."""
    members = [r for r in runs if r.task("rank")]
    if not members:
        return None
    colors = style.palette(m for r in members for m in model_names(r.task("rank")))
    fig = style.new_figure(6.5 * len(members), 4.5)
    axes = fig.subplots(1, len(members), squeeze=False, sharey=True)[0]
    for ax, run in zip(axes, members):
        result = run.task("rank")
        for model in model_names(result):
            style.curve(ax, *style.series(result[model], "rank_change"),
                        style.series_label(model, style.series_n(result[model])), colors[model])
        ax.axhline(0, color="grey", linewidth=0.7, zorder=0)
        ax.set_xlim(-0.03, 1.03)
        ax.set_xlabel(style.ALPHA_LABEL, fontsize=9)
        ax.set_title(f"Fine-grained rank adjustment\n{panel_title(run, runs)}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, title="model (95% CI band)", title_fontsize=8)
    axes[0].set_ylabel("mean rank change of the target item\n(positive = moved up)")
    return fig

"""The report's tables across tasks: what each run is, accuracy (the CF baselines, TEARS at its
best alpha and at alpha 1), controllability at the chosen alphas (flip and rank side by side), and
the figure of accuracy against controllability as alpha varies."""
from __future__ import annotations

from typing import Sequence

from tears_bench.report import figures as style
from tears_bench.report.runs import Run, caveat_lines, grouped, panel_title, union
from tears_bench.report.table import ALPHA_NOTE, Table, model_names, thin_groups

ACCURACY_METRICS = (("ndcg@10", "NDCG@10"), ("ndcg@20", "NDCG@20"), ("ndcg@50", "NDCG@50"),
                    ("recall@20", "Recall@20"), ("recall@50", "Recall@50"))


def runs_table(runs: list[Run]) -> Table:
    rows = []
    for run in runs:
        dataset = run.manifest.get("dataset") or {}
        encoders = {m.get("encoder") for m in (run.manifest.get("models") or {}).values() if m.get("encoder")}
        rows.append([run.tag, run.label, str(run.path), dataset.get("split_hash"), run.config.get("encoder")
                     or ", ".join(sorted(encoders)) or None, ", ".join(run.models) or None,
                     ", ".join(run.tasks) or None])
    return Table("Runs", ["run", "dataset / summarizer / editor", "folder", "split", "encoder", "models",
                          "tasks"], rows, name="runs", lead=7)


def accuracy_table(runs: list[Run]) -> Table | None:
    if not any(run.models for run in runs):
        return None
    per_run = ["alpha"] + [label for _, label in ACCURACY_METRICS] + ["users"]
    columns, groups = grouped(runs, per_run)
    tears = union(run.models for run in runs)
    baselines = union([(m.get("baseline") or {}).get("model") for m in run.models.values()
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
    thin = thin_groups(rows, 1, len(per_run), len(per_run) - 1, metric_columns)
    notes = ["Test users. TEARS at its best alpha: chosen on validation NDCG@20; " + ALPHA_NOTE + ".",
             "CF only: the pre-trained VAE alone, on the same users as the TEARS model built on it."]
    for run in runs:
        missing = {m: sum((v.get("users_without_summary") or {}).values()) for m, v in run.models.items()}
        missing = {m: n for m, n in missing.items() if n}
        if missing:
            notes.append(f"{run.tag}: users without a summary, left out: "
                         + ", ".join(f"{m} {n}" for m, n in missing.items()) + ".")
    return Table("Accuracy (test NDCG@k and Recall@k; best per column in bold)", ["model", *columns], rows,
                 name="accuracy", groups=groups, latex_columns=["model"] + per_run * len(runs),
                 best=best, thin=thin, notes=notes + caveat_lines(runs))


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


def controllability_table(runs: list[Run], alphas: Sequence[float] = ()) -> Table | None:
    if not any(run.task("flip") or run.task("rank") for run in runs):
        return None
    per_run = ["Δ-up", "Δ-down", "flip ratio", "flip n", "rank change", "help ratio", "rank n"]
    columns, groups = grouped(runs, per_run)
    models = union(model_names(run.task("flip")) + model_names(run.task("rank")) for run in runs)
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
    thin = thin_groups(rows, 3, len(per_run), 3, (0, 1, 2)) | thin_groups(rows, 3, len(per_run), 6, (4, 5))
    notes = ["Flip: gNDCG@20 deltas of the edited summary, both larger = better; flip ratio = share of users "
             "whose least favourite genre gains. Rank: rank(original) - rank(edited) of a held-out item "
             "(positive = moved up); help ratio = share of users whose item moved up. " + ALPHA_NOTE + "."]
    for run in runs:
        absent = [t for t in ("flip", "rank") if not run.task(t)]
        if absent:
            notes.append(f"{run.tag}: no {' or '.join(absent)} task in this run.")
    return Table("Controllability at the chosen alphas (best per column in bold)",
                 ["model", "alpha", "chosen as", *columns], rows, name="controllability", lead=3,
                 groups=groups, latex_columns=["model", "alpha", "chosen as"] + per_run * len(runs),
                 best=best, thin=thin, notes=notes + caveat_lines(runs))


def tradeoff_figure(runs: list[Run]):
    """Test NDCG@20 against Delta-up as alpha varies, one curve per model, points coloured by alpha,
    alpha 0 / 1 / best labelled; a panel per run (None: no run has flip results of its models)."""
    members = [r for r in runs if r.task("flip") and set(model_names(r.task("flip"))) & set(r.models)]
    if not members:
        return None
    colors = style.palette(m for r in members for m in r.models)
    fig = style.new_figure(6.8 * len(members) + 1.2, 5)
    axes = fig.subplots(1, len(members), squeeze=False)[0]
    scatter = None
    for ax, run in zip(axes, members):
        flip = run.task("flip")
        for index, model in enumerate(m for m in model_names(flip) if m in run.models):
            info = run.models[model]
            by_alpha = info.get("by_alpha") or {}
            points = [(float(a), v["delta_up"], by_alpha[a]["test"]["ndcg@20"]) for a, v in sorted(flip[model].items())
                      if v.get("delta_up") is not None and (by_alpha.get(a) or {}).get("test")]
            if not points:
                continue
            alphas, xs, ys = zip(*points)
            marker = style.MARKERS[index % len(style.MARKERS)]
            ax.plot(xs, ys, "-", color=colors[model], linewidth=1.2,
                    label=style.series_label(model, style.series_n(flip[model])))
            scatter = ax.scatter(xs, ys, c=alphas, cmap="viridis", vmin=0, vmax=1, marker=marker, s=45, zorder=3,
                           edgecolors=colors[model], linewidths=1.2)
            best = info.get("best_alpha")
            for alpha, x, y in points:
                if alpha in (0.0, 1.0) or (best is not None and abs(alpha - best) < 1e-9):
                    text = f"α={alpha:.1f}" + (" (best)" if best is not None and abs(alpha - best) < 1e-9 else "")
                    ax.annotate(text, (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
            baseline = info.get("baseline") or {}
            if (baseline.get("test") or {}).get("ndcg@20") is not None:
                ax.axhline(baseline["test"]["ndcg@20"], color=colors[model], linestyle=":", linewidth=1,
                     label=f"{baseline.get('model')} (CF only)")
        ax.set_xlabel("Δ-up at alpha (gNDCG@20 gain of the least favourite genre;\nlarger = more controllable)")
        ax.set_ylabel("test NDCG@20 at alpha (larger = more accurate)")
        ax.set_title(f"Accuracy against controllability as alpha varies\n{panel_title(run, runs)}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if scatter is not None:
        fig.colorbar(scatter, ax=list(axes), label=style.ALPHA_SHORT)
    return fig

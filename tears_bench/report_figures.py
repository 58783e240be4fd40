"""The report's figures (PNG and PDF), built as matplotlib `Figure` objects without pyplot (no
display, no global state), so that tests can inspect axes, labels and lines before saving.

    flip_figure(runs)      Delta-up / Delta-down against alpha per model, 95% bootstrap bands, the
                           random (dotted) and oracle (dashed) reference edits; a row per run
    rank_figure(runs)      mean rank change against alpha per model, with bands; a panel per run
    tradeoff_figure(runs)  test NDCG@20 against Delta-up as alpha varies, one curve per model,
                           points coloured by alpha, alpha 0 / 1 / best labelled; a panel per run
    guided_figure(runs)    guided "More" / "Less" gNDCG@20 change per genre; a row per run
    compare_figure(doc)    `tears-bench compare`: grouped bars per summary source

Each returns None when no run has the data. Every alpha axis states the convention: alpha is the
weight of the text latent (0 = CF only, 1 = text only). Every series names its n (users), with the
tables' dagger when thin (tears_bench/tables.py); report.md's captions carry the runs' caveats.
"""
from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from tears_bench.plots import ALPHA_LABEL, series_label, series_n
from tears_bench.tables import source_label

ALPHA_SHORT = "alpha (weight of the text latent)\n0 = CF only, 1 = text only"
REFERENCE_STYLE = {"random": ":", "oracle": "--"}
MARKERS = "osD^vP*X"
RESERVED = ("meta", "references")


def _models(result: dict | None) -> list[str]:
    return [k for k in (result or {}) if k not in RESERVED]


def _palette(names) -> dict[str, str]:
    names = list(dict.fromkeys(names))
    return {name: f"C{i % 10}" for i, name in enumerate(names)}


def _series(by_alpha: dict, key: str):
    points = sorted((float(a), v) for a, v in (by_alpha or {}).items()
                    if isinstance(v, dict) and v.get(key) is not None)
    return [a for a, _ in points], [v[key] for _, v in points], [v.get(f"{key}_ci") for _, v in points]


def _curve(ax, xs, ys, cis, label, color, style="-", band=True, width=1.8):
    """A line (a marker with an error bar when there is one point) and its confidence band."""
    if not xs:
        return None
    line, = ax.plot(xs, ys, style, marker="o" if len(xs) == 1 else ".", label=label, color=color, linewidth=width)
    if band and cis and all(ci is not None for ci in cis):
        if len(xs) > 1:
            ax.fill_between(xs, [c[0] for c in cis], [c[1] for c in cis], alpha=0.18, color=color, linewidth=0)
        else:
            ax.errorbar(xs, ys, yerr=[[y - c[0] for y, c in zip(ys, cis)], [c[1] - y for y, c in zip(ys, cis)]],
                        fmt="none", color=color, capsize=3)
    return line


def _title(run, runs) -> str:
    return run.label if len(runs) == 1 else f"{run.tag}: {run.label}"


def _n_text(result: dict) -> str:
    return "; ".join(series_label(m, series_n(result[m])) for m in _models(result))


def flip_figure(runs) -> Figure | None:
    members = [r for r in runs if r.task("flip")]
    if not members:
        return None
    colors = _palette(m for r in members for m in _models(r.task("flip")))
    fig = Figure(figsize=(12, 4.3 * len(members)), layout="constrained")
    axes = fig.subplots(len(members), 2, squeeze=False)
    references = list(dict.fromkeys(ref for r in members for ref in (r.task("flip").get("references") or {})))
    for row, run in zip(axes, members):
        result = run.task("flip")
        for ax, key, title in zip(row, ("delta_up", "delta_down"),
                                  ("Δ-up: the least favourite genre rises", "Δ-down: the favourite genre falls")):
            for model in _models(result):
                _curve(ax, *_series(result[model], key), model, colors[model])
                for reference, per_model in (result.get("references") or {}).items():
                    xs, ys, _ = _series(per_model.get(model), key)
                    if xs:
                        ax.plot(xs, ys, REFERENCE_STYLE.get(reference, "-."), color=colors[model], linewidth=1.2,
                                alpha=0.8, label=f"_{model} [{reference}]")
            ax.axhline(0, color="grey", linewidth=0.7, zorder=0)
            ax.set_xlim(-0.03, 1.03)
            ax.set_xlabel(ALPHA_LABEL)
            ax.set_ylabel(f"{'Δ-up' if key == 'delta_up' else 'Δ-down'} (gNDCG@20, larger = better)")
            ax.set_title(f"{title}; {_n_text(result)}\n{_title(run, runs)}", fontsize=10)
            ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=c, marker=".", label=f"{m} (edited, 95% CI band)") for m, c in colors.items()]
    handles += [Line2D([], [], color="black", linestyle=REFERENCE_STYLE.get(ref, "-."), label=f"{ref} reference")
                for ref in references]
    axes[0][1].legend(handles=handles, fontsize=8, loc="best")
    return fig


def rank_figure(runs) -> Figure | None:
    members = [r for r in runs if r.task("rank")]
    if not members:
        return None
    colors = _palette(m for r in members for m in _models(r.task("rank")))
    fig = Figure(figsize=(6.5 * len(members), 4.5), layout="constrained")
    axes = fig.subplots(1, len(members), squeeze=False, sharey=True)[0]
    for ax, run in zip(axes, members):
        result = run.task("rank")
        for model in _models(result):
            _curve(ax, *_series(result[model], "rank_change"), series_label(model, series_n(result[model])),
                   colors[model])
        ax.axhline(0, color="grey", linewidth=0.7, zorder=0)
        ax.set_xlim(-0.03, 1.03)
        ax.set_xlabel(ALPHA_LABEL, fontsize=9)
        ax.set_title(f"Fine-grained rank adjustment\n{_title(run, runs)}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, title="model (95% CI band)", title_fontsize=8)
    axes[0].set_ylabel("mean rank change of the target item\n(positive = moved up)")
    return fig


def tradeoff_figure(runs) -> Figure | None:
    members = [r for r in runs if r.task("flip") and set(_models(r.task("flip"))) & set(r.models)]
    if not members:
        return None
    colors = _palette(m for r in members for m in r.models)
    fig = Figure(figsize=(6.8 * len(members) + 1.2, 5), layout="constrained")
    axes = fig.subplots(1, len(members), squeeze=False)[0]
    scatter = None
    for ax, run in zip(axes, members):
        flip = run.task("flip")
        for index, model in enumerate(m for m in _models(flip) if m in run.models):
            info = run.models[model]
            by_alpha = info.get("by_alpha") or {}
            points = [(float(a), v["delta_up"], by_alpha[a]["test"]["ndcg@20"]) for a, v in sorted(flip[model].items())
                      if v.get("delta_up") is not None and (by_alpha.get(a) or {}).get("test")]
            if not points:
                continue
            alphas, xs, ys = zip(*points)
            marker = MARKERS[index % len(MARKERS)]
            ax.plot(xs, ys, "-", color=colors[model], linewidth=1.2, label=series_label(model, series_n(flip[model])))
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
        ax.set_title(f"Accuracy against controllability as alpha varies\n{_title(run, runs)}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if scatter is not None:
        fig.colorbar(scatter, ax=list(axes), label=ALPHA_SHORT)
    return fig


def guided_figure(runs) -> Figure | None:
    members = [r for r in runs if r.task("guided")]
    if not members:
        return None
    fig = Figure(figsize=(13, 4.6 * len(members)), layout="constrained")
    axes = fig.subplots(len(members), 2, squeeze=False)
    for row, run in zip(axes, members):
        result = run.task("guided")
        genres = (result.get("meta") or {}).get("genres") or []
        models = [m for m in _models(result) if (result[m] or {}).get("more")]
        width = 0.8 / max(1, len(models))
        for ax, direction in zip(row, ("more", "less")):
            for i, model in enumerate(models):
                values = [(result[model].get(direction) or {}).get(g) or 0.0 for g in genres]
                ax.bar([x + i * width for x in range(len(genres))], values, width, color=f"C{i % 10}",
                       label=series_label(model, result[model].get("n_users")))
            ax.set_xticks([x + width * (len(models) - 1) / 2 for x in range(len(genres))])
            ax.set_xticklabels(genres, rotation=40, ha="right", fontsize=8)
            ax.axhline(0, color="grey", linewidth=0.7)
            ax.set_xlabel("genre")
            sign = "increase" if direction == "more" else "decrease"
            ax.set_ylabel(f"gNDCG@20 {sign} of the genre\n(larger = better)")
            mix = "alpha 0.5: (z_text + z_cf) / 2" if direction == "more" else "(z_cf - z_text) / 2"
            ax.set_title(f"Guided \"{direction.capitalize()} <genre>\", {mix}\n{_title(run, runs)}", fontsize=10)
            ax.grid(alpha=0.3, axis="y")
        row[0].legend(fontsize=8)
    return fig


COMPARE_PANELS = (
    ("NDCG@20 at alpha 1 (text only)", "alpha_1", "ndcg@20", "test NDCG@20"),
    ("NDCG@20 at the best alpha", "best", "ndcg@20", "test NDCG@20"),
    ("Δ-up at alpha 1 (flip)", "flip_alpha_1", "delta_up", "Δ-up (gNDCG@20, larger = better)"),
    ("Δ-down at alpha 1 (flip)", "flip_alpha_1", "delta_down", "Δ-down (gNDCG@20, larger = better)"),
    ("Between-user BLEU", "uniqueness", "bleu_mean", "mean sentence BLEU (lower = more unique)"),
)


def compare_figure(document: dict) -> Figure:
    sources = document["sources"]
    names = {spec: source_label((s.get("summarizer") or {}).get("summarizer") or spec) for spec, s in sources.items()}
    models = list(dict.fromkeys(m for s in sources.values() for m in s["models"]))
    fig = Figure(figsize=(3.6 * len(COMPARE_PANELS), 4.6), layout="constrained")
    axes = fig.subplots(1, len(COMPARE_PANELS), squeeze=False)[0]
    width = 0.8 / max(1, len(sources))
    for ax, (title, part, key, ylabel) in zip(axes, COMPARE_PANELS):
        for i, (spec, source) in enumerate(sources.items()):
            xs = [m + i * width for m in range(len(models))]
            values, errors, labels = [], [], []
            for model in models:
                entry = source["models"].get(model) or {}
                if part == "uniqueness":
                    value = ((source.get("uniqueness") or {}).get("between_users") or {}).get(key)
                    ci = None
                else:
                    value = (entry.get(part) or {}).get(key)
                    ci = (entry.get(part) or {}).get(f"{key}_ci")
                values.append(value if value is not None else 0.0)
                errors.append((value - ci[0], ci[1] - value) if ci and value is not None else (0.0, 0.0))
                text = "-" if value is None else f"{value:.3g}"
                labels.append(f"{text}\nα={entry['best_alpha']:.1f}" if part == "best" and entry else text)
            flip_n = [((source["models"].get(m) or {}).get("flip_alpha_1") or {}).get("n_users") for m in models]
            label = series_label(f"{names[spec]}, flip", min((n for n in flip_n if n is not None), default=None))
            bars = ax.bar(xs, values, width, label=label, color=f"C{i % 10}",
                          yerr=list(zip(*errors)) if any(any(e) for e in errors) else None, capsize=3)
            ax.bar_label(bars, labels=labels, fontsize=7, padding=2)
        ax.set_xticks([m + width * (len(sources) - 1) / 2 for m in range(len(models))])
        ax.set_xticklabels(models, fontsize=8)
        ax.set_xlabel("model")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.axhline(0, color="grey", linewidth=0.7)
        ax.margins(y=0.18)
        ax.grid(alpha=0.3, axis="y")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, title="summary source", fontsize=9, title_fontsize=9, loc="outside lower center",
               ncols=min(len(labels), 4))
    dataset = document.get("manifest", {}).get("dataset", {})
    fig.suptitle(f"Summarizers compared on {dataset.get('name', '?')} (split {dataset.get('split_hash', '?')}, "
                 f"same CF backbone); alpha = weight of the text latent (0 = CF only, 1 = text only)", fontsize=10)
    return fig


FIGURES = {"flip": flip_figure, "rank": rank_figure, "tradeoff": tradeoff_figure, "guided": guided_figure}


def save_figure(fig: Figure, folder: str | Path, name: str, dpi: int = 150) -> tuple[Path, Path]:
    """FOLDER/NAME.png and FOLDER/NAME.pdf, each written to a temporary file and renamed."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix in (".png", ".pdf"):
        path = folder / f"{name}{suffix}"
        tmp = folder / f".{name}.tmp{suffix}"
        fig.savefig(tmp, dpi=dpi)
        tmp.replace(path)
        paths.append(path)
    return paths[0], paths[1]


def write_figures(runs, folder: str | Path) -> dict[str, tuple[Path, Path]]:
    """Every figure the runs have data for: name -> (png, pdf)."""
    out = {}
    for name, build in FIGURES.items():
        fig = build(runs)
        if fig is not None:
            out[name] = save_figure(fig, folder, name)
    return out

"""Figures of task results with matplotlib (Agg backend: no display needed).

Every figure states the alpha convention on its axis: alpha is the weight of the text latent
(0 = CF only, 1 = text only). Every series says its n (users) in the legend, a thin one (fewer
than MIN_CELL_USERS users) with the table's dagger, and the caption under the figure carries the
footnote and the result's caveats (a dataset without timestamps).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tears_bench.tables import THIN_MARK, THIN_NOTE, is_thin, source_label  # noqa: E402

ALPHA_LABEL = "alpha (weight of the text latent: 0 = CF only, 1 = text only)"
REFERENCE_STYLE = {"random": ":", "oracle": "--"}


def _models(result: dict) -> list[str]:
    return [k for k in result if k not in ("meta", "references")]


def series_label(name: str, n) -> str:
    """'model (n=250)'; a thin series gets the tables' dagger."""
    if n is None:
        return name
    return f"{name} (n={n}{THIN_MARK})" if is_thin(n) else f"{name} (n={n})"


def series_n(by_alpha: dict):
    """The users behind a series (the smallest over its points: the weakest one is what counts)."""
    counts = [v.get("n_users") for v in (by_alpha or {}).values() if isinstance(v, dict) and v.get("n_users") is not None]
    return min(counts) if counts else None


def caption(fig, result: dict, thin: bool) -> float:
    """Footnote and caveats under the figure, wrapped to its width; returns the height fraction used."""
    import textwrap

    notes = ([THIN_NOTE] if thin else []) + [f"Caveat: {c}" for c in (result.get("meta") or {}).get("caveats") or []]
    if not notes:
        return 0.0
    text = "\n".join(textwrap.fill(n, int(fig.get_figwidth() * 15)) for n in notes)
    fig.text(0.01, 0.005, text, fontsize=7, va="bottom", ha="left")
    return min(0.5, (text.count("\n") + 1) * 7 * 1.35 / 72 / fig.get_figheight() + 0.01)


def _series(by_alpha: dict, key: str):
    points = sorted((float(a), v) for a, v in by_alpha.items() if v.get(key) is not None)
    return [a for a, _ in points], [v[key] for _, v in points], [v.get(f"{key}_ci") for _, v in points]


def _line(ax, xs, ys, cis, label, style="-", color=None, band=True):
    marker = "o" if len(xs) == 1 else "."
    line, = ax.plot(xs, ys, style, marker=marker, label=label, color=color)
    if band and cis and all(ci is not None for ci in cis) and len(xs) > 1:
        ax.fill_between(xs, [c[0] for c in cis], [c[1] for c in cis], alpha=0.15, color=line.get_color())
    elif band and cis and all(ci is not None for ci in cis):
        ax.errorbar(xs, ys, yerr=[[y - c[0] for y, c in zip(ys, cis)], [c[1] - y for y, c in zip(ys, cis)]],
                    fmt="none", color=line.get_color(), capsize=3)
    return line


def plot_flip(result: dict, path: Path) -> Path:
    """Delta-up and Delta-down against alpha per model, with the random and oracle references."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    thin = any(is_thin(series_n(result[m])) for m in _models(result))
    for ax, key, title in zip(axes, ("delta_up", "delta_down"),
                              ("Delta-up: least favourite genre rises", "Delta-down: favourite genre falls")):
        for model in _models(result):
            xs, ys, cis = _series(result[model], key)
            line = _line(ax, xs, ys, cis, series_label(model, series_n(result[model])))
            for reference, per_model in result.get("references", {}).items():
                if model in per_model:
                    rx, ry, _ = _series(per_model[model], key)
                    ax.plot(rx, ry, REFERENCE_STYLE.get(reference, "-."), color=line.get_color(), alpha=0.7,
                            label=f"{model} [{reference}]")
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set_title(title)
        ax.set_xlabel(ALPHA_LABEL, fontsize=8)
        ax.set_ylabel(f"{key.replace('_', '-')} (gNDCG@20)")
        ax.set_xlim(-0.02, 1.02)
    axes[1].legend(fontsize=7, loc="best")
    return _save(fig, path, result, thin)


def plot_rank(result: dict, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    thin = any(is_thin(series_n(result[m])) for m in _models(result))
    for model in _models(result):
        xs, ys, cis = _series(result[model], "rank_change")
        _line(ax, xs, ys, cis, series_label(model, series_n(result[model])))
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_title("Fine-grained rank adjustment")
    ax.set_xlabel(ALPHA_LABEL, fontsize=8)
    ax.set_ylabel("mean rank change (positive = moved up)")
    ax.set_xlim(-0.02, 1.02)
    ax.legend(fontsize=8)
    return _save(fig, path, result, thin)


def plot_guided(result: dict, path: Path) -> Path:
    genres = result.get("meta", {}).get("genres", [])
    models = [m for m in _models(result) if result[m].get("more")]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=False)
    width = 0.8 / max(1, len(models))
    for ax, direction in zip(axes, ("more", "less")):
        for i, model in enumerate(models):
            values = [result[model][direction].get(g) or 0.0 for g in genres]
            ax.bar([x + i * width for x in range(len(genres))], values, width,
                   label=series_label(model, result[model].get("n_users")))
        ax.set_xticks([x + width * (len(models) - 1) / 2 for x in range(len(genres))])
        ax.set_xticklabels(genres, rotation=45, ha="right", fontsize=8)
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set_xlabel("genre")
        ax.set_ylabel(f"gNDCG@20 {'increase' if direction == 'more' else 'decrease'}")
        ax.set_title(f"Guided: \"{direction.capitalize()} <genre>\"")
    axes[0].legend(fontsize=8)
    return _save(fig, path, result, any(is_thin(result[m].get("n_users")) for m in models))


def plot_uniqueness(result: dict, path: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
    labels, bleu, distance, counts = [], [], [], []
    between = result.get("between_users") or {}
    if between.get("pairs"):
        n = between.get("n_users")
        labels.append(f"between users\n{source_label(between['source'])}\n"
                      f"n={n}{THIN_MARK if is_thin(n) else ''} users, {between['pairs']} pairs")
        bleu.append(between["bleu_mean"])
        distance.append(between["levenshtein_mean"])
        counts.append(n)
    for pair, stats in ((result.get("within_user") or {}).get("by_source_pair") or {}).items():
        n = stats["pairs"]
        labels.append("within user\n" + "\nvs ".join(source_label(p) for p in pair.split("|"))
                      + f"\nn={n}{THIN_MARK if is_thin(n) else ''} users")
        bleu.append(stats["bleu_mean"])
        distance.append(stats["levenshtein_mean"])
        counts.append(n)
    axes[0].bar(range(len(labels)), bleu, color="tab:blue")
    axes[0].set_ylabel("mean sentence BLEU (lower = more unique)")
    axes[1].bar(range(len(labels)), distance, color="tab:orange")
    axes[1].set_ylabel("mean word edit distance (higher = more unique)")
    for ax in axes:
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, fontsize=7)
        ax.set_xlabel("summary pairs")
    fig.suptitle("Summary uniqueness")
    return _save(fig, path, result, any(is_thin(n) for n in counts))


def _save(fig, path: Path, result: dict | None = None, thin: bool = False) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    bottom = caption(fig, result or {}, thin)
    # tight_layout ignores the suptitle and the caption: give each its own band.
    fig.tight_layout(rect=(0, bottom, 1, 0.94 if fig._suptitle is not None else 1))
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)
    return path


PLOTS = {"flip": plot_flip, "rank": plot_rank, "guided": plot_guided, "uniqueness": plot_uniqueness}

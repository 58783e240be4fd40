"""The one figure style, for a run folder's figures and the report's (PNG and PDF).

Figures are matplotlib `Figure` objects built without pyplot (no display, no global state), so
that tests can inspect axes, labels and lines before saving; matplotlib is imported only when a
figure is made. Every alpha axis states the convention: alpha is the weight of the text latent
(0 = CF only, 1 = text only). Every series names its n (users), with the tables' dagger when thin;
a run folder's figure carries the dagger's footnote and the result's caveats as a caption, the
report's captions (report.md) carry the runs' caveats.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

from tears_bench.report.table import THIN_MARK, THIN_NOTE, is_thin, model_names

ALPHA_LABEL = "alpha (weight of the text latent: 0 = CF only, 1 = text only)"
ALPHA_SHORT = "alpha (weight of the text latent)\n0 = CF only, 1 = text only"
REFERENCE_STYLE = {"random": ":", "oracle": "--"}
MARKERS = "osD^vP*X"


def new_figure(width: float, height: float):
    """A pyplot-free figure whose layout leaves room for the axes' labels and a caption."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def palette(names) -> dict[str, str]:
    """One colour per name, in order, the same in every panel of a figure."""
    return {name: f"C{i % 10}" for i, name in enumerate(dict.fromkeys(names))}


def series_label(name: str, n) -> str:
    """'model (n=250)'; a thin series gets the tables' dagger."""
    if n is None:
        return name
    return f"{name} (n={n}{THIN_MARK})" if is_thin(n) else f"{name} (n={n})"


def series_n(by_alpha: dict):
    """The users behind a series (the smallest over its points: the weakest one is what counts)."""
    counts = [v.get("n_users") for v in (by_alpha or {}).values() if isinstance(v, dict) and v.get("n_users") is not None]
    return min(counts) if counts else None


def n_text(result: dict) -> str:
    """Every model of a result with its n, for a panel title."""
    return "; ".join(series_label(m, series_n(result[m])) for m in model_names(result))


def series(by_alpha: dict, key: str):
    """xs (alpha), ys and 95% intervals of `key` over a {alpha: {...}} mapping, sorted by alpha."""
    points = sorted((float(a), v) for a, v in (by_alpha or {}).items()
                    if isinstance(v, dict) and v.get(key) is not None)
    return [a for a, _ in points], [v[key] for _, v in points], [v.get(f"{key}_ci") for _, v in points]


def curve(ax, xs, ys, cis, label, color, style="-", band=True, width=1.8):
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


def shows_dagger(fig) -> bool:
    """Whether any title, label, tick label or legend of the figure marks a thin series."""
    texts = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        texts += [ax.get_title(), *(a.get_label() for a in ax.lines), *(c.get_label() for c in ax.containers)]
        texts += [t.get_text() for t in ax.get_xticklabels()]
        legend = ax.get_legend()
        texts += [t.get_text() for t in legend.get_texts()] if legend else []
    return any(THIN_MARK in str(t) for t in texts)


def caption(fig, result: dict, thin: bool) -> float:
    """Footnote and caveats under the figure, wrapped to its width; returns the height fraction used."""
    notes = ([THIN_NOTE] if thin else []) + [f"Caveat: {c}" for c in (result.get("meta") or {}).get("caveats") or []]
    if not notes:
        return 0.0
    text = "\n".join(textwrap.fill(n, int(fig.get_figwidth() * 15)) for n in notes)
    fig.text(0.01, 0.005, text, fontsize=7, va="bottom", ha="left")
    return min(0.5, (text.count("\n") + 1) * 7 * 1.35 / 72 / fig.get_figheight() + 0.01)


def add_caption(fig, result: dict) -> None:
    """A run folder's caption (caption()), with the layout kept above it."""
    bottom = caption(fig, result, shows_dagger(fig))
    if bottom:
        fig.get_layout_engine().set(rect=(0, bottom, 1, 1 - bottom))


def save_figure(fig, folder: str | Path, name: str, suffixes=(".png", ".pdf"), dpi: int = 150) -> tuple[Path, ...]:
    """FOLDER/NAME.png (and .pdf), each written to a temporary file and renamed."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix in suffixes:
        path = folder / f"{name}{suffix}"
        tmp = folder / f".{name}.tmp{suffix}"
        fig.savefig(tmp, dpi=dpi)
        tmp.replace(path)
        paths.append(path)
    return tuple(paths)

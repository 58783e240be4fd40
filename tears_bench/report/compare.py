"""The figure of `tears-bench compare` (results of one run per summary source), in the report's style."""
from __future__ import annotations

from tears_bench.report import figures as style
from tears_bench.report.table import source_label

COMPARE_PANELS = (
    ("NDCG@20 at alpha 1 (text only)", "alpha_1", "ndcg@20", "test NDCG@20"),
    ("NDCG@20 at the best alpha", "best", "ndcg@20", "test NDCG@20"),
    ("Δ-up at alpha 1 (flip)", "flip_alpha_1", "delta_up", "Δ-up (gNDCG@20, larger = better)"),
    ("Δ-down at alpha 1 (flip)", "flip_alpha_1", "delta_down", "Δ-down (gNDCG@20, larger = better)"),
    ("Between-user BLEU", "uniqueness", "bleu_mean", "mean sentence BLEU (lower = more unique)"),
)


def compare_figure(document: dict):
    """`tears-bench compare`: grouped bars per summary source, a panel per COMPARE_PANELS entry."""
    sources = document["sources"]
    names = {spec: source_label((s.get("summarizer") or {}).get("summarizer") or spec) for spec, s in sources.items()}
    models = list(dict.fromkeys(m for s in sources.values() for m in s["models"]))
    fig = style.new_figure(3.6 * len(COMPARE_PANELS), 4.6)
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
            label = style.series_label(f"{names[spec]}, flip", min((n for n in flip_n if n is not None), default=None))
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

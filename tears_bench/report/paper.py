"""The paper's own controllability numbers, shown next to a run's as a reference row.

Penaloza et al., "TEARS: Textual Representations for Scrutable Recommendations", arXiv:2410.19302,
Table 7: interest flip on ML-1M at alpha 1, GPT-4 summaries edited by the paper's LLM editor, a
LoRA-fine-tuned T5 encoder. Only the values this project has checked against the paper are here;
a model without a paper value gets no reference row. The comparison is indicative, not like for
like: datasets, editors and encoders can differ, and the table says which ones this run used.
"""
from __future__ import annotations

from tears_bench.report.runs import Run, caveat_lines
from tears_bench.report.table import Table, thin_cells

CITATION = "Penaloza et al., TEARS, arXiv:2410.19302, Table 7 (ML-1M, GPT-4 summaries, alpha 1)"
PAPER_FLIP = {  # model -> (Delta-up, Delta-down) at alpha 1
    "tears-multvae": (0.201, 0.193),
    "tears-recvae": (0.391, 0.346),
    "tears-macridvae": (0.690, 0.453),
}


def paper_flip_rows(runs: list[Run]) -> list[list]:
    """[model, source, dataset, editor, Delta-up, Delta-down, n] rows: the paper's, then each run's."""
    rows = []
    for model, (up, down) in PAPER_FLIP.items():
        found = [(run, (run.task("flip") or {}).get(model, {}).get("1.0")) for run in runs]
        found = [(run, entry) for run, entry in found if entry]
        if not found:
            continue
        rows.append([model, "paper", "ML-1M", "LLM", up, down, None])
        rows += [[model, run.tag, run.dataset, run.editor, entry.get("delta_up"), entry.get("delta_down"),
                  entry.get("n_users")] for run, entry in found]
    return rows


def paper_flip_table(runs: list[Run]) -> Table | None:
    """The paper's rows next to each run's at alpha 1 (None: no run has flip results of such a model)."""
    rows = paper_flip_rows(runs)
    if not rows:
        return None
    return Table("Interest flip at alpha 1 next to the paper", ["model", "source", "dataset", "editor", "Δ-up",
                 "Δ-down", "n"], rows, name="flip_paper", lead=4, thin=thin_cells(rows, 6, (4, 5)),
                 notes=[f"Reference rows: {CITATION}. Indicative only: the paper fine-tunes T5 with LoRA and "
                        "edits with an LLM; each run row names its dataset and editor."] + caveat_lines(runs))

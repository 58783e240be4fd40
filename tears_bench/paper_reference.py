"""The paper's own controllability numbers, shown next to a run's as a reference row.

Penaloza et al., "TEARS: Textual Representations for Scrutable Recommendations", arXiv:2410.19302,
Table 7: interest flip on ML-1M at alpha 1, GPT-4 summaries edited by the paper's LLM editor, a
LoRA-fine-tuned T5 encoder. Only the values this project has checked against the paper are here;
a model without a paper value gets no reference row. The comparison is indicative, not like for
like: datasets, editors and encoders can differ, and the table says which ones this run used.
"""
from __future__ import annotations

CITATION = "Penaloza et al., TEARS, arXiv:2410.19302, Table 7 (ML-1M, GPT-4 summaries, alpha 1)"
PAPER_FLIP = {  # model -> (Delta-up, Delta-down) at alpha 1
    "tears-multvae": (0.201, 0.193),
    "tears-recvae": (0.391, 0.346),
    "tears-macridvae": (0.690, 0.453),
}


def paper_flip_rows(runs) -> list[list]:
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

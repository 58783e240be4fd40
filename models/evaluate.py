"""Full-ranking evaluation of a model (protocol.md section 5), batched over users.

`evaluate(score_fn, inputs, targets)` scores users in batches with each user's input (fold-in)
items at -inf (`tears_bench.metrics.scored_batches`), takes the top max(k) items once and computes
every NDCG@k and Recall@k from those hits with `tears_bench.metrics`; the result is the mean over
users with at least one target. Each user's numbers depend on that user's row only, so the result
does not depend on the batch size.

score_fn(inputs_batch, rows) -> scores [len(rows), n_items] (torch tensor or numpy array):
inputs_batch is the scipy CSR slice inputs[rows], rows the row positions in `inputs` (so a model
that needs more than the ratings, e.g. a summary per user, can look it up).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.sparse as sp
import torch

from tears_bench.metrics import (DEFAULT_KS, DEFAULT_RECALL_KS, hits_of, ndcg_from_hits, recall_from_hits,
                                 scored_batches, top_k)
from tears_bench.models.layers import SparseRows

BATCH_ELEMENTS = 1 << 23  # scores held at once: 8M floats (32 MB); 2,425 users of 3,459 items

ScoreFn = Callable[[sp.csr_matrix, np.ndarray], "torch.Tensor | np.ndarray"]


def default_batch_size(n_items: int) -> int:
    return int(np.clip(BATCH_ELEMENTS // max(n_items, 1), 256, 16384))


def model_score_fn(model, device="cpu") -> ScoreFn:
    """The score_fn of a model with `score(x)` taking dense or SparseRows input (set to eval mode)."""
    model.eval()
    return lambda x, rows: model.score(SparseRows.from_scipy(x, device))


def _rows(n_users: int, users_mask) -> np.ndarray:
    rows = np.arange(n_users) if users_mask is None else np.asarray(users_mask)
    return np.flatnonzero(rows) if rows.dtype == bool else rows


def _batches(rows: np.ndarray, batch_size: int) -> list[np.ndarray]:
    return [rows[start:start + batch_size] for start in range(0, len(rows), batch_size)]


def recommend(score_fn: ScoreFn, inputs: sp.csr_matrix, k: int, batch_size: int | None = None,
              users_mask=None) -> np.ndarray:
    """[users, k] item indices, best first, each user's input items excluded (full ranking)."""
    inputs = sp.csr_matrix(inputs)
    batches = _batches(_rows(inputs.shape[0], users_mask), batch_size or default_batch_size(inputs.shape[1]))
    parts = [top_k(scores, k).cpu().numpy() for _, scores in scored_batches(score_fn, inputs, batches)]
    return np.concatenate(parts) if parts else np.zeros((0, min(k, inputs.shape[1])), dtype=np.int64)


def evaluate(score_fn: ScoreFn, inputs: sp.csr_matrix, targets: sp.csr_matrix, ks=DEFAULT_KS,
             recall_ks=DEFAULT_RECALL_KS, batch_size: int | None = None, users_mask=None,
             per_user: bool = False) -> dict:
    """{'ndcg@k': mean, ..., 'recall@k': mean, ..., 'users': number of users with targets}.

    users_mask: boolean mask or index array of the rows to evaluate (default: all). per_user: also
    return 'rows' and 'per_user' {metric: array aligned with rows}, rows being the users evaluated.
    """
    inputs, targets = sp.csr_matrix(inputs), sp.csr_matrix(targets)
    n_items = targets.shape[1]
    n_pos = np.diff(targets.indptr)
    rows = _rows(targets.shape[0], users_mask)
    rows = rows[n_pos[rows] > 0]
    kmax = min(max(tuple(ks) + tuple(recall_ks)), n_items)
    values = {name: [] for name in [f"ndcg@{k}" for k in ks] + [f"recall@{k}" for k in recall_ks]}

    batches = _batches(rows, batch_size or default_batch_size(n_items))
    for batch, scores in scored_batches(score_fn, inputs, batches):
        ranked = top_k(scores, kmax)
        hits, _ = hits_of(ranked, targets[batch])
        positives = torch.from_numpy(n_pos[batch]).to(ranked.device)  # stored targets, as rows were chosen
        for k in ks:
            values[f"ndcg@{k}"].append(ndcg_from_hits(hits, positives, k))
        for k in recall_ks:
            values[f"recall@{k}"].append(recall_from_hits(hits, positives, k))

    arrays = {name: np.concatenate(v) if v else np.zeros(0) for name, v in values.items()}
    result = {name: float(a.mean()) if len(a) else float("nan") for name, a in arrays.items()}
    result["users"] = int(len(rows))
    if per_user:
        result["rows"], result["per_user"] = rows, arrays
    return result

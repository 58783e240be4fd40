"""Full-ranking evaluation (protocol.md section 5), batched over users.

`evaluate(score_fn, inputs, targets)` scores users in batches, sets each user's input (fold-in)
items to -inf, takes the top max(k) items once and computes every NDCG@k and Recall@k from those
hits, as `tears_bench.metrics` defines them; the result is the mean over users with at least one
target. Each user's numbers depend on that user's row only, so the result does not depend on the
batch size.

score_fn(inputs_batch, rows) -> scores [len(rows), n_items] (torch tensor or numpy array):
inputs_batch is the scipy CSR slice inputs[rows], rows the row positions in `inputs` (so a model
that needs more than the ratings, e.g. a summary per user, can look it up). The returned tensor is
overwritten in place (input items set to -inf): return a fresh one.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np
import scipy.sparse as sp
import torch

from tears_bench.models.layers import SparseRows

DEFAULT_KS = (10, 20, 50, 100)
DEFAULT_RECALL_KS = (20, 50)
BATCH_ELEMENTS = 1 << 23  # scores held at once: 8M floats (32 MB); 2,425 users of 3,459 items

ScoreFn = Callable[[sp.csr_matrix, np.ndarray], "torch.Tensor | np.ndarray"]
_POOL: ThreadPoolExecutor | None = None


def default_batch_size(n_items: int) -> int:
    return int(np.clip(BATCH_ELEMENTS // max(n_items, 1), 256, 16384))


def model_score_fn(model, device="cpu") -> ScoreFn:
    """The score_fn of a model with `score(x)` taking dense or SparseRows input (set to eval mode)."""
    model.eval()
    return lambda x, rows: model.score(SparseRows.from_scipy(x, device))


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=max(1, min(torch.get_num_threads(), os.cpu_count() or 1)))
    return _POOL


def top_items(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of each row's k best items, best first. On CPU, row blocks run in parallel threads
    (torch.topk works one row at a time on one core)."""
    k = min(k, scores.shape[1])
    workers = min(torch.get_num_threads(), os.cpu_count() or 1)
    if scores.device.type != "cpu" or workers < 2 or len(scores) < 256:
        return torch.topk(scores, k, dim=1, sorted=True).indices
    parts = _pool().map(lambda part: torch.topk(part, k, dim=1, sorted=True).indices, scores.chunk(workers))
    return torch.cat(list(parts))


def _csr_coords(matrix: sp.csr_matrix, device) -> tuple[torch.Tensor, torch.Tensor]:
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    return torch.from_numpy(rows).to(device), torch.from_numpy(matrix.indices.astype(np.int64)).to(device)


def _ranked(score_fn: ScoreFn, inputs: sp.csr_matrix, batch: np.ndarray, k: int) -> torch.Tensor:
    """Top-k items of the batch's users, their input items excluded."""
    x = inputs[batch]
    scores = torch.as_tensor(score_fn(x, batch))
    device = scores.device
    scores.index_put_(_csr_coords(x, device), torch.tensor(float("-inf"), device=device))
    return top_items(scores, k)


def recommend(score_fn: ScoreFn, inputs: sp.csr_matrix, k: int, batch_size: int | None = None,
              users_mask=None) -> np.ndarray:
    """[users, k] item indices, best first, each user's input items excluded (full ranking)."""
    inputs = sp.csr_matrix(inputs)
    rows = np.arange(inputs.shape[0]) if users_mask is None else np.asarray(users_mask)
    rows = np.flatnonzero(rows) if rows.dtype == bool else rows
    batch_size = batch_size or default_batch_size(inputs.shape[1])
    parts = [_ranked(score_fn, inputs, rows[i:i + batch_size], k).cpu().numpy()
             for i in range(0, len(rows), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, min(k, inputs.shape[1])), dtype=np.int64)


def evaluate(score_fn: ScoreFn, inputs: sp.csr_matrix, targets: sp.csr_matrix, ks=DEFAULT_KS,
             recall_ks=DEFAULT_RECALL_KS, batch_size: int | None = None, users_mask=None,
             per_user: bool = False) -> dict:
    """{'ndcg@k': mean, ..., 'recall@k': mean, ..., 'users': number of users with targets}.

    users_mask: boolean mask or index array of the rows to evaluate (default: all). per_user: also
    return 'rows' and 'per_user' {metric: array aligned with rows}, rows being the users evaluated.
    """
    inputs, targets = sp.csr_matrix(inputs), sp.csr_matrix(targets)
    n_users, n_items = targets.shape
    n_pos = np.diff(targets.indptr)
    rows = np.arange(n_users) if users_mask is None else np.asarray(users_mask)
    if rows.dtype == bool:
        rows = np.flatnonzero(rows)
    rows = rows[n_pos[rows] > 0]
    batch_size = batch_size or default_batch_size(n_items)
    kmax = min(max(tuple(ks) + tuple(recall_ks)), n_items)
    names = [f"ndcg@{k}" for k in ks] + [f"recall@{k}" for k in recall_ks]
    values = {name: [] for name in names}

    for start in range(0, len(rows), batch_size):
        batch = rows[start:start + batch_size]
        ranked = _ranked(score_fn, inputs, batch, kmax)
        device = ranked.device
        target = targets[batch]
        is_target = torch.zeros((len(batch), n_items), dtype=torch.bool, device=device)
        is_target[_csr_coords(target, device)] = True
        hits = torch.gather(is_target, 1, ranked).to(torch.float64)
        positives = torch.from_numpy(n_pos[batch]).to(device)
        discounts = 1.0 / torch.log2(torch.arange(2, kmax + 2, dtype=torch.float64, device=device))
        ideal = torch.cat([torch.zeros(1, dtype=torch.float64, device=device), discounts.cumsum(0)])
        for k in ks:
            k_ = min(k, kmax)
            dcg = (hits[:, :k_] * discounts[:k_]).sum(1)
            values[f"ndcg@{k}"].append((dcg / ideal[positives.clamp(max=k_)]).cpu().numpy())
        for k in recall_ks:
            values[f"recall@{k}"].append((hits[:, :min(k, kmax)].sum(1) / positives.clamp(max=k)).cpu().numpy())

    arrays = {name: np.concatenate(v) if v else np.zeros(0) for name, v in values.items()}
    result = {name: float(a.mean()) if len(a) else float("nan") for name, a in arrays.items()}
    result["users"] = int(len(rows))
    if per_user:
        result["rows"], result["per_user"] = rows, arrays
    return result

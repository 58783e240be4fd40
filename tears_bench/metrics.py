"""Full ranking and its metrics (protocol.md section 5), the one implementation models and tasks use.

`scores` are [..., users, items] numpy arrays or torch tensors, `targets` and `inputs` [users, items]
dense arrays or scipy sparse matrices. `scored_batches` scores users a batch at a time with each
user's input (fold-in) items at -inf, `top_k` ranks, `ndcg_from_hits`/`recall_from_hits` score a
ranking. Every metric returns one value per user; users without targets get NaN, so `nanmean` is
the mean over users with targets.
"""
from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator

import numpy as np
import torch

DEFAULT_KS = (10, 20, 50, 100)
DEFAULT_RECALL_KS = (20, 50)
PARALLEL_TOP_K_ROWS = 256  # below this, splitting torch.topk across threads costs more than it saves

ScoreFn = Callable[..., "torch.Tensor | np.ndarray"]
_POOL: ThreadPoolExecutor | None = None


def _as_tensor(x) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))


def _discounts(k: int, device=None) -> torch.Tensor:
    return 1.0 / torch.log2(torch.arange(2, k + 2, dtype=torch.float64, device=device))


def _workers() -> int:
    return max(1, min(torch.get_num_threads(), os.cpu_count() or 1))


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=_workers())
    return _POOL


def top_k(scores, k: int) -> torch.Tensor:
    """Indices [..., k] of each row's k best items (last axis), best first.

    On the CPU, blocks of rows run in parallel threads: torch.topk works one row at a time on one
    core. Each row's result depends on that row only, so the blocks do not change it.
    """
    scores = _as_tensor(scores)
    k = min(k, scores.shape[-1])
    n_rows = math.prod(scores.shape[:-1])
    if scores.device.type != "cpu" or _workers() < 2 or n_rows < PARALLEL_TOP_K_ROWS:
        return torch.topk(scores, k, dim=-1, sorted=True).indices
    rows = scores.reshape(n_rows, scores.shape[-1])
    parts = _pool().map(lambda part: torch.topk(part, k, dim=1, sorted=True).indices, rows.chunk(_workers()))
    return torch.cat(list(parts)).reshape(*scores.shape[:-1], k)


def item_mask(matrix, device=None) -> torch.Tensor:
    """Boolean [users, items], True at each user's items: entries > 0 of a dense matrix, every stored
    entry of a scipy sparse one (built from its coordinates, without a dense copy of the values)."""
    if not hasattr(matrix, "tocoo"):
        return (_as_tensor(matrix) > 0).to(device)
    coo = matrix.tocoo()
    mask = torch.zeros(coo.shape, dtype=torch.bool, device=device)
    mask[torch.as_tensor(coo.row, dtype=torch.long, device=device),
         torch.as_tensor(coo.col, dtype=torch.long, device=device)] = True
    return mask


def exclude_inputs(scores, inputs) -> torch.Tensor:
    """Scores [..., users, items] with each user's input items at -inf (a new tensor), so full
    ranking never recommends them."""
    scores = _as_tensor(scores)
    return scores.masked_fill(item_mask(inputs, scores.device), float("-inf"))


def scored_batches(score_fn: ScoreFn, inputs, batches: Iterable, exclude: bool = True) -> Iterator:
    """Yield (rows, scores [..., len(rows), items]) for each row selection in `batches` (slices or
    index arrays into `inputs`): score_fn(inputs[rows], rows) -> scores, with each user's input items
    set to -inf unless `exclude` is False (for a model whose scores already exclude them)."""
    for rows in batches:
        x = inputs[rows]
        scores = _as_tensor(score_fn(x, rows))
        yield rows, exclude_inputs(scores, x) if exclude else scores


def hits_of(ranked: torch.Tensor, targets) -> tuple[torch.Tensor, torch.Tensor]:
    """(hits, n_pos): float64 [users, k], 1 where the ranked item is a target, and the target counts."""
    is_target = item_mask(targets, ranked.device)
    return torch.gather(is_target, 1, ranked).to(torch.float64), is_target.sum(dim=1)


def ndcg_from_hits(hits: torch.Tensor, n_pos, k: int) -> np.ndarray:
    """Binary NDCG@k of ranked hits [users, >=k]: DCG over the top k / IDCG over min(n_pos, k) ideal hits."""
    k = min(k, hits.shape[1])
    discounts = _discounts(hits.shape[1], hits.device)
    ideal_cumulative = torch.cat([torch.zeros(1, dtype=torch.float64, device=hits.device), discounts.cumsum(0)])
    dcg = (hits[:, :k] * discounts[:k]).sum(dim=1)
    return _with_nan(dcg, ideal_cumulative[n_pos.clamp(max=k)], n_pos)


def recall_from_hits(hits: torch.Tensor, n_pos, k: int) -> np.ndarray:
    """Recall@k of ranked hits [users, >=k]: hits in the top k / min(k, n_pos)."""
    return _with_nan(hits[:, :min(k, hits.shape[1])].sum(dim=1), n_pos.clamp(max=k).to(torch.float64), n_pos)


def ndcg_at_k(scores, targets, k: int) -> np.ndarray:
    """Binary NDCG@k of full score rows [users, items]; NaN without targets."""
    return ndcg_from_hits(*hits_of(top_k(scores, k), targets), k)


def recall_at_k(scores, targets, k: int) -> np.ndarray:
    """Recall@k = hits in the top k / min(k, n_pos) of full score rows; NaN without targets."""
    return recall_from_hits(*hits_of(top_k(scores, k), targets), k)


def _with_nan(numerator: torch.Tensor, denominator: torch.Tensor, n_pos: torch.Tensor) -> np.ndarray:
    value = numerator / denominator.clamp(min=1e-12)
    value[n_pos == 0] = float("nan")
    return value.cpu().numpy()


def genre_ndcg_at_k(ranked_items, genre_of_item, genre: int | np.ndarray, k: int = 20) -> np.ndarray:
    """Genre-NDCG@k of ranked lists: sum_{i<k} [item_i in genre g] / log2(i+2) over the ideal sum.

    ranked_items: [users, >=k] item indices, best first. genre_of_item: boolean [n_genres, items].
    genre: one genre index for every row, or one per row. Returns one value per row.
    """
    ranked = _as_tensor(ranked_items)[:, :k].long()
    membership = _as_tensor(genre_of_item).to(torch.bool)
    genre_index = torch.as_tensor(np.broadcast_to(np.asarray(genre), (ranked.shape[0],)).copy()).long()
    in_genre = membership[genre_index[:, None], ranked].to(torch.float64)
    discounts = _discounts(ranked.shape[1])
    return ((in_genre * discounts).sum(dim=1) / discounts.sum()).numpy()

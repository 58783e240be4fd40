"""Ranking metrics of protocol.md section 5, vectorised over users.

`scores` and `targets` are dense [users, items] numpy arrays or torch tensors. Items the user gave
as input must already be excluded by the caller (score -inf). Every function returns one value per
user; users without targets get NaN, so `nanmean` is the mean over users with targets.
"""
from __future__ import annotations

import numpy as np
import torch


def _as_tensor(x) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))


def _discounts(k: int, device=None) -> torch.Tensor:
    return 1.0 / torch.log2(torch.arange(2, k + 2, dtype=torch.float64, device=device))


def top_k(scores, k: int) -> torch.Tensor:
    """Indices of each row's k best items, best first (ties broken by item index)."""
    scores = _as_tensor(scores)
    k = min(k, scores.shape[1])
    return torch.topk(scores, k, dim=1, sorted=True).indices


def _hits(scores, targets, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    targets = _as_tensor(targets)
    ranked = top_k(scores, k).to(targets.device)
    hits = torch.gather(targets, 1, ranked).to(torch.float64) > 0
    n_pos = (targets > 0).sum(dim=1)
    return hits.to(torch.float64), n_pos


def ndcg_at_k(scores, targets, k: int) -> np.ndarray:
    """Binary NDCG@k: DCG over the top k / IDCG over min(n_pos, k) ideal hits; NaN without targets."""
    hits, n_pos = _hits(scores, targets, k)
    discounts = _discounts(hits.shape[1], hits.device)
    dcg = (hits * discounts).sum(dim=1)
    ideal_cumulative = torch.cat([torch.zeros(1, dtype=torch.float64, device=hits.device),
                                  torch.cumsum(discounts, 0)])
    idcg = ideal_cumulative[n_pos.clamp(max=hits.shape[1])]
    return _with_nan(dcg, idcg, n_pos)


def recall_at_k(scores, targets, k: int) -> np.ndarray:
    """Recall@k = hits in the top k / min(k, n_pos); NaN without targets."""
    hits, n_pos = _hits(scores, targets, k)
    return _with_nan(hits.sum(dim=1), n_pos.clamp(max=k).to(torch.float64), n_pos)


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


def exclude_inputs(scores: torch.Tensor, inputs) -> torch.Tensor:
    """Scores with the user's input items set to -inf, so full ranking never recommends them."""
    mask = _as_tensor(inputs) > 0 if not hasattr(inputs, "tocoo") else _sparse_mask(inputs, scores)
    return scores.masked_fill(mask.to(scores.device), float("-inf"))


def _sparse_mask(matrix, scores: torch.Tensor) -> torch.Tensor:
    coo = matrix.tocoo()
    mask = torch.zeros(scores.shape, dtype=torch.bool)
    mask[torch.as_tensor(coo.row, dtype=torch.long), torch.as_tensor(coo.col, dtype=torch.long)] = True
    return mask

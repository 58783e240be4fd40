"""Item popularity, the floor every model must beat: each item scored by how many training users
like it (their training targets), the same list for everyone. Ties are broken by item index (lower
first), so the ranking is fully determined."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn as nn

from tears_bench.models.layers import Rows


class Pop(nn.Module):
    def __init__(self, n_items: int):
        super().__init__()
        self.n_items = n_items
        self.register_buffer("popularity", torch.zeros(n_items))

    def fit(self, X: sp.csr_matrix, *args, **kwargs) -> dict:
        counts = np.asarray((X > 0).sum(axis=0)).ravel()
        order = np.lexsort((np.arange(len(counts)), -counts))  # most popular first, ties by index
        rank_score = np.empty(len(counts), dtype=np.float32)
        rank_score[order] = np.arange(len(counts), 0, -1)
        self.popularity.copy_(torch.from_numpy(rank_score))
        return {}

    def score(self, x: Rows) -> torch.Tensor:
        return self.popularity.expand(x.shape[0], -1).clone()

"""Sparse user rows for the models' first layer, so a batch never pays for its zeros.

A user's input row has a few dozen items out of thousands; the first encoder layer is then a
weighted sum of a few rows of its weight (`embedding_bag`), forward and backward, which is several
times cheaper than a dense matmul. Every model accepts either a dense [B, I] tensor (what TEARS
passes) or a `SparseRows` batch (what the trainer and the evaluation pass); both give the same
numbers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn as nn
import torch.nn.functional as F

from tears_bench.models.shard_noise import uniform_like_values

Rows = "torch.Tensor | SparseRows"


@dataclass
class SparseRows:
    """A CSR batch of user rows on a device: row r holds values[offsets[r]:offsets[r+1]] at
    columns indices[offsets[r]:offsets[r+1]]."""

    indices: torch.Tensor  # int64 [nnz]
    offsets: torch.Tensor  # int64 [B + 1]
    values: torch.Tensor  # float32 [nnz]
    n_cols: int

    @classmethod
    def from_scipy(cls, matrix: sp.csr_matrix, device="cpu") -> "SparseRows":
        matrix = matrix.tocsr()
        return cls(torch.from_numpy(matrix.indices.astype(np.int64)).to(device),
                   torch.from_numpy(matrix.indptr.astype(np.int64)).to(device),
                   torch.from_numpy(matrix.data.astype(np.float32, copy=False)).to(device),
                   matrix.shape[1])

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.offsets) - 1, self.n_cols)

    @property
    def device(self) -> torch.device:
        return self.values.device

    def row_ids(self) -> torch.Tensor:
        counts = self.offsets.diff()
        return torch.repeat_interleave(torch.arange(len(counts), device=self.device), counts)

    def with_values(self, values: torch.Tensor) -> "SparseRows":
        return SparseRows(self.indices, self.offsets, values, self.n_cols)

    def to_dense(self) -> torch.Tensor:
        dense = torch.zeros(self.shape, dtype=self.values.dtype, device=self.device)
        dense[self.row_ids(), self.indices] = self.values
        return dense


def n_items_per_row(x: Rows) -> torch.Tensor:
    """How many items each row holds (non-zero entries)."""
    if isinstance(x, SparseRows):
        rows = x.row_ids()
        return torch.zeros(x.shape[0], device=x.device).index_add_(0, rows, (x.values != 0).float())
    return (x != 0).sum(dim=1).float()


def normalize_rows(x: Rows, eps: float = 1e-12) -> Rows:
    """Each row divided by its L2 norm (empty rows stay zero)."""
    if isinstance(x, SparseRows):
        rows = x.row_ids()
        norms = torch.zeros(x.shape[0], device=x.device).index_add_(0, rows, x.values.square()).sqrt()
        return x.with_values(x.values / norms.clamp_min(eps)[rows])
    return F.normalize(x, dim=1, eps=eps)


def scale_columns(x: Rows, weights: torch.Tensor) -> Rows:
    """x * weights[None, :]."""
    if isinstance(x, SparseRows):
        return x.with_values(x.values * weights[x.indices])
    return x * weights[None, :]


def input_dropout(x: Rows, p: float, training: bool) -> Rows:
    """Inverted dropout of input entries, as F.dropout on the dense row."""
    if not training or p <= 0:
        return x
    if isinstance(x, SparseRows):
        keep = uniform_like_values(x.values) >= p  # drawn for the global batch under torchrun
        return x.with_values(x.values * keep / (1 - p))
    return F.dropout(x, p, training=True)


def xavier_(weight: torch.Tensor, fan_in: int, fan_out: int) -> None:
    """Liang et al.'s initialisation: normal with std sqrt(2 / (fan_in + fan_out))."""
    with torch.no_grad():
        weight.normal_(0.0, math.sqrt(2.0 / (fan_in + fan_out)))


def liang_init(module: nn.Module) -> None:
    """Xavier-normal weights and N(0, 0.001) biases for every Linear / SparseLinear inside."""
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, SparseLinear)):
            xavier_(layer.weight, layer.in_features, layer.out_features)
            if layer.bias is not None:
                with torch.no_grad():
                    layer.bias.normal_(0.0, 0.001)


class SparseLinear(nn.Module):
    """Linear(in_features, out_features) whose input may be a `SparseRows` batch.

    The weight is stored [in_features, out_features] (one row per item), so a sparse row is an
    `embedding_bag` over the item rows it holds.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        xavier_(self.weight, in_features, out_features)

    def forward(self, x: Rows) -> torch.Tensor:
        if isinstance(x, SparseRows):
            out = F.embedding_bag(x.indices, self.weight, x.offsets[:-1], mode="sum",
                                  per_sample_weights=x.values)
        else:
            out = x @ self.weight
        return out if self.bias is None else out + self.bias

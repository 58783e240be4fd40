"""EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019).

B = I - P diagMat(1 / diag(P)), P = (X^T X + lambda I)^-1, so diag(B) = 0 and a user's own input
items never explain themselves. Scores: x @ B, x the L2-normalised fold-in row (row scaling does not
change a user's ranking), input items then excluded by the evaluation.

X is the binary matrix of the TRAINING users' positives (all of them: their training targets),
the usual choice under strong generalization: held-out users are never seen in fitting and are
scored from their fold-in input only.

lambda is picked on validation (`select_metric`, NDCG@50 by default) from the grid `lambdas`.
Validation quality is unimodal in lambda (too little and too much shrinkage both hurt), so the grid
is searched by ternary search: about 5 fits of the 8-value default grid instead of 8. Each fit is
one float32 Cholesky inverse of the I x I Gram matrix (about 0.5 s for 3,459 items on 2 cores,
float32 is exact enough here: the matrix is well conditioned once lambda >= 10 is added); the
inverse of the chosen lambda gives B directly. (A shared eigendecomposition for the whole grid was
slower: the symmetric eigensolver alone takes longer than five Cholesky inverses.)

Memory: EASE is dense in items. The fit holds at most five I x I float32 matrices at once (the Gram
matrix, the weights buffer, the best inverse so far, and the shifted copy and Cholesky factor or
inverse of the lambda being tried): 20 I^2 bytes, 8 GB at 20,000 items, 6.3 GB on Netflix's 17,770
(float64 would double it). `fit` checks that much is available before it starts and otherwise refuses
with one sentence. The Gram matrix is summed from user chunks of at most GRAM_CHUNK_ENTRIES co-rated
pairs, never through one sparse X^T X (on 500,000 users x 20,000 items that product is nearly dense:
up to 3.2 GB of indices and values before it is even made dense).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn as nn
import torch.nn.functional as F

from tears_bench.memory import require
from tears_bench.models.layers import Rows, SparseRows

DEFAULT_LAMBDAS = (10.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0)
DENSE_MATRICES = 5  # I x I float32 matrices alive at once during `fit` (see the module docstring)
GRAM_CHUNK_ENTRIES = 1 << 24  # co-rated (user, item, item) entries per chunk of X^T X: about 200 MB


def fit_bytes(n_items: int, n_val_users: int = 0) -> float:
    """Peak memory of `EASE.fit`: the dense item x item matrices and the validation scores."""
    return 4.0 * n_items * (DENSE_MATRICES * n_items + 3 * n_val_users)


def gram_chunks(X: sp.csr_matrix, max_entries: int = GRAM_CHUNK_ENTRIES) -> list[slice]:
    """Row slices of X whose sum of squared row lengths (the entries of their X^T X) stays under
    max_entries (a single longer row gets a chunk of its own)."""
    lengths = np.diff(X.indptr).astype(np.int64)
    cost = np.cumsum(lengths ** 2)
    chunks, start = [], 0
    while start < X.shape[0]:
        stop = int(np.searchsorted(cost, (cost[start - 1] if start else 0) + max_entries, side="right"))
        stop = max(stop, start + 1)
        chunks.append(slice(start, stop))
        start = stop
    return chunks


def gram(X: sp.csr_matrix, max_entries: int = GRAM_CHUNK_ENTRIES) -> torch.Tensor:
    """X^T X as a dense float32 tensor (exact: counts well below 2^24), summed over user chunks."""
    X = sp.csr_matrix(X, dtype=np.float32)
    G = np.zeros((X.shape[1], X.shape[1]), dtype=np.float32)
    for rows in gram_chunks(X, max_entries):
        part = X[rows]
        part = part.T @ part
        part.sum_duplicates()  # no repeated (row, col) left, so the fancy-indexed += adds each once
        part = part.tocoo()
        G[part.row, part.col] += part.data
    return torch.from_numpy(G)


def ease_inverse(G: np.ndarray | torch.Tensor, lam: float, dtype=torch.float32) -> torch.Tensor:
    """P = (G + lambda I)^-1 by Cholesky (the shifted copy is freed before the inverse is made)."""
    A = torch.as_tensor(G).to(dtype).clone()
    A.diagonal().add_(lam)
    L = torch.linalg.cholesky(A)
    del A
    return torch.cholesky_inverse(L)


def weights_from_inverse(P: torch.Tensor, in_place: bool = False) -> torch.Tensor:
    """B = I - P diagMat(1 / diag(P)): -P_ij / P_jj off the diagonal, 0 on it (in P's memory when
    in_place: the fit's last item x item matrix need not be copied)."""
    scale = -P.diagonal().clone()[None, :]
    B = P.div_(scale) if in_place else P / scale
    B.diagonal().zero_()
    return B


def ease_weights(G: np.ndarray | torch.Tensor, lam: float, dtype=torch.float64) -> torch.Tensor:
    """B for Gram matrix G and L2 weight lambda."""
    return weights_from_inverse(ease_inverse(G, lam, dtype))


def unimodal_argmax(n: int, f) -> int:
    """Index of the largest f(i), i < n, for f unimodal over 0..n-1, by ternary search."""
    lo, hi = 0, n - 1
    while hi - lo > 2:
        m1, m2 = lo + (hi - lo) // 3, hi - (hi - lo) // 3
        if f(m1) < f(m2):
            lo = m1 + 1
        else:
            hi = m2 - 1 if f(m1) > f(m2) else m2
    return max(range(lo, hi + 1), key=f)


class EASE(nn.Module):
    def __init__(self, n_items: int, lambdas: tuple | list = DEFAULT_LAMBDAS, select_metric: str = "ndcg@50"):
        super().__init__()
        self.n_items, self.lambdas, self.select_metric = n_items, tuple(float(x) for x in lambdas), select_metric
        self.register_buffer("B", torch.zeros(n_items, n_items))
        self.register_buffer("lam", torch.tensor(float("nan")))

    def fit(self, X: sp.csr_matrix, val_input: sp.csr_matrix | None = None, val_target: sp.csr_matrix | None = None,
            evaluate_fn=None) -> dict:
        """Fit on the binary training matrix X; with a validation set and several lambdas, pick lambda.
        `evaluate_fn(score_fn, inputs, targets) -> metrics dict` (models.evaluate.evaluate).
        Returns {lambda: validation metric} for the lambdas tried."""
        from tears_bench.models.evaluate import evaluate

        evaluate_fn = evaluate_fn or evaluate
        n_val = 0 if val_input is None else val_input.shape[0]
        require(fit_bytes(self.n_items, n_val), f"EASE on {self.n_items:,} items ({DENSE_MATRICES} dense items x "
                f"items float32 matrices)", "use a model whose size does not grow with items squared "
                "(multvae, recvae) or fewer items")
        G = gram(X)
        lambdas = sorted(self.lambdas)
        if len(lambdas) == 1 or val_input is None:
            best, P = lambdas[0], ease_inverse(G, lambdas[0])
            curve = {}
        else:
            x_val = torch.from_numpy(sp.csr_matrix(val_input, dtype=np.float32).toarray())
            curve, kept = {}, {}  # kept: the inverse of the best lambda so far

            def quality(i: int) -> float:
                lam = lambdas[i]
                if lam not in curve:
                    P = ease_inverse(G, lam)
                    scores = (x_val @ P) / -P.diagonal()[None, :]  # x @ B; B's zero diagonal: inputs are masked
                    curve[lam] = evaluate_fn(lambda x, rows: scores[torch.as_tensor(rows)], val_input,
                                             val_target)[self.select_metric]
                    if not kept or curve[lam] > curve[next(iter(kept))]:
                        kept.clear()
                        kept[lam] = P
                return curve[lam]

            unimodal_argmax(len(lambdas), quality)
            best = max(curve, key=curve.get)  # the best lambda tried
            P = kept.pop(best)
        del G
        self.B.copy_(weights_from_inverse(P, in_place=True))
        self.lam.fill_(best)
        return dict(sorted(curve.items()))

    def score(self, x: Rows) -> torch.Tensor:
        with torch.no_grad():
            if isinstance(x, SparseRows):
                return F.embedding_bag(x.indices, self.B, x.offsets[:-1], mode="sum", per_sample_weights=x.values)
            return x @ self.B

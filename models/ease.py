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
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn as nn
import torch.nn.functional as F

from tears_bench.models.layers import Rows, SparseRows

DEFAULT_LAMBDAS = (10.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0)


def gram(X: sp.csr_matrix) -> torch.Tensor:
    """X^T X as a dense float32 tensor (exact: counts well below 2^24)."""
    X = sp.csr_matrix(X, dtype=np.float32)
    return torch.from_numpy((X.T @ X).toarray())


def ease_inverse(G: np.ndarray | torch.Tensor, lam: float, dtype=torch.float32) -> torch.Tensor:
    """P = (G + lambda I)^-1 by Cholesky."""
    A = torch.as_tensor(G).to(dtype).clone()
    A.diagonal().add_(lam)
    return torch.cholesky_inverse(torch.linalg.cholesky(A))


def weights_from_inverse(P: torch.Tensor) -> torch.Tensor:
    """B = I - P diagMat(1 / diag(P)): -P_ij / P_jj off the diagonal, 0 on it."""
    B = P / -P.diagonal()[None, :]
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
            P = kept[best]
        self.B.copy_(weights_from_inverse(P))
        self.lam.fill_(best)
        return dict(sorted(curve.items()))

    def score(self, x: Rows) -> torch.Tensor:
        with torch.no_grad():
            if isinstance(x, SparseRows):
                return F.embedding_bag(x.indices, self.B, x.offsets[:-1], mode="sum", per_sample_weights=x.values)
            return x @ self.B

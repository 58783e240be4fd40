"""Linear read-outs: how much of a user's future positives a feature vector per user can predict.

A ridge regression from one feature vector per user (a summary's embedding, its TF-IDF words,
the genres it names, ...) to the user's positives (each row normalised to sum 1, as the
multinomial likelihood sees them), fitted in closed form on the training users with lambda
chosen on validation NDCG@20. It fits in seconds and has no training schedule to tune, so it
measures what a representation carries, separately from how TEARS trains on it (on
ml-1m-positives the trained TEARS models' text-only rankings land within 0.01 NDCG@20 of the
read-out of the same frozen embedding: benchmarks/README.md).

    readout = select_ridge(train_x, train_targets, val_x, val_fold_in, val_targets)
    scores = readout.scores(test_x)            # [users, items]; exclude the fold-in, then rank
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import scipy.sparse as sp
import torch

from tears_bench.metrics import exclude_inputs, ndcg_at_k

LAMBDAS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


@dataclass
class RidgeReadout:
    """scores(x) = (x - feature_mean) @ weights + target_mean."""

    feature_mean: np.ndarray
    weights: np.ndarray
    target_mean: np.ndarray
    lam: float

    def scores(self, features: np.ndarray) -> np.ndarray:
        return (np.asarray(features, dtype=np.float64) - self.feature_mean) @ self.weights + self.target_mean


def normalised_rows(targets) -> np.ndarray:
    """Dense float64 copy of a user x item matrix with each row scaled to sum 1 (empty rows stay 0)."""
    dense = targets.toarray() if sp.issparse(targets) else np.asarray(targets)
    dense = dense.astype(np.float64)
    sums = dense.sum(axis=1, keepdims=True)
    return np.divide(dense, sums, out=np.zeros_like(dense), where=sums > 0)


class _RidgePath:
    """Ridge solutions for many lambdas from one eigendecomposition of the centred Gram matrix."""

    def __init__(self, features: np.ndarray, targets) -> None:
        features = np.asarray(features, dtype=np.float64)
        y = normalised_rows(targets)
        self.feature_mean, self.target_mean = features.mean(axis=0), y.mean(axis=0)
        centred = features - self.feature_mean
        self.eigenvalues, self.eigenvectors = np.linalg.eigh(centred.T @ centred)
        # Projected right-hand side: V^T A^T (Y - mean), shared by every lambda.
        self.projected = self.eigenvectors.T @ (centred.T @ (y - self.target_mean))

    def solve(self, lam: float) -> RidgeReadout:
        shrink = 1.0 / (np.clip(self.eigenvalues, 0.0, None) + lam)
        weights = self.eigenvectors @ (shrink[:, None] * self.projected)
        return RidgeReadout(self.feature_mean, weights, self.target_mean, float(lam))


def fit_ridge(features: np.ndarray, targets, lam: float) -> RidgeReadout:
    """argmin_W ||(X - mean) W - (Y - mean)||^2 + lam ||W||^2, Y the row-normalised targets."""
    return _RidgePath(features, targets).solve(lam)


def ndcg20(scores: np.ndarray, fold_in, targets) -> np.ndarray:
    """Per-user NDCG@20 of `scores` with the fold-in items excluded (NaN for users without targets)."""
    scores = exclude_inputs(torch.as_tensor(np.asarray(scores), dtype=torch.float32), fold_in)
    dense = targets.toarray() if sp.issparse(targets) else np.asarray(targets)
    return ndcg_at_k(scores, torch.from_numpy(dense), 20)


def select_ridge(train_features: np.ndarray, train_targets, val_features: np.ndarray, val_fold_in,
                 val_targets, lambdas: Sequence[float] = LAMBDAS) -> RidgeReadout:
    """The ridge read-out whose lambda has the best validation NDCG@20 (the smallest on ties)."""
    path = _RidgePath(train_features, train_targets)
    best, best_value = None, -math.inf
    for lam in sorted(lambdas):
        readout = path.solve(lam)
        value = float(np.nanmean(ndcg20(readout.scores(val_features), val_fold_in, val_targets)))
        if value > best_value:
            best, best_value = readout, value
    return best


def tfidf_features(fit_texts: Sequence[str], *texts: Sequence[str], min_df: int = 5) -> list[np.ndarray]:
    """TF-IDF word vectors (sublinear tf, smoothed idf, unit rows) of `fit_texts` and of each of `texts`.

    The vocabulary and idf come from `fit_texts` only: words in at least `min_df` of them.
    """
    fit_tokens = [_WORD.findall(t.lower()) for t in fit_texts]
    df = Counter(word for tokens in fit_tokens for word in set(tokens))
    vocabulary = {w: i for i, w in enumerate(sorted(w for w, n in df.items() if n >= min_df))}
    n = len(fit_texts)
    idf = np.array([math.log((1 + n) / (1 + df[w])) + 1 for w in vocabulary])

    def vectors(token_lists) -> np.ndarray:
        out = np.zeros((len(token_lists), len(vocabulary)))
        for row, tokens in enumerate(token_lists):
            for word, count in Counter(t for t in tokens if t in vocabulary).items():
                out[row, vocabulary[word]] = 1 + math.log(count)
        out *= idf
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norms, out=out, where=norms > 0)

    return [vectors(fit_tokens)] + [vectors([_WORD.findall(t.lower()) for t in group]) for group in texts]

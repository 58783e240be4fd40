"""Ridge read-outs and TF-IDF features against hand-computed values."""
import math

import numpy as np
import scipy.sparse as sp

from benchmarks.text_readout import fit_ridge, normalised_rows, select_ridge, tfidf_features


def test_normalised_rows_sum_to_one_and_keep_empty_rows():
    y = normalised_rows(sp.csr_matrix(np.array([[1, 0, 3], [0, 0, 0]])))
    assert np.allclose(y, [[0.25, 0, 0.75], [0, 0, 0]])


def test_fit_ridge_matches_the_normal_equations():
    rng = np.random.default_rng(0)
    x, targets = rng.normal(size=(30, 4)), (rng.random((30, 6)) < 0.4).astype(float)
    targets[:, 0] = 1  # no empty row
    lam = 2.5
    readout = fit_ridge(x, targets, lam)
    a = x - x.mean(0)
    y = targets / targets.sum(1, keepdims=True)
    expected = np.linalg.solve(a.T @ a + lam * np.eye(4), a.T @ (y - y.mean(0)))
    assert np.allclose(readout.weights, expected)
    assert np.allclose(readout.scores(x), a @ expected + y.mean(0))
    # A huge lambda shrinks everything to the mean target: the popularity ranking.
    assert np.allclose(fit_ridge(x, targets, 1e12).scores(x[:3]), y.mean(0), atol=1e-9)


def test_select_ridge_picks_the_lambda_that_ranks_validation_users_best():
    # Item 0 is liked by users with feature +1, item 1 by users with feature -1; both equally popular.
    x = np.array([[1.0], [-1.0]] * 10)
    y = np.array([[1, 0, 1], [0, 1, 1]] * 10, dtype=float)
    val_fold_in = sp.csr_matrix(np.array([[0, 0, 1], [0, 0, 1]]))
    val_targets = sp.csr_matrix(np.array([[1, 0, 0], [0, 1, 0]]))
    readout = select_ridge(x, y, np.array([[1.0], [-1.0]]), val_fold_in, val_targets, lambdas=(1e9, 1.0))
    assert readout.lam == 1.0
    scores = readout.scores(np.array([[1.0], [-1.0]]))
    assert scores[0, 0] > scores[0, 1] and scores[1, 1] > scores[1, 0]


def test_tfidf_features_by_hand():
    fit = ["horror horror films", "comedy films", "horror comedy"]
    train, other = tfidf_features(fit, ["films about horror", "nothing known"], min_df=2)
    # Vocabulary (df >= 2): comedy (2), films (2), horror (2); idf = log(4/3) + 1 for each.
    idf = math.log(4 / 3) + 1
    first = np.array([0, idf, (1 + math.log(2)) * idf])
    assert np.allclose(train[0], first / np.linalg.norm(first))
    assert np.allclose(other[0], np.array([0, 1, 1]) / math.sqrt(2))
    assert np.allclose(other[1], 0)  # no known word: a zero row, not NaN

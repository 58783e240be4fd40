"""EASE: the closed form against a direct solve, the lambda grid against direct fits, the floor."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from tears_bench.models.ease import EASE, ease_weights, gram
from tears_bench.models.evaluate import evaluate
from tears_bench.models.layers import SparseRows
from tears_bench.models.pop import Pop


pytestmark = pytest.mark.usefixtures("one_thread")


def binary(n_users, n_items, density, seed):
    m = sp.random(n_users, n_items, density=density, format="csr", random_state=seed, dtype=np.float64)
    m.data[:] = 1.0
    return m


def test_closed_form_matches_a_direct_solve():
    X = binary(40, 12, 0.3, seed=0)
    lam = 7.0
    # Steck's problem: min ||X - XB||^2 + lam ||B||^2 s.t. diag(B) = 0, solved column by column:
    # for column j, B[-j, j] = (G_{-j,-j} + lam I)^-1 G_{-j, j}.
    G = (X.T @ X).toarray()
    expected = np.zeros((12, 12))
    for j in range(12):
        others = [i for i in range(12) if i != j]
        A = G[np.ix_(others, others)] + lam * np.eye(11)
        expected[others, j] = np.linalg.solve(A, G[others, j])
    B = ease_weights(G, lam).numpy()
    assert np.allclose(B, expected, atol=1e-10)
    assert np.all(np.diag(B) == 0)
    # ... and the textbook formula B = I - P diagMat(1 / diag(P)), P = (G + lam I)^-1.
    P = np.linalg.inv(G + lam * np.eye(12))
    textbook = np.eye(12) - P / np.diag(P)[None, :]
    assert np.allclose(B, textbook, atol=1e-10)


def test_lambda_grid_agrees_with_direct_fits_and_scores_are_x_times_b():
    X = binary(300, 60, 0.15, seed=1)
    val_input = binary(50, 60, 0.1, seed=2).astype(np.float32)
    val_target = binary(50, 60, 0.1, seed=3).astype(np.float32)
    lambdas = (1.0, 10.0, 100.0)
    model = EASE(60, lambdas=lambdas)
    curve = model.fit(X, val_input, val_target, evaluate_fn=evaluate)
    G = gram(X)
    for lam in lambdas:
        B = ease_weights(G, lam).float()
        direct = evaluate(lambda x, rows: torch.from_numpy(x.toarray()) @ B, val_input, val_target)
        assert curve[lam] == pytest.approx(direct["ndcg@50"], abs=1e-6)
    best = max(curve, key=curve.get)
    assert float(model.lam) == best
    x = SparseRows.from_scipy(val_input)
    assert torch.allclose(model.score(x), torch.from_numpy(val_input.toarray()) @ ease_weights(G, best).float(),
                          atol=1e-5)
    assert torch.allclose(model.score(x), model.score(x.to_dense()), atol=1e-5)


def test_pop_ranks_by_training_popularity_ties_by_index():
    X = sp.csr_matrix(np.array([[1, 1, 0, 1], [0, 1, 0, 1], [0, 1, 0, 0]], dtype=np.float32))
    pop = Pop(4)
    pop.fit(X)
    scores = pop.score(SparseRows.from_scipy(sp.csr_matrix((2, 4), dtype=np.float32)))
    assert scores.shape == (2, 4)
    assert torch.argsort(scores[0], descending=True).tolist() == [1, 3, 0, 2]


def test_unimodal_search_finds_the_peak_with_fewer_fits():
    from tears_bench.models.ease import unimodal_argmax

    for n in (1, 2, 3, 8):
        for peak in range(n):
            for plateau in (False, True):
                values = [-abs(i - peak) for i in range(n)]
                if plateau and peak + 1 < n:
                    values[peak + 1] = values[peak]
                calls = []
                got = unimodal_argmax(n, lambda i: calls.append(i) or values[i])
                assert values[got] == max(values)
                assert len(set(calls)) <= max(n - 2, 1) or n <= 3


def test_float32_fit_is_close_to_float64():
    X = binary(400, 80, 0.1, seed=4)
    G = gram(X)
    assert torch.equal(G.double(), torch.from_numpy((X.T @ X).toarray()))
    for lam in (10.0, 500.0):
        assert torch.allclose(ease_weights(G, lam, torch.float32).double(), ease_weights(G, lam), atol=1e-5)

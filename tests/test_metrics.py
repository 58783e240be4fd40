import math

import numpy as np
import pytest
import torch

from tears_bench.metrics import exclude_inputs, genre_ndcg_at_k, ndcg_at_k, recall_at_k


def d(i):  # discount of 0-based position i
    return 1 / math.log2(i + 2)


def test_ndcg_and_recall_hand_computed():
    scores = np.array([[0.9, 0.8, 0.7, 0.6, 0.5],
                       [0.1, 0.2, 0.3, 0.4, 0.5],
                       [0.5, 0.4, 0.3, 0.2, 0.1]])
    targets = np.array([[0, 1, 0, 1, 0],
                        [1, 0, 0, 0, 0],
                        [0, 0, 0, 0, 0]])
    ndcg = ndcg_at_k(scores, targets, 3)
    # user 0: hit at position 1 only within top 3; ideal: two hits at positions 0, 1.
    assert ndcg[0] == pytest.approx(d(1) / (d(0) + d(1)))
    assert ndcg[1] == 0.0  # its only target is ranked last
    assert np.isnan(ndcg[2])  # no targets
    recall = recall_at_k(scores, targets, 3)
    assert recall[0] == pytest.approx(0.5) and recall[1] == 0.0 and np.isnan(recall[2])
    # recall@k divides by min(k, n_pos): one hit of two targets at k=1 is 1/1.
    assert recall_at_k(np.array([[1.0, 0.5, 0.2]]), np.array([[1, 1, 0]]), 1)[0] == 1.0


def test_ndcg_perfect_and_tensor_input():
    scores = torch.tensor([[3.0, 2.0, 1.0, 0.0]])
    targets = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    assert ndcg_at_k(scores, targets, 2)[0] == pytest.approx(1.0)
    assert ndcg_at_k(scores, targets, 10)[0] == pytest.approx(1.0)  # k larger than the catalogue


def test_metrics_do_not_depend_on_batch_size():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(97, 50))
    targets = (rng.random((97, 50)) < 0.1).astype(float)
    full = ndcg_at_k(scores, targets, 10)
    for batch in (1, 7, 32):
        parts = np.concatenate([ndcg_at_k(scores[i:i + batch], targets[i:i + batch], 10)
                                for i in range(0, 97, batch)])
        np.testing.assert_array_equal(parts, full)


def test_genre_ndcg():
    genre_of_item = np.array([[1, 1, 1, 0, 0, 0],   # genre 0: items 0-2
                              [0, 0, 0, 1, 1, 1]], dtype=bool)
    only_genre_0 = np.array([[0, 1, 2]])
    assert genre_ndcg_at_k(only_genre_0, genre_of_item, 0, k=3)[0] == pytest.approx(1.0)
    assert genre_ndcg_at_k(only_genre_0, genre_of_item, 1, k=3)[0] == 0.0
    mixed = np.array([[3, 0, 4], [0, 3, 1]])
    got = genre_ndcg_at_k(mixed, genre_of_item, np.array([0, 0]), k=3)
    ideal = d(0) + d(1) + d(2)
    np.testing.assert_allclose(got, [d(1) / ideal, (d(0) + d(2)) / ideal])


def test_exclude_inputs_dense_and_sparse():
    import scipy.sparse as sp
    scores = torch.zeros(2, 3)
    inputs = np.array([[1, 0, 0], [0, 0, 2]])
    dense = exclude_inputs(scores, inputs)
    sparse = exclude_inputs(scores, sp.csr_matrix(inputs))
    assert torch.equal(dense, sparse)
    assert torch.isinf(dense[0, 0]) and torch.isinf(dense[1, 2]) and dense[0, 1] == 0

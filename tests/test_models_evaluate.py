"""Full-ranking evaluation: agrees with tears_bench.metrics, ignores the batch size, never ranks
fold-in items, averages over users with targets only."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from tears_bench.models.evaluate import evaluate, recommend
from tears_bench.metrics import exclude_inputs, ndcg_at_k, recall_at_k


pytestmark = pytest.mark.usefixtures("one_thread")


def random_problem(n_users=57, n_items=130, seed=0):
    rng = np.random.default_rng(seed)
    inputs = sp.random(n_users, n_items, density=0.08, format="csr", random_state=seed, dtype=np.float32)
    inputs.data[:] = rng.integers(1, 6, inputs.nnz)
    targets = sp.random(n_users, n_items, density=0.1, format="csr", random_state=seed + 1, dtype=np.float32)
    targets = ((targets > 0).astype(np.float32) - targets.multiply(inputs > 0)).tocsr()  # targets never inputs
    targets.eliminate_zeros()
    targets.data[:] = 1.0
    keep = np.ones(n_users, dtype=np.float32)
    keep[3] = 0  # a user without targets
    targets = sp.diags(keep) @ targets
    targets.eliminate_zeros()
    scores = rng.normal(size=(n_users, n_items)).astype(np.float32)
    return inputs, sp.csr_matrix(targets), scores


def table_fn(scores):
    return lambda x, rows: torch.from_numpy(scores[rows].copy())


def test_matches_the_reference_metrics():
    inputs, targets, scores = random_problem()
    got = evaluate(table_fn(scores), inputs, targets, ks=(1, 5, 10, 50), recall_ks=(5, 20))
    masked = exclude_inputs(torch.from_numpy(scores), inputs)
    dense_targets = torch.from_numpy(targets.toarray())
    for k in (1, 5, 10, 50):
        assert got[f"ndcg@{k}"] == pytest.approx(np.nanmean(ndcg_at_k(masked, dense_targets, k)), rel=1e-12)
    for k in (5, 20):
        assert got[f"recall@{k}"] == pytest.approx(np.nanmean(recall_at_k(masked, dense_targets, k)), rel=1e-12)
    assert got["users"] == int((np.diff(targets.indptr) > 0).sum()) == 56


def test_hand_computed_user():
    # 5 items; the user gave item 0; targets 1 and 3; scores rank 0 > 3 > 2 > 1 > 4.
    inputs = sp.csr_matrix(np.array([[5, 0, 0, 0, 0]], dtype=np.float32))
    targets = sp.csr_matrix(np.array([[0, 1, 0, 1, 0]], dtype=np.float32))
    scores = np.array([[9.0, 1.0, 2.0, 3.0, 0.0]], dtype=np.float32)
    got = evaluate(table_fn(scores), inputs, targets, ks=(1, 3), recall_ks=(1, 3))
    # Ranking without the input: 3, 2, 1, 4 -> hits at positions 0 and 2.
    assert got["ndcg@1"] == pytest.approx(1.0)
    assert got["ndcg@3"] == pytest.approx((1 + 1 / np.log2(4)) / (1 + 1 / np.log2(3)))
    assert got["recall@1"] == pytest.approx(1.0)
    assert got["recall@3"] == pytest.approx(1.0)


def test_result_does_not_depend_on_batch_size():
    inputs, targets, scores = random_problem(n_users=300, seed=3)
    results = [evaluate(table_fn(scores), inputs, targets, batch_size=b) for b in (1, 7, 64, 300, 10_000)]
    for result in results[1:]:
        assert result == results[0]


def test_fold_in_items_are_never_ranked():
    inputs, targets, scores = random_problem(seed=5)
    boosted = scores + 100 * inputs.toarray()  # input items would be everyone's top picks
    top = recommend(table_fn(boosted), inputs, k=40)
    for user in range(inputs.shape[0]):
        assert not set(top[user]) & set(inputs[user].indices)
    # Targets that are all input items are never hit.
    only_inputs = (inputs > 0).astype(np.float32).tocsr()
    assert evaluate(table_fn(boosted), inputs, only_inputs, ks=(100,), recall_ks=())["ndcg@100"] == 0.0


def test_users_mask_and_users_without_targets():
    inputs, targets, scores = random_problem(seed=7)
    mask = np.zeros(inputs.shape[0], dtype=bool)
    mask[[2, 3, 10, 11]] = True  # user 3 has no targets: not counted
    got = evaluate(table_fn(scores), inputs, targets, users_mask=mask, ks=(10,), recall_ks=(), per_user=True)
    assert got["users"] == 3
    assert list(got["rows"]) == [2, 10, 11]
    alone = [evaluate(table_fn(scores), inputs, targets, users_mask=[u], ks=(10,), recall_ks=())["ndcg@10"]
             for u in (2, 10, 11)]
    assert got["ndcg@10"] == pytest.approx(np.mean(alone))
    assert np.allclose(got["per_user"]["ndcg@10"], alone)

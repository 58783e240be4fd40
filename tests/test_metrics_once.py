"""One metric implementation and one batched-scoring helper (tears_bench.metrics): hand-computed
values, the batched evaluation equal to the dense metrics bit for bit, and batching that changes
nothing."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from tears_bench.metrics import (exclude_inputs, hits_of, ndcg_at_k, ndcg_from_hits, recall_at_k, recall_from_hits,
                                 scored_batches, top_k)
from tears_bench.models.evaluate import evaluate

try:
    from test_models_evaluate import random_problem, table_fn
except ImportError:
    from tests.test_models_evaluate import random_problem, table_fn


def d(i):  # discount of 0-based position i
    return 1 / math.log2(i + 2)


def test_ndcg_and_recall_of_a_ranking_by_hand():
    # 6 items; user 0 ranks 4 > 2 > 0 > 5 > 1 > 3 with targets {0, 3, 5}; user 1 has target {4} only.
    scores = torch.tensor([[0.6, 0.2, 0.8, 0.1, 0.9, 0.3],
                           [0.5, 0.4, 0.3, 0.2, 0.1, 0.0]])
    targets = np.array([[1, 0, 0, 1, 0, 1],
                        [0, 0, 0, 0, 1, 0]])
    ranked = top_k(scores, 4)
    assert ranked.tolist() == [[4, 2, 0, 5], [0, 1, 2, 3]]
    hits, n_pos = hits_of(ranked, targets)
    assert hits.tolist() == [[0, 0, 1, 1], [0, 0, 0, 0]] and n_pos.tolist() == [3, 1]
    expected_ndcg4 = (d(2) + d(3)) / (d(0) + d(1) + d(2))
    assert ndcg_from_hits(hits, n_pos, 4)[0] == pytest.approx(expected_ndcg4, rel=1e-15)
    assert ndcg_from_hits(hits, n_pos, 3)[0] == pytest.approx(d(2) / (d(0) + d(1) + d(2)), rel=1e-15)
    assert ndcg_from_hits(hits, n_pos, 2)[0] == 0.0
    assert recall_from_hits(hits, n_pos, 4)[0] == pytest.approx(2 / 3) and recall_from_hits(hits, n_pos, 4)[1] == 0.0
    assert recall_from_hits(hits, n_pos, 3)[0] == pytest.approx(1 / 3)
    # The full-score functions are the same computation: equal to the last bit, sparse targets too.
    for k in (2, 3, 4):
        np.testing.assert_array_equal(ndcg_at_k(scores, targets, k), ndcg_from_hits(*hits_of(top_k(scores, k), targets), k))
        np.testing.assert_array_equal(recall_at_k(scores, sp.csr_matrix(targets), k), recall_at_k(scores, targets, k))


@pytest.mark.parametrize("batch_size", [None, 13])
def test_batched_evaluation_equals_the_dense_metrics_bit_for_bit(batch_size):
    inputs, targets, scores = random_problem(n_users=90, n_items=70, seed=11)
    ks, recall_ks = (1, 5, 20, 70), (5, 50)
    got = evaluate(table_fn(scores), inputs, targets, ks=ks, recall_ks=recall_ks, batch_size=batch_size,
                   per_user=True)
    masked = exclude_inputs(scores, inputs)
    dense = targets.toarray()
    rows = got["rows"]
    assert len(rows) == got["users"] == 89  # user 3 has no target
    for k in ks:
        np.testing.assert_array_equal(got["per_user"][f"ndcg@{k}"], ndcg_at_k(masked, dense, k)[rows])
    for k in recall_ks:
        np.testing.assert_array_equal(got["per_user"][f"recall@{k}"], recall_at_k(masked, dense, k)[rows])


def test_top_k_in_threads_equals_one_topk():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        scores = torch.from_numpy(np.random.default_rng(1).normal(size=(3, 300, 40)).astype(np.float32))
        got = top_k(scores, 7)  # 900 rows: split across threads
        assert got.shape == (3, 300, 7)
        assert torch.equal(got, torch.topk(scores, 7, dim=-1, sorted=True).indices)
        assert torch.equal(top_k(scores[0], 7), got[0])
        assert top_k(scores, 100).shape == (3, 300, 40)  # k larger than the catalogue
    finally:
        torch.set_num_threads(threads)


def test_scored_batches_mask_inputs_and_do_not_depend_on_the_batches():
    inputs, _, scores = random_problem(n_users=40, n_items=30, seed=2)
    alphas_scores = np.stack([scores, 2 * scores])  # [A, U, I], like a TEARS model's output

    def score(x, rows):
        return torch.from_numpy(alphas_scores[:, rows])

    whole = next(scored_batches(score, inputs, [slice(0, 40)]))[1]
    assert whole.shape == (2, 40, 30)
    rows, cols = inputs.nonzero()
    assert torch.isinf(whole[:, rows, cols]).all() and int(torch.isinf(whole).sum()) == 2 * inputs.nnz
    assert torch.equal(whole, torch.stack([exclude_inputs(s, inputs) for s in torch.from_numpy(alphas_scores)]))
    for batches in ([np.arange(0, 17), np.arange(17, 40)], [slice(i, i + 6) for i in range(0, 40, 6)]):
        parts = list(scored_batches(score, inputs, batches))
        assert [p[0] for p in parts] == batches
        assert torch.equal(torch.cat([s for _, s in parts], dim=1), whole)
    # exclude=False: the model already excluded the inputs, its scores pass through untouched.
    untouched = next(scored_batches(score, inputs, [slice(0, 40)], exclude=False))[1]
    assert torch.equal(untouched, torch.from_numpy(alphas_scores))


def test_exclude_inputs_of_expanded_text_only_scores():
    # A text-only model repeats one score matrix over the alphas (an expanded view): masking must
    # still give every alpha its own masked copy.
    one = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    expanded = one.unsqueeze(0).expand(2, 3, 4)
    inputs = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 0, 3, 0], [0, 0, 0, 0]]))
    masked = exclude_inputs(expanded, inputs)
    assert masked.shape == (2, 3, 4) and torch.isinf(masked[:, 0, 0]).all() and torch.isinf(masked[:, 1, 2]).all()
    assert int(torch.isinf(masked).sum()) == 4 and torch.equal(one, torch.arange(12, dtype=torch.float32).reshape(3, 4))

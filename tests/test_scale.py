"""Scale: the data path holds no dense users x items array, and every chunked step gives the same
result in chunks of any size (benchmarks/bench_scale.py measures the time and memory)."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from tears_bench import memory
from tears_bench.data import load_dataset, synthetic
from tears_bench.data.split import Split, build_split
from tears_bench.errors import TearsBenchError
from tears_bench.storage import hash_arrays


# ----------------------------------------------------------------------------- synthetic data

def test_small_sizes_keep_the_original_random_stream():
    # Pinned from the generator before the genre-set sampler existed: seeds keep their data and
    # cached splits stay valid.
    data = synthetic.generate(users=200, items=300, seed=3)
    assert synthetic.uses_exact_sampler(200, 300)
    assert hash_arrays(data.user, data.item, data.rating, data.timestamp,
                       np.array(data.catalog.titles)) == "5624da2ad0dcc32d"


def test_the_genre_set_sampler_draws_the_gumbel_top_k_distribution():
    # Six items, four genre sets; every user has the same taste, so each user's first two items
    # follow one Plackett-Luce law: P(i then j) = p_i p_j / (1 - p_i), p ~ popularity exp(0.9 affinity).
    item_genres = [[0], [0], [1], [1, 2], [2], [0, 1, 2]]
    popularity = np.array([5.0, 1.0, 2.0, 1.0, 3.0, 0.5])
    n = 60_000
    taste = np.tile([[1.0, -0.5, 0.3]], (n, 1))
    item, affinity = synthetic._sample_by_genre_set(np.random.default_rng(1), taste, item_genres, popularity,
                                                    np.full(n, 2))
    genre_of_item = synthetic._genre_of_item(item_genres, 3)
    weights = popularity * np.exp(0.9 * genre_of_item @ taste[0])
    p = weights / weights.sum()
    first, second = item[0::2], item[1::2]
    assert np.all(first != second)
    assert np.abs(np.bincount(first, minlength=6) / n - p).max() < 0.01  # sd of each share < 0.0021
    joint = np.zeros((6, 6))
    np.add.at(joint, (first, second), 1.0 / n)
    expected = p[:, None] * p[None, :] / (1 - p[:, None])
    np.fill_diagonal(expected, 0.0)
    assert np.abs(joint - expected).max() < 0.006
    assert np.allclose(affinity, (genre_of_item @ taste[0])[item])  # each rating's own affinity


def test_vectorised_tastes_pick_four_distinct_genres():
    taste = synthetic._user_tastes_vectorised(np.random.default_rng(0), 20_000, 18)
    assert np.all((taste == 2.0).sum(1) == 1) and np.all((taste == 1.5).sum(1) == 1)
    assert np.all((taste == -2.0).sum(1) == 1)
    assert abs((taste == -1.5).sum(1).mean() - 0.5) < 0.02
    # The favourite is the first of four picks without replacement ~ prior: its shares follow the prior.
    prior = synthetic.GENRE_WEIGHTS ** 0.5 / (synthetic.GENRE_WEIGHTS ** 0.5).sum()
    shares = np.bincount(np.argmax(taste == 2.0, axis=1), minlength=18) / len(taste)
    assert np.abs(shares - prior).max() < 0.012


def test_a_large_synthetic_split_is_sparse_and_its_memory_follows_the_ratings():
    users, items = 20_000, 2000
    assert not synthetic.uses_exact_sampler(users, items)  # 4e7 cells: the chunked sampler
    tracemalloc.start()
    try:
        data = load_dataset(f"synthetic:users={users},items={items}")
        split = build_split(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    n = data.n_ratings
    counts = np.bincount(data.user, minlength=users)
    assert counts.min() >= 20 and counts.max() <= items // 3
    assert len(np.unique(data.user * items + data.item)) == n  # no item twice for a user
    # A dense float64 users x items array alone is 320 MB; generation and split peak below 120 bytes
    # a rating (200 MB here; measured 92, the split's sort keys and matrices).
    assert peak < 120 * n < 8 * users * items
    for name, value in vars(split).items():
        if isinstance(value, np.ndarray):
            assert value.ndim == 1 and value.size <= n, name
        elif sp.issparse(value):
            assert isinstance(value, sp.csr_matrix) and value.nnz <= n, name
            assert value.dtype == np.float32, name
    assert isinstance(split, Split) and split.n_items <= items and len(split.test_users) == 1000


def test_a_synthetic_size_beyond_memory_names_its_estimate(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 1 << 30)
    with pytest.raises(TearsBenchError, match="500,000 users x 20,000 items would need about 2.5 GiB"):
        synthetic.generate(users=500_000, items=20_000)


@pytest.mark.slow
def test_a_500k_user_synthetic_split_builds():
    available = memory.available_bytes()
    if available is not None and available < 8 << 30:
        pytest.skip(f"needs 8 GiB of free memory, {available / 2 ** 30:.1f} GiB available")
    split = build_split(load_dataset("synthetic:users=500000,items=20000"))
    assert len(split.train_users) > 495_000 and len(split.val_users) + len(split.test_users) > 1990
    assert split.n_items > 19_900 and split.train_input.shape == (len(split.train_users), split.n_items)
    for name in ("train_input", "train_target", "val_input", "val_target", "test_input", "test_target"):
        assert isinstance(getattr(split, name), sp.csr_matrix), name


# ----------------------------------------------------------------------------- EASE

def test_gram_summed_over_user_chunks_equals_one_product():
    from tears_bench.models.ease import gram, gram_chunks

    X = sp.random(300, 40, density=0.2, format="csr", random_state=0, dtype=np.float32)
    X.data[:] = 1.0
    chunks = gram_chunks(X, max_entries=50)
    lengths = np.diff(X.indptr)
    assert len(chunks) > 20 and chunks[0].start == 0 and chunks[-1].stop == 300
    assert all(a.stop == b.start for a, b in zip(chunks, chunks[1:]))
    assert all((lengths[c] ** 2).sum() <= 50 or c.stop - c.start == 1 for c in chunks)
    assert torch.equal(gram(X, max_entries=50), torch.from_numpy((X.T @ X).toarray()))


def test_ease_beyond_memory_is_refused_before_the_gram_matrix(monkeypatch):
    from tears_bench.models import ease

    monkeypatch.setattr(memory, "available_bytes", lambda: 64 << 20)
    monkeypatch.setattr(ease, "gram", lambda X: pytest.fail("the Gram matrix was built"))
    model = ease.EASE(2000)
    X = sp.random(50, 2000, density=0.01, format="csr", random_state=0, dtype=np.float32)
    # 4 bytes x 2,000 x (5 x 2,000 + 3 x 10 validation users) = 80.2 MB = 76.5 MiB
    with pytest.raises(TearsBenchError, match=r"^EASE on 2,000 items \(5 dense items x items float32 matrices\) "
                                              r"would need about 76.5 MiB of memory but 64.0 MiB is available"):
        model.fit(X, X[:10], X[:10])


# ----------------------------------------------------------------------------- evaluation, tasks

def test_evaluation_scores_at_most_a_batch_of_users_at_once():
    from tears_bench.models.evaluate import default_batch_size, evaluate

    n_users, n_items = 1000, 20_000
    inputs = sp.random(n_users, n_items, density=0.002, format="csr", random_state=1, dtype=np.float32)
    targets = sp.random(n_users, n_items, density=0.002, format="csr", random_state=2, dtype=np.float32)
    calls = []

    def score(x, rows):  # a fixed score per (user, item), whatever the batch
        calls.append(len(rows))
        return torch.sin(torch.as_tensor(rows, dtype=torch.float32)[:, None] * 0.37 + torch.arange(n_items) * 0.011)

    whole = evaluate(score, inputs, targets, batch_size=n_users)
    calls.clear()
    chunked = evaluate(score, inputs, targets)
    # 8M scores at a time: 419 users of 20,000 items (33.5 MB of float32)
    assert default_batch_size(n_items) == 419 and calls == [419, 419, whole["users"] - 838]
    assert chunked == whole
    calls.clear()
    assert evaluate(score, inputs, targets, batch_size=37) == whole and max(calls) == 37


def test_task_chunks_hold_at_most_chunk_elements_scores():
    # Chunk-size invariance of the rankings: tests/test_tasks_common.py; here the bound itself.
    from tears_bench.tasks.common import CHUNK_ELEMENTS, chunks

    for n_alphas, n_items in [(11, 17_770), (1, 20_000), (3, 400)]:
        parts = chunks(2000, n_alphas, n_items)
        assert parts[0].start == 0 and parts[-1].stop == 2000
        assert all(a.stop == b.start for a, b in zip(parts, parts[1:]))
        assert all(n_alphas * (p.stop - p.start) * n_items <= CHUNK_ELEMENTS for p in parts)
    assert chunks(2000, 11, 17_770)[0] == slice(0, 171)  # the alpha sweep on Netflix: 134 MB of scores

"""Shared task helpers and the task registry."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tears_bench.tasks.common import (alpha_key, bootstrap_ci, bootstrap_weights, check_alphas, genre_ndcg, model_table,
                          top_k_all)
from tears_bench.tasks.registry import TASKS, get_task, parse_tasks
from tears_bench.errors import TearsBenchError

try:
    from test_tasks_fake import FakeTears, small_split
except ImportError:
    from tests.test_tasks_fake import FakeTears, small_split


def test_check_alphas():
    assert check_alphas([0, 0.5, 1]) == [0.0, 0.5, 1.0]
    assert check_alphas([0.5, 0.50001, 1.0]) == [0.5, 1.0]  # same key "0.5"
    assert [alpha_key(a) for a in check_alphas([round(i / 10, 1) for i in range(11)])] == \
        ["0.0", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9", "1.0"]
    for bad in ([1.01], [-0.5], ["x"], [float("nan")], []):
        with pytest.raises(TearsBenchError):
            check_alphas(bad)


def test_genre_ndcg_of_a_single_genre_list_is_one():
    genre_matrix = np.array([[1, 1, 1, 0, 0, 1] * 5, [0, 0, 0, 1, 1, 0] * 5], dtype=bool)  # 30 items
    in_g0 = np.flatnonzero(genre_matrix[0])
    ranked = torch.as_tensor(np.stack([in_g0[:20], np.flatnonzero(genre_matrix[1])[:10].repeat(2)]))
    values = genre_ndcg(ranked[None], genre_matrix, np.array([0, 0]), k=20)  # leading alpha axis
    assert values.shape == (1, 2) and values[0, 0] == pytest.approx(1.0) and values[0, 1] == 0.0
    # One hit at the top of 20: 1 / sum of the 20 discounts.
    one_hit = torch.as_tensor([[0] + [3] * 19])
    expected = 1.0 / sum(1 / np.log2(i + 2) for i in range(20))
    assert genre_ndcg(one_hit, genre_matrix, 0, k=20)[0] == pytest.approx(expected)


def test_bootstrap_interval():
    values = np.random.default_rng(0).normal(1.0, 1.0, 400)
    weights = bootstrap_weights(400, seed=1)
    assert weights.shape == (1000, 400) and (weights.sum(axis=1) == 400).all()
    low, high = bootstrap_ci(values, weights)
    assert low < values.mean() < high and 0.1 < high - low < 0.3  # about 4 standard errors (0.05)
    assert (bootstrap_ci(values, bootstrap_weights(400, seed=1)) == (low, high)).all()
    assert list(bootstrap_ci(np.full((2, 7), 0.25), bootstrap_weights(7, 0))[1]) == [0.25, 0.25]


def test_rankings_do_not_depend_on_the_user_chunk_size(monkeypatch):
    split = small_split()
    model = FakeTears(split)
    texts = ["Summary: The user enjoys horror but avoids comedy."] * len(split.test_users)
    whole = top_k_all(model, texts, split.test_input, [0.0, 0.7, 1.0], 20)
    monkeypatch.setattr("tears_bench.tasks.common.CHUNK_ELEMENTS", 3 * split.n_items * 4)  # 4 users per call
    calls = model.calls
    chunked = top_k_all(model, texts, split.test_input, [0.0, 0.7, 1.0], 20)
    assert model.calls - calls == -(-len(texts) // 4)
    assert torch.equal(whole, chunked) and whole.shape == (3, len(texts), 20)


def test_model_table():
    split = small_split()
    model = FakeTears(split, name="m")
    assert model_table([model]) == {"m": model} and model_table(model) == {"m": model}
    assert model_table({"x": model}) == {"x": model}
    with pytest.raises(TearsBenchError):
        model_table([])
    with pytest.raises(TearsBenchError, match="may not be named"):
        model_table({"meta": model})


def test_registry():
    assert list(TASKS) == ["flip", "rank", "guided", "uniqueness"]
    for name, info in TASKS.items():
        function = get_task(name)
        assert function.__name__ == f"run_{name}" and info.description
        params = list(function.__code__.co_varnames[:7])
        assert params == ["models", "split", "summaries", "editor", "alphas", "seed", "limit"]
    assert parse_tasks("flip, rank,flip") == ["flip", "rank"] and parse_tasks("all") == list(TASKS)
    with pytest.raises(TearsBenchError, match="known tasks: flip, rank, guided, uniqueness"):
        get_task("swap")
    with pytest.raises(TearsBenchError, match="unknown task"):
        parse_tasks("flip,nope")

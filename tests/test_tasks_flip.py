"""The flip task on the synthetic split with the fake TEARS model and the offline editor."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from tears_bench.tasks.common import limit_users
from tears_bench.tasks.editors import NOT_FOUND, NO_SUMMARY
from tears_bench.tasks.flip import run_flip
from tears_bench.errors import TearsBenchError
from tears_bench.metrics import genre_ndcg_at_k, top_k

try:
    from test_tasks_fake import FakeTears, hand_summaries, small_split
except ImportError:
    from tests.test_tasks_fake import FakeTears, hand_summaries, small_split

ALPHAS = [0.0, 0.5, 1.0]


@pytest.fixture(scope="module")
def flip_run():
    split = small_split()
    models = [FakeTears(split), FakeTears(split, name="fake-base", text_only=True)]
    summaries = hand_summaries(split)
    result, rows = run_flip(models, split, summaries, "offline", ALPHAS, seed=3)
    return split, models, summaries, result, rows


def test_text_edit_moves_genres_at_alpha_one_and_not_at_alpha_zero(flip_run):
    _, _, _, result, _ = flip_run
    at_one, at_zero = result["fake-tears"]["1.0"], result["fake-tears"]["0.0"]
    assert at_one["delta_up"] > 0.2 and at_one["delta_down"] > 0.2 and at_one["flip_ratio"] > 0.5
    # alpha 0 is the CF latent alone: the text cannot change anything.
    assert at_zero["delta_up"] == 0 and at_zero["delta_down"] == 0 and at_zero["flip_ratio"] == 0
    assert at_zero["delta_up_ci"] == [0, 0]
    lo, hi = at_one["delta_up_ci"]
    assert lo <= at_one["delta_up"] <= hi


def test_text_only_model_is_reported_once_at_alpha_one(flip_run):
    _, _, _, result, _ = flip_run
    assert list(result["fake-base"]) == ["1.0"]
    assert result["fake-base"]["1.0"]["delta_up"] == result["fake-tears"]["1.0"]["delta_up"]


def test_oracle_beats_random(flip_run):
    _, _, _, result, _ = flip_run
    refs = result["references"]
    assert set(refs) == {"random", "oracle"} and set(refs["oracle"]) == {"fake-tears", "fake-base"}
    oracle, random = refs["oracle"]["fake-tears"]["1.0"], refs["random"]["fake-tears"]["1.0"]
    assert oracle["delta_up"] > random["delta_up"] and oracle["delta_down"] > random["delta_down"]
    assert oracle["delta_up"] >= result["fake-tears"]["1.0"]["delta_up"] - 1e-9
    assert refs["oracle"]["fake-tears"]["0.0"]["delta_up"] == 0


def test_per_user_deltas_match_a_direct_computation(flip_run):
    split, models, _, _, rows = flip_run
    model = models[0]
    row = next(r for r in rows if "skipped" not in r)
    position = int(np.flatnonzero(split.test_users == row["user"])[0])
    fold_in = split.test_input[position:position + 1]
    genres = split.genre_matrix()
    least = split.genres.index(row["least_favourite"])
    fav = split.genres.index(row["favourite"])
    original = top_k(model.recommend([row["original"]], fold_in, [1.0])[0], 20)
    edited = top_k(model.recommend([row["edited"]], fold_in, [1.0])[0], 20)
    up = genre_ndcg_at_k(edited, genres, least)[0] - genre_ndcg_at_k(original, genres, least)[0]
    down = genre_ndcg_at_k(original, genres, fav)[0] - genre_ndcg_at_k(edited, genres, fav)[0]
    assert row["scores"]["fake-tears"]["1.0"]["delta_up"] == pytest.approx(up, abs=1e-6)
    assert row["scores"]["fake-tears"]["1.0"]["delta_down"] == pytest.approx(down, abs=1e-6)


def test_rows_keep_the_texts_and_the_edit_only_swaps_genres(flip_run):
    split, _, summaries, result, rows = flip_run
    kept = [r for r in rows if "skipped" not in r]
    assert len(kept) == result["fake-tears"]["1.0"]["n_users"] == result["meta"]["n_users"]
    for row in kept:
        assert row["original"] == summaries[row["user"]] and row["editor"] == "offline"
        assert row["edited"].replace("sci-fi", "sci fi") == row["original"].replace(row["favourite"], "\0").replace(
            row["least_favourite"], row["favourite"]).replace("\0", row["least_favourite"])
        assert set(row["references"]) == {"random", "oracle"}
        assert row["references"]["oracle"]["edited"].startswith("Summary: The user loves " + row["least_favourite"])
    json.dumps(result, allow_nan=False)
    json.dumps(rows, allow_nan=False)


def test_skips_are_counted_with_reasons():
    split = small_split()
    summaries = hand_summaries(split)
    users = [int(u) for u in limit_users(split.test_users, 10, seed=0)]  # the users --limit 10 takes
    del summaries[users[0]]
    summaries[users[1]] = "Summary: The user enjoys comedy and drama movies."  # no dislike
    result, rows = run_flip([FakeTears(split)], split, summaries, "offline", [1.0], seed=0, limit=10,
                            references=())
    assert result["meta"]["skipped"] == {NO_SUMMARY: 1, NOT_FOUND: 1}
    assert result["meta"]["n_test_users"] == 10 and result["fake-tears"]["1.0"]["n_users"] == 8
    assert "references" not in result
    assert {r["user"]: r["skipped"] for r in rows if "skipped" in r} == {users[0]: NO_SUMMARY, users[1]: NOT_FOUND}


def test_seeded_and_independent_of_limit():
    split = small_split()
    summaries = hand_summaries(split)
    model = FakeTears(split)
    a, rows_a = run_flip([model], split, summaries, "offline", [1.0], seed=5, limit=12)
    b, rows_b = run_flip([model], split, summaries, "offline", [1.0], seed=5, limit=12)
    assert a == b
    _, rows_c = run_flip([model], split, summaries, "offline", [1.0], seed=5, limit=20)
    pairs = {r["user"]: r["references"]["random"]["pair"] for r in rows_c if "skipped" not in r}
    assert all(pairs[r["user"]] == r["references"]["random"]["pair"] for r in rows_a if "skipped" not in r)


def test_bad_inputs():
    split = small_split()
    summaries = hand_summaries(split)
    model = FakeTears(split)
    with pytest.raises(TearsBenchError, match="alpha must be in"):
        run_flip([model], split, summaries, "offline", [0.5, 1.5])
    with pytest.raises(TearsBenchError, match="alpha must be in"):
        run_flip([model], split, summaries, "offline", [-0.1])
    with pytest.raises(TearsBenchError, match="at least 2 genres"):
        run_flip([model], dataclasses.replace(split, genres=["drama"]), summaries, "offline", [1.0])
    with pytest.raises(TearsBenchError, match="known editors"):
        run_flip([model], split, summaries, "gpt4", [1.0])
    with pytest.raises(TearsBenchError, match="may not be named"):
        run_flip({"references": model}, split, summaries, "offline", [1.0])

"""The rank task: a hand case with known ranks, then the synthetic split with the fake model."""
from __future__ import annotations

import json
import re
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from tears_bench.tasks.common import ranks_of
from tears_bench.tasks.editors import Editor, NO_SUMMARY
from tears_bench.tasks.rank import NO_ELIGIBLE, run_rank
from tears_bench.errors import TearsBenchError

try:
    from test_tasks_fake import FakeTears, hand_summaries, small_split
except ImportError:
    from tests.test_tasks_fake import FakeTears, hand_summaries, small_split

N_ITEMS = 700
INPUTS = [650, 660]  # below every target, so they never sit between a target's old and new place
BOOSTS = [50, 200, 10]  # rank gained by attempts 0, 1, 2


def hand_split(targets_per_user: list[list[int]]):
    users = len(targets_per_user)
    rows = [u for u in range(users) for _ in INPUTS]
    fold_in = sp.csr_matrix((np.full(len(rows), 5.0), (rows, INPUTS * users)), shape=(users, N_ITEMS))
    t_rows = [u for u, ts in enumerate(targets_per_user) for _ in ts]
    target = sp.csr_matrix((np.ones(len(t_rows)), (t_rows, sum(targets_per_user, []))), shape=(users, N_ITEMS))
    return SimpleNamespace(
        dataset="hand", kind="movies", test_users=np.arange(users), test_input=fold_in, test_target=target,
        user_ids=np.array([f"u{u}" for u in range(users)]), item_ids=np.array([str(j) for j in range(N_ITEMS)]),
        item_titles=[f"Title {j}" for j in range(N_ITEMS)], item_genres=[("drama",)] * N_ITEMS, genres=["drama"],
        n_items=N_ITEMS)


class HandModel:
    """Item j scores -j (rank j, inputs excluded), except: "boost=K item=T" in the text moves item T
    up K places at alpha > 0; `sink` items score lowest of all."""

    def __init__(self, name="hand", sink=(), text_only=False):
        self.name, self.sink, self.text_only = name, set(sink), text_only

    def recommend(self, texts, fold_in, alphas):
        base = -torch.arange(N_ITEMS, dtype=torch.float64)
        for item in self.sink:
            base[item] = -10_000
        out = torch.zeros(len(alphas), len(texts), N_ITEMS, dtype=torch.float64)
        for u, text in enumerate(texts):
            scores = base.clone()
            match = re.search(r"boost=(\d+) item=(\d+)", text)
            for a, alpha in enumerate(alphas):
                row = scores.clone()
                if match and alpha > 0:
                    boost, item = int(match.group(1)), int(match.group(2))
                    row[item] = -(item - boost) + 0.5
                row[fold_in[u].indices] = float("-inf")
                out[a, u] = row
        return out


class BoostEditor(Editor):
    """Describes an item by its index; attempt k writes 'boost=BOOSTS[k] item=<index>'."""

    name = spec = "boost"

    def describe_item_many(self, titles, genres, kind="movies", attempt=0):
        return [t.split()[-1] for t in titles]

    def insert_sentence_many(self, summaries, descriptions, attempt=0, kind="movies"):
        return [f"{s} boost={BOOSTS[attempt]} item={d}" for s, d in zip(summaries, descriptions)]


def test_ranks_of_counts_strictly_higher_non_input_items():
    scores = torch.tensor([[[5.0, 3.0, float("-inf"), 4.0, 1.0]]])
    assert ranks_of(scores, torch.tensor([[[1, 4, 0, 3]]])).tolist() == [[[2, 3, 0, 1]]]


def test_hand_case_rank_change_and_median_attempt():
    # Item 50 ranks 50 (too high), 550 ranks 548 or 549 (too low); 300 and 450 are in [100, 500),
    # but model a sinks 300 and b sinks 450: eligibility is per model, so a's target is 450 (rank
    # 449 once 300 is sunk) and b's is 300. User 1 has no eligible target under either.
    split = hand_split([[50, 300, 450, 550], [50, 550]])
    models = [HandModel("a", sink=[300]), HandModel("b", sink=[450])]
    summaries = {0: "Summary: one. two. three.", 1: "Summary: x."}
    result, rows = run_rank(models, split, summaries, BoostEditor(), [0.0, 1.0], seed=0)
    assert result["meta"]["skipped"] == {NO_ELIGIBLE: 1}
    assert result["meta"]["n_eligible_users"] == 1 and result["meta"]["n_users"] == 1
    for name in ("a", "b"):
        assert result["meta"]["models"][name] == {"n_eligible_users": 1, "mean_eligible_targets": 1.0,
                                                  "n_users": 1, "skipped": {NO_ELIGIBLE: 1}}
    evaluated = [r for r in rows if "skipped" not in r]
    assert [(r["target_item"], list(r["ranks"]), r["n_eligible_targets"]) for r in evaluated] == \
        [(300, ["b"], {"b": 1}), (450, ["a"], {"a": 1})]
    ranks_b, ranks_a = evaluated[0]["ranks"]["b"]["1.0"], evaluated[1]["ranks"]["a"]["1.0"]
    assert ranks_b["original"] == 300 and ranks_b["all_attempts"] == BOOSTS
    # Median of (50, 200, 10) is 50: attempt 0, edited rank 250.
    assert ranks_b["rank_change"] == 50 and ranks_b["attempt"] == 0 and ranks_b["edited"] == 250
    # For a, boosting 450 by 200 also jumps the sunk 300: ranks 449 -> 399, 250, 439.
    assert ranks_a["original"] == 449 and ranks_a["all_attempts"] == [50, 199, 10] and ranks_a["edited"] == 399
    assert evaluated[0]["ranks"]["b"]["0.0"]["rank_change"] == 0
    assert result["a"]["1.0"] == {"rank_change": 50.0, "rank_change_median": 50.0,
                                  "rank_change_quartiles": [50.0, 50.0, 50.0], "rank_change_ci": [50.0, 50.0],
                                  "help_ratio": 1.0, "n_users": 1}
    assert result["b"]["0.0"]["help_ratio"] == 0.0


def test_target_is_picked_at_random_among_eligible_and_seeded():
    split = hand_split([[120, 200, 300, 400, 450]] * 12)
    summaries = {u: "Summary: a. b." for u in range(12)}
    picks = {}
    for seed in (0, 1):
        _, rows = run_rank([HandModel()], split, summaries, BoostEditor(), [1.0], seed=seed)
        picks[seed] = [r["target_item"] for r in rows]
        assert all(r["n_eligible_targets"] == {"hand": 5} for r in rows)
    assert len(set(picks[0])) > 1 and picks[0] != picks[1]
    _, again = run_rank([HandModel()], split, summaries, BoostEditor(), [1.0], seed=0)
    assert [r["target_item"] for r in again] == picks[0]


def test_window_is_a_parameter_and_checked():
    split = hand_split([[50, 300]])
    result, rows = run_rank([HandModel()], split, {0: "Summary: a. b."}, BoostEditor(), [1.0], window=(10, 60))
    assert rows[0]["target_item"] == 50 and result["hand"]["1.0"]["rank_change"] == 50  # median of (50, 50, 10)
    with pytest.raises(TearsBenchError):
        run_rank([HandModel()], split, {0: "x"}, BoostEditor(), [1.0], window=(60, 10))
    with pytest.raises(TearsBenchError, match="alpha"):
        run_rank([HandModel()], split, {0: "x"}, BoostEditor(), [2.0])


def test_rank_task_on_synthetic_split_with_offline_editor():
    split = small_split()
    summaries = hand_summaries(split)
    del summaries[int(split.test_users[0])]
    models = [FakeTears(split), FakeTears(split, name="fake-base", text_only=True)]
    result, rows = run_rank(models, split, summaries, "offline", [0.0, 1.0], seed=0)
    meta = result["meta"]
    assert meta["skipped"][NO_SUMMARY] == 1
    assert meta["n_users"] + sum(meta["skipped"].values()) == meta["n_test_users"] == len(split.test_users)
    assert meta["n_users"] > 0 and list(result["fake-base"]) == ["1.0"]
    for row in (r for r in rows if "skipped" not in r):
        assert row["target_item"] in split.test_target[int(np.flatnonzero(split.test_users == row["user"])[0])].indices
        for model_ranks in row["ranks"].values():
            for entry in model_ranks.values():
                assert 100 <= entry["original"] < 500
                assert entry["rank_change"] == entry["original"] - entry["edited"]
                assert entry["rank_change"] == sorted(entry["all_attempts"])[1]
        assert len(row["attempts"]) == 3 and len(row["attempts"][0]["description"].split()) == 5
        assert all(a["edited"].startswith("Summary:") for a in row["attempts"])
    assert result["fake-tears"]["0.0"]["rank_change"] == 0  # CF only: text edits do nothing
    json.dumps(result, allow_nan=False)
    json.dumps(rows, allow_nan=False)

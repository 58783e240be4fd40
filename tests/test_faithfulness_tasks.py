"""Faithfulness of the tasks: the guided controls, per-model rank eligibility, seeded --limit."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import tears_bench.tasks.rank as rank_module
from tears_bench.tasks.common import limit_rows, limit_users, select_users
from tears_bench.tasks.flip import run_flip
from tears_bench.tasks.guided import run_guided
from tears_bench.tasks.rank import run_rank
from tears_bench.errors import TearsBenchError
from tears_bench.harness import RunConfig

try:
    from test_tasks_fake import FakeTears, hand_summaries, small_split
    from test_tasks_rank import BoostEditor, HandModel, hand_split
except ImportError:
    from tests.test_tasks_fake import FakeTears, hand_summaries, small_split
    from tests.test_tasks_rank import BoostEditor, HandModel, hand_split

# --- guided: two genres, 20 items each; the latent is (drama, comedy) weight --------------------
GENRES = ["drama", "comedy"]


class TwoGenreModel:
    """decode(z) = z @ genres + a tie-breaker, so the top 20 are all drama (z0 > z1) or all comedy.
    The user (CF) latent likes comedy; "More/Less {g}" encodes 2 * g; the EMPTY summary leans to
    drama, as a real text head's bias may."""

    name, text_only = "two", False

    def __init__(self):
        self.genres = torch.tensor([[1.0] * 20 + [0.0] * 20, [0.0] * 20 + [1.0] * 20])
        self.tie = -1e-3 * torch.arange(40, dtype=torch.float32)

    def text_latent(self, texts):
        return torch.tensor([[1.5, 0.0] if not t else [2.0 * (g in t.lower()) for g in GENRES] for t in texts])

    def cf_latent(self, fold_in):
        return torch.tensor([[0.0, 0.5]] * fold_in.shape[0])

    def decode(self, z):
        return z @ self.genres + self.tie


def two_genre_split():
    return SimpleNamespace(
        dataset="hand", kind="movies", genres=GENRES, n_items=40, test_users=np.arange(1),
        test_input=sp.csr_matrix(np.zeros((1, 40))), user_ids=np.array(["u0"]),
        genre_matrix=lambda: np.array([[True] * 20 + [False] * 20, [False] * 20 + [True] * 20]))


@pytest.mark.parametrize("control, more", [
    # empty: 0.5 z_more + 0.5 z_user against 0.5 z_empty + 0.5 z_user = (0.75, 0.25), all drama:
    # "More drama" adds nothing the empty summary does not; "More comedy" (0, 1.25) flips to comedy.
    ("empty", {"drama": 0.0, "comedy": 1.0, "mean": 0.5}),
    # cf: against z_user = (0, 0.5), all comedy: "More drama" (1, 0.25) is credited with the flip.
    ("cf", {"drama": 1.0, "comedy": 0.0, "mean": 0.5}),
])
def test_guided_controls_by_hand(control, more):
    result, rows = run_guided([TwoGenreModel()], two_genre_split(), control=control)
    assert result["two"]["more"] == more and result["meta"]["control"] == control
    # "less" is the same under both: (z_user - z_less) / 2 against (z_user - z_empty) / 2 = (-0.75, 0.25).
    assert result["two"]["less"] == {"drama": 0.0, "comedy": 1.0, "mean": 0.5}
    assert rows[0]["more"] == {g: more[g] for g in GENRES}


def test_guided_default_is_the_authors_empty_control_and_bad_control_refused():
    assert run_guided([TwoGenreModel()], two_genre_split())[0]["meta"]["control"] == "empty"
    with pytest.raises(TearsBenchError, match="guided control"):
        run_guided([TwoGenreModel()], two_genre_split(), control="none")


def test_run_defaults_follow_the_authors():
    config = RunConfig(tasks=["flip"])
    assert config.loss_scale == "authors" and config.guided_control == "empty"
    assert config.task_key("flip") != RunConfig(tasks=["flip"], loss_scale="sum").task_key("flip")


def test_guided_control_is_in_the_guided_key_only():
    empty, cf = RunConfig(tasks=["guided"]), RunConfig(tasks=["guided"], guided_control="cf")
    assert empty.task_key("guided") != cf.task_key("guided")
    assert empty.task_key("flip") == cf.task_key("flip")


# --- rank: eligibility and the pick are per model ----------------------------------------------

def test_rank_results_of_a_model_do_not_depend_on_the_other_models():
    # Every user has targets 300 and 450 in the window of model a; model b sinks 450. Before, a
    # target had to be eligible for every model, so adding b forced a onto 300.
    split = hand_split([[120, 300, 450, 550]] * 16)
    summaries = {u: "Summary: a. b. c." for u in range(16)}
    alone, rows_alone = run_rank([HandModel("a")], split, summaries, BoostEditor(), [0.0, 1.0], seed=3)
    both, rows_both = run_rank([HandModel("a"), HandModel("b", sink=[450])], split, summaries, BoostEditor(),
                               [0.0, 1.0], seed=3)
    assert both["a"] == alone["a"] and both["meta"]["models"]["a"] == alone["meta"]["models"]["a"]
    picked = lambda rows, m: {(r["user"], r["target_item"]): r["ranks"][m] for r in rows if m in r.get("ranks", {})}  # noqa: E731
    assert picked(rows_both, "a") == picked(rows_alone, "a")
    assert {item for _, item in picked(rows_alone, "a")} == {120, 300, 450}  # a random pick among a's eligible
    assert {item for _, item in picked(rows_both, "b")} <= {120, 300}
    reversed_order, _ = run_rank([HandModel("b", sink=[450]), HandModel("a")], split, summaries, BoostEditor(),
                                 [0.0, 1.0], seed=3)
    assert reversed_order["a"] == alone["a"] and reversed_order["b"] == both["b"]


def test_rank_progress_bar_is_over_users_and_off_without_a_terminal(monkeypatch):
    bars = []

    class Recorder:
        def __init__(self, **options):
            self.options, self.count = options, 0
            bars.append(self)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, n):
            self.count += n

    monkeypatch.setattr(rank_module, "tqdm", Recorder)
    split = hand_split([[300, 450]] * 5)
    run_rank([HandModel("a")], split, {u: "Summary: a. b." for u in range(5)}, BoostEditor(), [1.0])
    assert len(bars) == 1 + 3  # the original ranking, then one pass per attempt
    assert all(b.options["disable"] is None and b.options["unit"] == "user" for b in bars)
    assert [b.count for b in bars] == [5, 5, 5, 5] and bars[0].options["total"] == 5


# --- --limit: a seeded random subset, the same in every task ----------------------------------

def test_limit_takes_a_seeded_random_subset_not_the_first_users():
    rows = limit_rows(1000, 50, seed=0)
    assert len(rows) == 50 and len(set(rows.tolist())) == 50 and np.all(np.diff(rows) > 0)
    assert rows.tolist() != list(range(50)) and rows.max() > 500  # spread over the whole list
    assert limit_rows(1000, 50, seed=0).tolist() == rows.tolist()  # a rerun: the same users
    assert limit_rows(1000, 50, seed=1).tolist() != rows.tolist()
    assert set(limit_rows(1000, 20, seed=0).tolist()) <= set(rows.tolist())  # nested limits
    assert limit_rows(30, 50).tolist() == list(range(30)) and limit_rows(30, None).tolist() == list(range(30))
    users = np.arange(100, 1100)
    assert limit_users(users, 50, seed=0).tolist() == (users[rows]).tolist()
    with pytest.raises(TearsBenchError, match="--limit"):
        limit_rows(10, 0)


def test_limit_is_the_same_subset_in_every_task():
    split = small_split()
    summaries = hand_summaries(split)
    limit = 12
    expected = set(limit_users(split.test_users, limit, seed=0).tolist())
    assert expected != set(split.test_users[:limit].tolist())
    _, users, _, _, _ = select_users(split, summaries, limit, seed=0)
    assert set(users.tolist()) == expected
    models = [FakeTears(split)]
    _, flip_rows = run_flip(models, split, summaries, "offline", [1.0], seed=0, limit=limit)
    _, rank_rows = run_rank(models, split, summaries, "offline", [1.0], seed=0, limit=limit)
    _, guided_rows = run_guided(models, split, summaries, seed=0, limit=limit)
    for rows in (flip_rows, rank_rows, guided_rows):
        assert {r["user"] for r in rows} == expected
    # Rerunning gives the same users and the same numbers.
    again, _ = run_flip(models, split, summaries, "offline", [1.0], seed=0, limit=limit)
    first, _ = run_flip(models, split, summaries, "offline", [1.0], seed=0, limit=limit)
    assert again == first

"""The guided task with the fake model: "More g" can only raise genre g, "Less g" only lower it."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tears_bench.tasks.common import limit_users
from tears_bench.tasks.guided import guided_texts, run_guided
from tears_bench.errors import TearsBenchError
from tears_bench.metrics import genre_ndcg_at_k, top_k

try:
    from test_tasks_fake import FakeTears, hand_summaries, small_split
except ImportError:
    from tests.test_tasks_fake import FakeTears, hand_summaries, small_split


@pytest.fixture(scope="module")
def guided_run():
    split = small_split()
    models = [FakeTears(split), FakeTears(split, name="fake-base", text_only=True)]
    summaries = hand_summaries(split)
    result, rows = run_guided(models, split, summaries, None, [0.0, 1.0], seed=0)
    return split, models, result, rows


def test_more_and_less_move_the_genre_the_right_way(guided_run):
    split, _, result, rows = guided_run
    genres = split.genres[:10]
    entry = result["fake-tears"]
    assert list(entry["more"]) == genres + ["mean"] and entry["n_users"] == len(split.test_users)
    assert entry["more"]["mean"] > 0.3 and entry["less"]["mean"] > 0.1
    # With the fake, every item of g gains the same amount: g can only climb (or fall, for less).
    model_rows = [r for r in rows if r["model"] == "fake-tears"]
    assert all(v >= 0 for r in model_rows for v in r["more"].values())
    assert all(v >= 0 for r in model_rows for v in r["less"].values())
    assert entry["user_latent"] == "cf" and result["fake-base"]["user_latent"] == "own summary"
    json.dumps(result, allow_nan=False)


def test_one_user_by_hand(guided_run):
    split, models, result, rows = guided_run
    model = models[0]
    genre = split.genres[0]
    user_row = next(r for r in rows if r["model"] == "fake-tears")
    position = int(np.flatnonzero(split.test_users == user_row["user"])[0])
    fold_in = split.test_input[position:position + 1]
    z_cf = model.cf_latent(fold_in)
    z_more = model.text_latent([guided_texts(genre, "movies")[0]])

    def gndcg(z):
        scores = model.decode(z)
        scores[0, fold_in.indices] = float("-inf")
        return genre_ndcg_at_k(top_k(scores, 20), split.genre_matrix(), 0)[0]

    z_empty = model.text_latent([""])  # both controls mix in the empty summary (the authors')
    assert user_row["more"][genre] == pytest.approx(gndcg(0.5 * z_more + 0.5 * z_cf) - gndcg(0.5 * z_empty + 0.5 * z_cf),
                                                    abs=1e-6)
    z_less = model.text_latent([guided_texts(genre, "movies")[1]])
    assert user_row["less"][genre] == pytest.approx(gndcg((z_cf - z_empty) / 2) - gndcg((z_cf - z_less) / 2),
                                                    abs=1e-6)


def test_texts_follow_the_kind():
    assert guided_texts("fantasy", "books") == ("Summary: More fantasy books", "Summary: Less fantasy books")
    assert guided_texts("film noir", "movies")[1] == "Summary: Less film noir movies"


def test_text_only_model_needs_summaries():
    split = small_split()
    summaries = hand_summaries(split)
    for user in limit_users(split.test_users, 10, seed=0)[:3]:  # among the users --limit 10 takes
        del summaries[int(user)]
    result, rows = run_guided([FakeTears(split, name="base", text_only=True), FakeTears(split)], split, summaries,
                              limit=10)
    assert result["base"]["n_users"] == 7 and result["fake-tears"]["n_users"] == 10
    assert result["meta"]["skipped"] == {"no summary (text-only models)": 3}
    with pytest.raises(TearsBenchError, match="alpha"):
        run_guided([FakeTears(split)], split, summaries, alphas=[1.2])

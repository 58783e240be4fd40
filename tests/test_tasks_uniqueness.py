"""Summary uniqueness: hand-computed BLEU and Levenshtein values, nltk parity, sampling."""
from __future__ import annotations

import json

import pytest
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu as nltk_bleu

from tears_bench.tasks.uniqueness import run_uniqueness, sample_pairs, sentence_bleu, tokenize
from tears_bench.errors import TearsBenchError

TEXTS = {
    1: "Summary: The user enjoys dramas about families and quiet, moving endings.",
    2: "Summary: The user loves loud action films with car chases.",
    3: "Summary: They like comedies; they avoid horror.",
    4: "Summary: The user enjoys dramas about families and loud endings.",
    5: "Summary: Westerns, westerns and more westerns!",
}


def test_identical_summaries_give_bleu_one_and_distance_zero():
    result, rows = run_uniqueness(summaries={"gpt": TEXTS, "regen": dict(TEXTS)}, pairs=50, seed=0)
    within = result["within_user"]
    assert within["pairs"] == 5 and within["bleu_mean"] == 1.0 and within["levenshtein_mean"] == 0.0
    assert within["by_source_pair"]["gpt|regen"]["levenshtein_median"] == 0.0
    assert all(r["bleu"] == 1.0 for r in rows if r["kind"] == "within")


def test_word_level_levenshtein_by_hand():
    a = {1: "the user likes drama", 2: "x"}
    b = {1: "The user hates drama films", 2: "x"}
    # likes -> hates (substitute), + films (insert): 2 word edits, over 5 words.
    result, _ = run_uniqueness(summaries={"a": a, "b": b}, pairs=0)
    by_pair = result["within_user"]
    assert by_pair["pairs"] == 2
    assert by_pair["levenshtein_mean"] == pytest.approx(1.0)  # (2 + 0) / 2
    assert by_pair["levenshtein_normalised_mean"] == pytest.approx((2 / 5 + 0) / 2)


def test_bleu_matches_nltk():
    smoothing = SmoothingFunction().method1
    texts = list(TEXTS.values()) + ["a b", "Summary:", "", "the the the the the", "the user the user enjoys"]
    for hyp in texts:
        for ref in texts:
            expected = nltk_bleu([tokenize(ref)], tokenize(hyp), smoothing_function=smoothing)
            assert sentence_bleu(hyp, ref) == pytest.approx(expected, abs=1e-12), (hyp, ref)
    assert sentence_bleu(TEXTS[1], TEXTS[1]) == pytest.approx(1.0)


def test_between_user_pairs_are_of_different_users_and_seeded():
    first, second = sample_pairs(5, 2000, seed=3)
    assert (first != second).all() and set(first) == set(range(5)) and set(second) == set(range(5))
    again = sample_pairs(5, 2000, seed=3)
    assert (again[0] == first).all() and (again[1] == second).all()
    result, rows = run_uniqueness(summaries=TEXTS, pairs=300, seed=1)
    between = result["between_users"]
    # 5 users have 5 * 4 = 20 distinct ordered pairs: all of them, none repeated, not 300 draws.
    assert between["pairs"] == 20 and between["n_users"] == 5 and result["within_user"] is None
    assert all(r["users"][0] != r["users"][1] for r in rows)
    assert 0 < between["bleu_mean"] < 1 and between["levenshtein_mean"] > 3
    assert run_uniqueness(summaries=TEXTS, pairs=300, seed=1)[0] == result
    json.dumps(result, allow_nan=False)


def test_length_statistics():
    result, _ = run_uniqueness(summaries={1: "one two three", 2: "one two three four five"}, pairs=10)
    assert result["length"]["summaries"] == {"n": 2, "mean": 4.0, "median": 4.0, "min": 3, "max": 5}


def test_limit_and_bad_input():
    result, _ = run_uniqueness(summaries=TEXTS, pairs=10, limit=2)
    assert result["between_users"]["n_users"] == 2 and result["length"]["summaries"]["n"] == 2
    single, _ = run_uniqueness(summaries={1: "alone"}, pairs=10)
    assert single["between_users"]["pairs"] == 0 and single["between_users"]["note"] == "fewer than two users"
    with pytest.raises(TearsBenchError):
        run_uniqueness(summaries={})
    with pytest.raises(TearsBenchError, match="has no text"):
        run_uniqueness(summaries={"a": {1: "x"}, "b": {1: None}})
    with pytest.raises(TearsBenchError):
        run_uniqueness(summaries=TEXTS, pairs=-1)


def test_real_summaries_are_fast_and_unique(shared_data):
    import time

    summaries = json.loads((shared_data / "summaries" / "tears-gpt4-ml-1m.json").read_text())
    start = time.perf_counter()
    result, _ = run_uniqueness(summaries=summaries, pairs=2000, seed=0)
    assert time.perf_counter() - start < 30
    between = result["between_users"]
    assert between["bleu_mean"] < 0.2 and between["levenshtein_normalised_mean"] > 0.7
    assert 100 < result["length"]["summaries"]["median"] < 250

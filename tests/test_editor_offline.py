"""The offline editor on hand-written summaries: genres found, swapped, nothing else touched."""
from __future__ import annotations

import json
import re

import pytest

from tears_bench.tasks.editors import NOT_FOUND, Skip, get_editor
from tears_bench.tasks.editors.offline import OfflineEditor, five_word_description, genre_scores, sentence_spans
from tears_bench.errors import TearsBenchError

GENRES = ["comedy", "drama", "thriller", "romance", "action", "horror", "sci fi", "adventure", "crime",
          "children's", "war", "musical", "animation", "fantasy", "mystery", "film noir", "western", "documentary"]
EDITOR = OfflineEditor()


@pytest.mark.parametrize("summary, expected", [
    ("Summary: The user enjoys dramas and loves science fiction. They do not enjoy horror films.",
     ("sci fi", "horror")),  # "loves" outweighs "enjoys"
    ("Summary: The user enjoys comedies but avoids horror.", ("comedy", "horror")),
    ("Summary: While the user appreciates westerns, they dislike musicals.", ("western", "musical")),
    ("Summary: The user likes thrillers, whereas romance leaves them cold and they steer clear of it.",
     ("thriller", "romance")),
    ("Summary: The user doesn't enjoy war movies. They are drawn to animated films.", ("animation", "war")),
    ("Summary: The user is fond of film noir; however, they are not drawn to documentaries.",
     ("film noir", "documentary")),
    ("Summary: The user gravitates towards sci-fi and has a penchant for heist stories. "
     "Conversely, children's films are less appreciated.", ("sci fi", "children's")),
    ("Summary: The user enjoys mysteries. Romantic comedies do not resonate with them.",
     ("mystery", "comedy")),  # the noun outweighs the adjective
])
def test_finds_favourite_and_least_favourite(summary, expected):
    assert EDITOR.find_genres(summary, GENRES) == expected


def test_contrast_clause_without_a_cue_takes_the_opposite_sentiment():
    scores = genre_scores("Summary: The user loves action, but not horror.", GENRES)
    assert scores["action"][0] > 0 > scores["horror"][0]


def test_what_others_enjoy_counts_as_disliked():
    summary = ("Summary: The user enjoys dramas. While other viewers may enjoy musicals, "
               "they do not appeal to this user.")
    assert EDITOR.find_genres(summary, GENRES) == ("drama", "musical")


def test_no_dislike_means_no_pair():
    assert EDITOR.find_genres("Summary: The user enjoys drama and loves comedy.", GENRES) is None
    assert EDITOR.find_genres_many(["Summary: The user enjoys drama."], GENRES) == [Skip(NOT_FOUND)]


def test_only_listed_genres_count():
    summary = "Summary: The user enjoys dramas but avoids horror."
    assert EDITOR.find_genres(summary, ["drama", "comedy"]) is None
    assert "horror" not in genre_scores(summary, ["drama", "comedy"])


def test_words_inside_other_words_are_not_genres():
    scores = genre_scores("Summary: The user loves melodramas and warm stories but dislikes wartime epics.", GENRES)
    assert "drama" not in scores and scores["war"][0] < 0


def test_flip_swaps_every_form_and_keeps_the_rest_byte_identical():
    summary = ("Summary: The user loves Dramas, dramatic stories and DRAMA above all.\n\n"
               "They dislike horror; horror-themed films and scary tales bore them. Melodrama is fine.")
    edited = EDITOR.flip(summary, "drama", "horror")
    assert edited == ("Summary: The user loves Horror, scary stories and HORROR above all.\n\n"
                      "They dislike drama; drama-themed films and dramatic tales bore them. Melodrama is fine.")
    # Everything between genre words is byte-identical.
    pattern = r"(?i)\b(?:dramas|dramatic|drama|horror|scary)\b"
    assert re.split(pattern, summary) == re.split(pattern, edited)


def test_flip_of_unmentioned_genres_changes_nothing():
    summary = "Summary: The user enjoys comedies but avoids horror."
    assert EDITOR.flip(summary, "western", "musical") == summary


def test_flip_then_find_swaps_the_pair():
    summary = "Summary: The user enjoys comedies and crime stories but avoids horror and war films."
    favourite, least = EDITOR.find_genres(summary, GENRES)
    assert EDITOR.find_genres(EDITOR.flip(summary, favourite, least), GENRES) == (least, favourite)


def test_sci_fi_surface_forms_are_replaced_as_one_word():
    edited = EDITOR.flip("Summary: Loves science fiction and sci-fi. Hates westerns.", "sci fi", "western")
    assert edited == "Summary: Loves western and western. Hates sci-fi."


def test_five_word_description_is_five_lower_case_words_and_deterministic():
    for title, genres, kind in [("Star Wars (1977)", ("action", "adventure", "sci fi"), "movies"),
                                ("Shawshank Redemption, The (1994)", ("drama",), "movies"),
                                ("Harry Potter", ("young adult", "fantasy"), "books"), ("(1999)", (), "movies")]:
        words = five_word_description(title, genres, kind).split()
        assert len(words) == 5 and all(w == w.lower() for w in words)
        assert EDITOR.describe_item(title, genres, kind) == " ".join(words)
    assert five_word_description("Shawshank Redemption, The (1994)", ("drama",)) == \
        "emotional drama movies about redemption"


def test_insert_sentence_replaces_one_sentence_and_attempts_differ():
    summary = ("Summary: The user enjoys dramas. They like stories about families. "
               "They avoid horror films. They appreciate clever comedies.")
    description = "funny comedy movies about harbor"
    edits = [EDITOR.insert_sentence(summary, description, attempt) for attempt in range(3)]
    assert len(set(edits)) == 3
    for edited in edits:
        assert edited.startswith("Summary: The user enjoys dramas. ")
        assert edited.count(f"The user also enjoys {description}.") == 1
        assert len(sentence_spans(edited)) == len(sentence_spans(summary))
    # The most similar sentence (shares "comedy") goes first.
    assert edits[0].endswith(f"The user also enjoys {description}.")


def test_insert_sentence_into_a_one_sentence_summary_appends():
    assert EDITOR.insert_sentence("Summary: The user enjoys dramas.", "a b c d e") == \
        "Summary: The user enjoys dramas. The user also enjoys a b c d e."


def test_get_editor_names_and_errors():
    assert get_editor("offline").spec == "offline"
    assert get_editor(EDITOR) is EDITOR
    with pytest.raises(TearsBenchError, match="known editors: offline"):
        get_editor("gpt-4")
    with pytest.raises(TearsBenchError, match="unknown editor"):
        get_editor("mistral:large")


def test_offline_editor_on_real_summaries(shared_data):
    summaries = json.loads((shared_data / "summaries" / "tears-gpt4-ml-1m.json").read_text())
    texts = list(summaries.values())[:300]
    picks = EDITOR.find_genres_many(texts, GENRES)
    found = [(t, p) for t, p in zip(texts, picks) if p]
    assert len(found) > 0.8 * len(texts)
    for text, (favourite, least) in found:
        assert favourite in GENRES and least in GENRES and favourite != least
        edited = EDITOR.flip(text, favourite, least)
        assert edited != text and edited.startswith("Summary:")
    # The first summary: action/adventure/thrillers liked, horror disliked.
    assert picks[0][1] == "horror"

"""LLM editors through a local fake OpenAI/Anthropic server and the real clients of tears_bench.llm.

The fake "LLM" answers with the offline editor's reading of the summary in the prompt, so what
comes back over HTTP is checkable; a scripted answer covers "a genre outside the list".
"""
from __future__ import annotations

import json
import re

import pytest

from tears_bench.tasks.editors import NOT_FOUND, OUTSIDE_LIST, SAME_GENRE, Skip, get_editor
from tears_bench.tasks.editors.llm import LLMEditor, clean_five_words, clean_summary, parse_genre_answer
from tears_bench.tasks.editors.offline import OfflineEditor
from tears_bench.tasks.flip import run_flip
from tests.fake_llm_server import FakeLLMServer, Reply

try:
    from test_tasks_fake import FakeTears, hand_summaries, small_split
except ImportError:  # tests collected as a package
    from tests.test_tasks_fake import FakeTears, hand_summaries, small_split

GENRES = ["comedy", "drama", "horror", "sci fi", "western"]
OFFLINE = OfflineEditor()


def _prompt(body: dict) -> str:
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


def _summary_in(prompt: str) -> str:
    return re.search(r"\n\n(Summary:.*?)\n\n", prompt, re.DOTALL).group(1)


def llm_behaviour(outside_for: str | None = None):
    """Answers like a careful LLM would, from the offline editor; `outside_for`: a phrase whose
    summaries get an answer naming a genre outside the list."""

    def answer(n: int, path: str, body: dict) -> Reply:
        prompt = _prompt(body)
        if "least favourite genre, both taken from this list" in prompt:
            summary = _summary_in(prompt)
            listed = re.search(r"list: \[(.*?)\]", prompt).group(1).split(", ")
            if outside_for and outside_for in summary:
                return Reply(text='{"favourite": "space opera", "least_favourite": "horror"}')
            pick = OFFLINE.find_genres(summary, listed) or ("none", "none")
            return Reply(text=f'```json\n{{"favourite": "{pick[0].title()}", "least_favourite": "{pick[1]}"}}\n```')
        if "becomes their least favourite genre" in prompt:
            fav, least = re.search(r"genre, (.+?), becomes their least favourite genre, and their least favourite "
                                   r"genre, (.+?), becomes", prompt).groups()
            return Reply(text=OFFLINE.flip(_summary_in(prompt), fav, least))
        if "in exactly five words" in prompt:
            return Reply(text=f'"Quiet rivers, temperature {body["temperature"]} tales."')
        if "in one new sentence" in prompt:
            five = re.search(r'described as: "(.*?)"', prompt).group(1)
            return Reply(text=f"Here is the summary:\n{_summary_in(prompt)} The user also enjoys {five}.")
        return Reply(status=400, message="unexpected prompt")

    return answer


def test_parse_genre_answer_is_robust():
    assert parse_genre_answer('{"favourite": "Drama", "least_favourite": "Sci-Fi"}', GENRES) == ("drama", "sci fi")
    assert parse_genre_answer("Sure!\n```json\n{'favorite': 'Comedies', 'least_favorite': 'westerns'}\n```",
                              GENRES) == ("comedy", "western")
    assert parse_genre_answer("Favourite: horror\nLeast favourite: drama", GENRES) == ("horror", "drama")
    assert parse_genre_answer('{"favourite": "space opera", "least_favourite": "drama"}', GENRES) == \
        Skip(OUTSIDE_LIST, '{"favourite": "space opera", "least_favourite": "drama"}')
    assert parse_genre_answer('{"favourite": "drama", "least_favourite": "drama"}', GENRES).reason == SAME_GENRE
    assert parse_genre_answer("I cannot tell.", GENRES).reason == NOT_FOUND
    assert parse_genre_answer("", GENRES).reason == NOT_FOUND


def test_cleaning_answers():
    assert clean_summary("Here is the rewritten summary:\nThe user loves drama.") == "Summary: The user loves drama."
    assert clean_summary("  ") == Skip("editor returned no text", "  ")
    assert clean_five_words('"Heist, betrayal, and redemption unfold slowly."') == "Heist betrayal and redemption unfold"


def test_openai_compatible_editor_round_trip():
    with FakeLLMServer(behaviour=llm_behaviour()) as server:
        editor = get_editor("openai-compatible:fake-model", base_url=server.openai_base_url, concurrency=2)
        assert isinstance(editor, LLMEditor) and editor.spec == "openai-compatible:fake-model"
        summaries = ["Summary: The user enjoys comedies but avoids horror.",
                     "Summary: The user loves westerns. They dislike sci-fi."]
        picks = editor.find_genres_many(summaries, GENRES)
        assert picks == [("comedy", "horror"), ("western", "sci fi")]
        flipped = editor.flip_many(summaries, picks)
        assert flipped[0] == "Summary: The user enjoys horror but avoids comedy."
        body = server.requests[0][1]
        assert body["temperature"] == 0.0 and body["model"] == "fake-model"
        # Answers are cached: asking again sends nothing.
        count = server.count
        assert editor.find_genres_many(summaries, GENRES) == picks
        assert server.count == count


def test_rank_attempts_are_sampled_replicates():
    with FakeLLMServer(behaviour=llm_behaviour()) as server:
        editor = get_editor("openai-compatible:fake-model", base_url=server.openai_base_url)
        first = editor.describe_item_many(["Blade Runner (1982)"], [["film noir", "sci fi"]], "movies", attempt=0)
        second = editor.describe_item_many(["Blade Runner (1982)"], [["film noir", "sci fi"]], "movies", attempt=1)
        assert first == second == ["Quiet rivers temperature 0.7 tales"]
        assert server.count == 2  # same prompt, two replicate indices: two requests
        inserted = editor.insert_sentence_many(["Summary: A. B."], first, attempt=2)
        assert inserted == ["Summary: A. B. The user also enjoys Quiet rivers temperature 0.7 tales."]
        editor.describe_item_many(["Blade Runner (1982)"], [["film noir", "sci fi"]], "movies", attempt=1)
        assert server.count == 3  # replicate 1 came from the cache


def test_anthropic_editor(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-123456")
    with FakeLLMServer(behaviour=llm_behaviour()) as server:
        editor = get_editor("anthropic:fake-claude", base_url=server.anthropic_base_url)
        assert editor.find_genres("Summary: The user enjoys dramas but avoids westerns.", GENRES) == \
            ("drama", "western")
        assert server.requests[0][0] == "/v1/messages"


def test_flip_task_with_llm_editor_counts_genres_outside_the_list():
    split = small_split()
    from tears_bench.tasks.common import limit_users

    users = limit_users(split.test_users, 8, seed=0)  # the users --limit 8 takes
    summaries = hand_summaries(split, users)
    # Two users' summaries get an answer naming a genre outside the list.
    for user in users[:2]:
        summaries[int(user)] += " Spaceships are nice."
    with FakeLLMServer(behaviour=llm_behaviour(outside_for="Spaceships")) as server:
        editor = get_editor("openai-compatible:fake-model", base_url=server.openai_base_url)
        result, rows = run_flip([FakeTears(split)], split, summaries, editor, [0.0, 1.0], seed=0, limit=8,
                                references=("random",))
    assert result["meta"]["skipped"] == {OUTSIDE_LIST: 2}
    assert result["fake-tears"]["1.0"]["n_users"] == 6
    skipped = [r for r in rows if "skipped" in r]
    assert {r["user"] for r in skipped} == {int(u) for u in users[:2]}
    assert "space opera" in skipped[0]["editor_answer"]
    assert result["fake-tears"]["1.0"]["delta_up"] > 0
    assert result["meta"]["editor"]["spec"] == "openai-compatible:fake-model"
    json.dumps(result, allow_nan=False)


def test_bad_llm_spec():
    from tears_bench.errors import TearsBenchError

    with pytest.raises(TearsBenchError):
        get_editor("openai-compatible:")

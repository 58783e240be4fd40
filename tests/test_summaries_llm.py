"""LLM summarizers end to end: prompt, store, flags, resume and the `summarize` command."""
from __future__ import annotations

import json

import pytest

from tears_bench.cli import main
from tears_bench.data.split import build_split
from tears_bench.data.synthetic import generate
from tears_bench.errors import TearsBenchError
from tests.fake_llm_server import FakeLLMServer, Reply, default_text
from tears_bench.summaries import PROMPT_VERSION, get_summaries, summary_messages
from tears_bench.summaries.prompt import system_instruction

SPEC = "openai:gpt-4o-mini"
DATASET = "synthetic:users=200,items=300,seed=0"


@pytest.fixture(scope="module")
def split():
    return build_split(generate(users=200, items=300, seed=0))


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-openai-0001")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-secret-0002")
    monkeypatch.setenv("TEARS_BENCH_LLM_RETRY_DELAY", "0.001")
    monkeypatch.setenv("TEARS_BENCH_LLM_RETRIES", "2")
    with FakeLLMServer(words=130) as fake:
        yield fake


def test_prompt_follows_the_protocol(split):
    system, user = summary_messages(split, 3)
    assert system.role == "system" and user.role == "user"
    for phrase in ["about 200 words", "Do not mention any titles", "(1) the genres the user enjoys",
                   "(4) the plot points and themes the user does not enjoy but that other people may like",
                   'Begin your answer with "Summary:"']:
        assert phrase in system.content
    pairs = split.summary_set(3)
    blocks = user.content.split("\n\n")[1:]
    assert len(blocks) == len(pairs)
    newest_item, newest_rating = pairs[-1]
    assert blocks[0] == (f"Title: {split.catalog.titles[newest_item]}\nRating: {int(newest_rating)}\n"
                         f"Genres: {', '.join(split.catalog.genres[newest_item])}")
    books = system_instruction("books")
    assert "books" in books and "authors" in books and "genres" not in books.split("four parts")[0]


def test_llm_summaries_metadata_store_and_rerun(split, server):
    summaries = get_summaries(split, SPEC, llm_base_url=server.openai_base_url, limit=10, progress=False)
    assert server.count == 10 and len(summaries) == 10
    assert summaries[4] == default_text([m.as_dict() for m in summary_messages(split, 4)], 130)
    meta = summaries.metadata
    assert (meta["summarizer"], meta["model"], meta["prompt_version"]) == (SPEC, "gpt-4o-mini", PROMPT_VERSION)
    assert meta["parameters"] == {"temperature": 0.0, "max_tokens": 300}
    assert summaries.report["llm"]["new"] == 10 and summaries.report["llm"]["input_tokens"] > 0
    # Second call: from the store, no request, no client (works without a key).
    server.requests.clear()
    again = get_summaries(split, SPEC, limit=10, progress=False)
    assert server.count == 0 and again.key == summaries.key and dict(again) == dict(summaries)
    assert again.report["from_store"] == 10
    # A different parameter or replicate is another set.
    other = get_summaries(split, SPEC, llm_base_url=server.openai_base_url, limit=2, replicate=1, progress=False)
    assert other.key != summaries.key and server.count == 2


def test_anthropic_summarizer(split, server):
    summaries = get_summaries(split, "anthropic:claude-3-5-haiku-20241022", llm_base_url=server.anthropic_base_url,
                              users=[5, 6, 7], progress=False)
    assert sorted(summaries) == [5, 6, 7] and server.requests[0][0] == "/v1/messages"
    assert server.requests[0][1]["system"].startswith("You are an expert")


def test_flags_empty_truncated_and_missing_prefix(split, server):
    server.script([Reply(text="Summary: cut", finish="length"), Reply(text="The user likes drama."),
                   Reply(text="")])
    summaries = get_summaries(split, SPEC, llm_base_url=server.openai_base_url, limit=4, concurrency=1,
                              progress=False)
    assert summaries.flags == {0: ["truncated"], 1: ["no_prefix"], 2: ["empty"]}
    assert summaries.report["flag_counts"] == {"truncated": 1, "no_prefix": 1, "empty": 1}
    assert summaries.report["missing"] == 1 and 2 not in summaries and summaries[0] == "Summary: cut"
    # The empty answer is neither stored nor cached: the rerun asks for that user only, and clears its flag.
    before = server.count
    again = get_summaries(split, SPEC, llm_base_url=server.openai_base_url, limit=4, progress=False)
    assert server.count - before == 1 and 2 in again and 2 not in again.flags
    assert again.flags == {0: ["truncated"], 1: ["no_prefix"]}


def test_server_failure_keeps_finished_summaries(split, server):
    server.behaviour = lambda n, path, body: Reply(status=500, message="boom") if n > 5 else None
    with pytest.raises(TearsBenchError, match=r"openai:gpt-4o-mini failed after 3 attempts: HTTP 500: boom"):
        get_summaries(split, SPEC, llm_base_url=server.openai_base_url, limit=12, concurrency=1, progress=False)
    server.behaviour = None
    before = server.count
    summaries = get_summaries(split, SPEC, llm_base_url=server.openai_base_url, limit=12, progress=False)
    assert summaries.report["from_store"] == 5 and server.count - before == 7 and len(summaries) == 12


def test_missing_key_fails_before_any_request(split, server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(TearsBenchError, match="set the environment variable OPENAI_API_KEY"):
        get_summaries(split, SPEC, llm_base_url=server.openai_base_url, limit=3, progress=False)
    assert server.count == 0


def test_cli_summarize_dry_run_and_output(server, tmp_path, capsys):
    assert main(["summarize", "--dataset", DATASET, "--summarizer", SPEC, "--llm-base-url", server.openai_base_url,
                 "--limit", "5", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert server.count == 0
    assert "[system]\nYou are an expert" in out and "Title: " in out and "Rating: " in out
    assert "requests      5 would be sent" in out and "about " in out and "at most 1,500 out" in out
    target = tmp_path / "s.json"
    assert main(["summarize", "--dataset", DATASET, "--summarizer", SPEC, "--llm-base-url", server.openai_base_url,
                 "--limit", "5", "--concurrency", "2", "--output", str(target)]) == 0
    out = capsys.readouterr().out
    written = json.loads(target.read_text())
    assert server.count == 5 and list(written) == ["1", "2", "3", "4", "5"]
    assert "users         5: 5 summarized (0 from cache, 5 new), 0 without a summary" in out
    assert "estimated cost $" in out and "LLM           5 requests: 0 from cache, 5 new" in out
    # Once stored, a dry run has nothing to send and a run sends nothing.
    assert main(["summarize", "--dataset", DATASET, "--summarizer", SPEC, "--limit", "5", "--dry-run"]) == 0
    assert "requests      0 would be sent" in capsys.readouterr().out
    assert main(["summarize", "--dataset", DATASET, "--summarizer", SPEC, "--limit", "5"]) == 0
    assert server.count == 5 and "(5 from cache, 0 new)" in capsys.readouterr().out


def test_cli_errors_are_one_line(server, capsys, monkeypatch):
    assert main(["summarize", "--dataset", DATASET, "--summarizer", "openai-compatible:llama3", "--limit", "2"]) == 2
    assert "needs the server's address: pass --llm-base-url" in capsys.readouterr().err
    assert main(["summarize", "--dataset", DATASET, "--summarizer", "mistral:large"]) == 2
    assert "unknown summarizer 'mistral:large'" in capsys.readouterr().err

"""--llm-mode batch wired through: `summarize`, `run`/`compare` options, summarizers and LLM editors
(the fake server's batch endpoints, the real clients)."""
from __future__ import annotations

import json

import pytest

from tears_bench.cli import build_parser, main
from tears_bench.data.split import build_split
from tears_bench.data.synthetic import generate
from tears_bench.errors import TearsBenchError
from tears_bench.harness import validate
from tears_bench.options import RunConfig, config_from_args
from tears_bench.summaries import get_summaries, summary_messages
from tears_bench.tasks.editors import get_editor
from tears_bench.tasks.flip import run_flip
from tests.fake_llm_server import FakeLLMServer, default_text

try:
    from test_editor_llm import GENRES, llm_behaviour
    from test_tasks_fake import FakeTears, hand_summaries, small_split
except ImportError:  # tests collected as a package
    from tests.test_editor_llm import GENRES, llm_behaviour
    from tests.test_tasks_fake import FakeTears, hand_summaries, small_split

SPEC = "openai:gpt-4o-mini"
DATASET = "synthetic:users=200,items=300,seed=0"


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-openai-0001")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-secret-0002")
    monkeypatch.setenv("TEARS_BENCH_BATCH_POLL", "0.01")  # BatchOptions.from_env: the CLI's polling


def test_summarize_batch_cli_then_online_reads_the_cache(capsys):
    with FakeLLMServer(words=130, batch_polls=2) as server:
        args = ["summarize", "--dataset", DATASET, "--summarizer", SPEC, "--llm-base-url", server.openai_base_url,
                "--limit", "6"]
        assert main([*args, "--llm-mode", "batch", "--dry-run"]) == 0
        dry = capsys.readouterr().out
        assert "at the batch price (--llm-mode batch: half the online price)" in dry and not server.calls
        assert main([*args, "--llm-mode", "batch"]) == 0
        out, err = capsys.readouterr()
        assert server.count == 0 and server.calls_to("POST", "/v1/batches") == 1 and len(server.batch_requests) == 6
        assert "users         6: 6 summarized (0 from cache, 6 new)" in out
        assert "6 new through 1 batch" in out and "at the batch price" in out
        assert "submitting 6 requests in 1 batch" in err
        split = build_split(generate(users=200, items=300, seed=0))
        summaries = get_summaries(split, SPEC, limit=6, progress=False)  # the store: no request
        assert summaries[2] == default_text([m.as_dict() for m in summary_messages(split, 2)], 130)
        # Another store key (replicate 0 still, same prompts) is not needed: the LLM cache serves online too.
        calls = len(server.calls)
        assert main([*args[:-2], "--limit", "6", "--output", "/dev/null"]) == 0
        assert len(server.calls) == calls


def test_online_mode_is_unchanged_and_batch_refuses_hf(capsys):
    assert main(["summarize", "--dataset", DATASET, "--summarizer", "hf:/models/tiny", "--llm-mode", "batch"]) == 2
    assert "hf:/models/tiny has no batch API" in capsys.readouterr().err
    args = build_parser().parse_args(["summarize"])
    assert args.llm_mode == "online"


def test_run_and_compare_take_the_option_and_results_keys_ignore_it():
    parser = build_parser()
    run = config_from_args(parser.parse_args(["run", "--task", "flip", "--llm-mode", "batch"]), "run")
    compare = config_from_args(parser.parse_args(["compare", "--summaries", "template,file:x.json",
                                                  "--llm-mode", "batch"]), "compare")
    assert run.llm_mode == compare.llm_mode == "batch"
    assert config_from_args(parser.parse_args(["run", "--task", "flip"]), "run").llm_mode == "online"
    # How requests travel never changes a result: a run folder resumes across modes.
    assert RunConfig(llm_mode="batch").task_key("flip") == RunConfig().task_key("flip")


def test_run_validation_refuses_hf_in_batch_mode(capsys):
    validate(RunConfig(editor="openai:gpt-4o", summaries=["template"], llm_mode="batch"))
    for config in (RunConfig(editor="hf:/models/tiny", llm_mode="batch"),
                   RunConfig(summaries=["hf:/models/tiny"], llm_mode="batch")):
        with pytest.raises(TearsBenchError, match="hf:/models/tiny has no batch API"):
            validate(config)
    assert main(["run", "--task", "flip", "--editor", "hf:/models/tiny", "--llm-mode", "batch"]) == 2
    err = capsys.readouterr().err
    assert "hf:/models/tiny has no batch API" in err and len(err.strip().splitlines()) == 1


def test_llm_editor_in_batch_mode_gives_the_online_results(monkeypatch, tmp_path):
    """The flip task with an LLM editor: one batch per editor call (find_genres, flip, the random
    reference's flip), and the very results of the online editor (each mode with its own empty cache)."""
    split = small_split()
    from tears_bench.tasks.common import limit_users

    users = limit_users(split.test_users, 8, seed=0)
    summaries = hand_summaries(split, users)
    outcomes = {}
    for mode in ("online", "batch"):
        monkeypatch.setenv("TEARS_BENCH_HOME", str(tmp_path / mode))
        with FakeLLMServer(behaviour=llm_behaviour()) as server:
            editor = get_editor(SPEC, base_url=server.openai_base_url, llm_mode=mode)
            result, rows = run_flip([FakeTears(split)], split, summaries, editor, [0.0, 1.0], seed=0, limit=8,
                                    references=("random",))
            outcomes[mode] = (json.dumps(result, sort_keys=True, default=str), rows)
            if mode == "online":
                sent = server.count
            else:  # the same requests, in three batches, nothing online
                assert server.count == 0 and server.calls_to("POST", "/v1/batches") == 3
                assert len(server.batch_requests) == sent == 24
    assert outcomes["online"] == outcomes["batch"]
    # The offline editor sends nothing: the mode is accepted and changes nothing.
    assert get_editor("offline", llm_mode="batch").find_genres(
        "Summary: The user enjoys dramas but avoids westerns.", GENRES) == ("drama", "western")


def test_editor_refuses_hf_in_batch_mode():
    with pytest.raises(TearsBenchError, match="has no batch API"):
        get_editor("hf:/models/tiny", llm_mode="batch")

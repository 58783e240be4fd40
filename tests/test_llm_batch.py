"""--llm-mode batch: the REAL openai and anthropic clients against the local fake server's batch
endpoints (OpenAI Files + Batches, Anthropic Message Batches)."""
from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tears_bench.errors import TearsBenchError
from tears_bench.llm import BatchOptions, CompletionCache, complete_many, parse_provider
from tears_bench.llm.batch import estimate, make_adapter, shard
from tears_bench.llm.cache import request_key
from tears_bench.llm.base import normalise_params
from tests.fake_llm_server import FakeLLMServer, Reply, default_text

FAST = BatchOptions(poll_interval=0.01, max_poll_interval=0.02)
PROVIDERS = {  # spec, base URL attribute, batch-create route, batch-retrieve route
    "openai": ("openai:gpt-4o-mini", "openai_base_url", "/v1/batches", r"/v1/batches/[^/]+"),
    "anthropic": ("anthropic:claude-3-5-haiku-20241022", "anthropic_base_url", "/v1/messages/batches",
                  r"/v1/messages/batches/[^/]+"),
    "openai-compatible": ("openai-compatible:llama3", "openai_base_url", "/v1/batches", r"/v1/batches/[^/]+"),
}
WORDS = 12


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-openai-0001")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-secret-0002")
    monkeypatch.setenv("TEARS_BENCH_LLM_RETRY_DELAY", "0.001")


@pytest.fixture
def server():
    with FakeLLMServer(words=WORDS, batch_polls=3) as fake:
        yield fake


def prompts(n: int, tag: str = "") -> list[list[dict]]:
    return [[{"role": "system", "content": "Write a summary."},
             {"role": "user", "content": f"user {tag}{i} likes drama"}] for i in range(n)]


def batch(provider: str, server: FakeLLMServer, messages, options: BatchOptions = FAST, **kwargs):
    spec, attr = PROVIDERS[provider][:2]
    stats: list = []
    out = complete_many(spec, messages, base_url=getattr(server, attr), mode="batch", batch=options,
                        progress=False, stats_out=stats, **kwargs)
    return out, stats[0]


def creates(provider: str, server: FakeLLMServer) -> int:
    return server.calls_to("POST", PROVIDERS[provider][2])


def batch_table() -> list[tuple]:
    with CompletionCache() as cache:
        return cache._db.execute("SELECT batch_id, status, requests FROM batches ORDER BY created").fetchall()


@pytest.mark.parametrize("provider", ["openai", "anthropic", "openai-compatible"])
def test_round_trip_lands_in_the_cache_and_online_reads_it(provider, server, capsys):
    messages = prompts(5) + prompts(1)  # the sixth repeats the first: asked once
    out, stats = batch(provider, server, messages)
    assert [c.text for c in out] == [default_text(m, WORDS) for m in messages]
    assert (stats.new, stats.from_cache, stats.batches, stats.failed, stats.mode) == (5, 0, 1, 0, "batch")
    # Five requests in one batch, answered inside it: no online request; polled until it ended.
    assert creates(provider, server) == 1 and server.count == 0 and len(server.batch_requests) == 5
    # Three polls until it ended (the anthropic client's results() retrieves it once more for its URL).
    assert server.calls_to("GET", PROVIDERS[provider][3]) == 3 + (provider == "anthropic")
    # custom_id is the online cache key; the batched body is what the online client sends.
    spec = parse_provider(PROVIDERS[provider][0])
    lines = next(iter(server.batches.values()))["lines"]
    keys = [request_key(spec, normalise_params(None), m) for m in messages[:5]]
    assert [custom_id for custom_id, _, _ in lines] == keys
    online_body_key = "max_tokens" if provider != "openai" else "max_completion_tokens"
    body = lines[0][2]
    assert body["model"] == spec.model and body[online_body_key] == 300 and body["temperature"] == 0.0
    if provider == "anthropic":
        assert body["system"] == "Write a summary." and body["messages"] == messages[0][1:]
    # Usage is what the server counted: 3 + 4 words in, "Summary: The user" + 12 words out.
    assert (stats.usage.input_tokens, stats.usage.output_tokens) == (5 * 7, 5 * 15)
    assert batch_table() == [(next(iter(server.batches)), "completed" if provider != "anthropic" else "ended", 5)]
    # A later online call is served from the same cache without one HTTP request.
    calls = len(server.calls)
    spec_text, attr = PROVIDERS[provider][:2]
    again = complete_many(spec_text, messages, base_url=getattr(server, attr), progress=False)
    assert [c.text for c in again] == [c.text for c in out] and all(c.cached for c in again)
    assert len(server.calls) == calls
    assert "submitting 5 requests in 1 batch" in capsys.readouterr().err


def test_polling_backs_off_exponentially_up_to_the_cap_and_rides_out_provider_hiccups(server):
    assert list(itertools.islice(BatchOptions(poll_interval=1, max_poll_interval=8).waits(), 6)) == [1, 2, 4, 8, 8, 8]
    server.poll_failures = 2  # two 503s on the first polls: retried at the next poll, not fatal
    out, stats = batch("openai", server, prompts(3))
    assert server.calls_to("GET", r"/v1/batches/[^/]+") == 2 + 3 and stats.new == 3
    server.poll_failures = 100  # a provider that never recovers: one error, the batch stays recorded
    with pytest.raises(TearsBenchError, match="polling batch batch_0002 failed: HTTP 503.*rerun the same command"):
        batch("openai", server, prompts(3, "x"))
    assert batch_table()[-1][1] == "pending"


def test_online_answers_are_not_batched_again(server):
    complete_many("openai:gpt-4o-mini", prompts(2), base_url=server.openai_base_url, progress=False)
    out, stats = batch("openai", server, prompts(4))
    assert stats.from_cache == 2 and stats.new == 2 and len(server.batch_requests) == 2
    assert [c.text for c in out] == [default_text(m, WORDS) for m in prompts(4)]
    calls = len(server.calls)
    out, stats = batch("openai", server, prompts(4))  # everything cached: no client, no call
    assert stats.from_cache == 4 and stats.batches == 0 and len(server.calls) == calls


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_sharding_by_request_count_and_by_bytes(provider, server):
    server.max_batch_requests = 2  # the fake refuses larger batches, as the real APIs refuse theirs
    out, stats = batch(provider, server, prompts(5), BatchOptions(poll_interval=0.01, max_requests=2))
    assert stats.batches == 3 and creates(provider, server) == 3
    assert [len(b["lines"]) for b in server.batches.values()] == [2, 2, 1]
    assert [c.text for c in out] == [default_text(m, WORDS) for m in prompts(5)]
    # By bytes: the five lines have the same size (what the executor counts: the line and its newline),
    # so a limit of two and a half lines holds two.
    spec, attr = PROVIDERS[provider][:2]
    adapter = make_adapter(parse_provider(spec), getattr(server, attr))
    sizes = {len(json.dumps(adapter.request(request_key(parse_provider(spec), normalise_params(None), m), m,
                                            normalise_params(None)), separators=(",", ":")).encode()) + 1
             for m in prompts(5, "b")}
    assert len(sizes) == 1
    one = sizes.pop()
    out, stats = batch(provider, server, prompts(5, "b"),
                       BatchOptions(poll_interval=0.01, max_bytes=2 * one + one // 2))
    assert [len(b["lines"]) for b in list(server.batches.values())[3:]] == [2, 2, 1]
    out, stats = batch(provider, server, prompts(2, "c"), BatchOptions(poll_interval=0.01, max_bytes=2 * one))
    assert [len(b["lines"]) for b in list(server.batches.values())[6:]] == [2]  # exactly at the limit: one batch


def test_shard_limits_hand_checked():
    assert shard([10] * 5, max_requests=2, max_bytes=1000) == [range(0, 2), range(2, 4), range(4, 5)]
    assert shard([40, 40, 40, 10], max_requests=100, max_bytes=90) == [range(0, 2), range(2, 4)]
    assert shard([], 5, 100) == []
    with pytest.raises(TearsBenchError, match="request 2 is 101 bytes: over the 100 bytes"):
        shard([1, 101], 5, 100)


def test_the_documented_limits():
    from tears_bench.llm import batch_anthropic, batch_openai

    assert (batch_openai.MAX_REQUESTS, batch_openai.MAX_BYTES) == (50_000, 200_000_000)
    assert (batch_anthropic.MAX_REQUESTS, batch_anthropic.MAX_BYTES) == (100_000, 256_000_000)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_partial_failures_are_reported_not_cached_and_resubmitted(provider, server):
    messages = prompts(6)
    failing = {"user 1 likes drama", "user 4 likes drama"}
    server.behaviour = lambda n, path, body: (Reply(status=400, message="bad request: invalid prompt")
                                              if body["messages"][-1]["content"] in failing else None)
    with pytest.raises(TearsBenchError) as error:
        batch(provider, server, messages)
    text = str(error.value)
    assert "2 of 6 requests got no answer and are not cached" in text
    assert "request 2 (" in text and "request 5 (" in text and "invalid prompt" in text
    assert "4 of 6 answers are cached" in text
    with CompletionCache() as cache:
        assert len(cache) == 4
    # A rerun resubmits exactly the two failed ones.
    server.behaviour = None
    out, stats = batch(provider, server, messages)
    assert stats.from_cache == 4 and stats.new == 2 and creates(provider, server) == 2
    assert len(list(server.batches.values())[1]["lines"]) == 2
    assert [c.text for c in out] == [default_text(m, WORDS) for m in messages]


def test_many_failures_are_counted_and_the_first_three_named(server):
    server.behaviour = lambda n, path, body: Reply(status=500, message="upstream broke")
    with pytest.raises(TearsBenchError) as error:
        batch("openai", server, prompts(5))
    text = str(error.value)
    assert text.count("upstream broke") == 3 and "and 2 more" in text and "5 of 5 requests" in text


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_expired_batch_keeps_what_finished_and_the_rerun_asks_the_rest(provider, server):
    server.expire_after = 3
    with pytest.raises(TearsBenchError, match="2 of 5 requests got no answer.*expired") as error:
        batch(provider, server, prompts(5))
    assert "3 of 5 answers are cached" in str(error.value)
    expected_status = "expired" if provider == "openai" else "ended"
    assert [row[1] for row in batch_table()] == [expected_status]
    server.expire_after = None
    out, stats = batch(provider, server, prompts(5))
    assert (stats.from_cache, stats.new, creates(provider, server)) == (3, 2, 2)
    assert [c.text for c in out] == [default_text(m, WORDS) for m in prompts(5)]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_interrupted_wait_resumes_by_batch_id_without_a_second_create(provider, server):
    server.hold_batches = True
    with pytest.raises(TearsBenchError, match="1 batch still running after 0.1 s.*rerun the same command"):
        batch(provider, server, prompts(4), BatchOptions(poll_interval=0.01, max_wait=0.1))
    batch_id = next(iter(server.batches))
    assert creates(provider, server) == 1 and batch_table() == [(batch_id, "pending", 4)]
    with CompletionCache() as cache:
        assert len(cache) == 0
    server.hold_batches = False
    out, stats = batch(provider, server, prompts(4))
    assert creates(provider, server) == 1  # polled by id, never submitted again
    assert stats.new == 4 and stats.batches == 1
    assert [c.text for c in out] == [default_text(m, WORDS) for m in prompts(4)]
    assert batch_table()[0][1] != "pending"
    # A rerun that asks more: the pending batch's keys are answered, only the new ones submitted.
    out, stats = batch(provider, server, prompts(6))
    assert stats.from_cache == 4 and len(list(server.batches.values())[-1]["lines"]) == 2


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "killed"])
def test_an_interrupted_summarize_leaves_its_batch_recorded_and_the_rerun_collects_it(server, stop):
    """The real thing: `summarize --llm-mode batch` waiting on its batch is stopped (Ctrl-C, or killed
    outright); the rerun finds the batch id in the cache, polls it, and creates nothing."""
    server.hold_batches = True
    command = [sys.executable, "-m", "tears_bench", "summarize", "--dataset", "synthetic:users=200,items=300,seed=0",
               "--summarizer", "openai:gpt-4o-mini", "--llm-base-url", server.openai_base_url, "--limit", "3",
               "--llm-mode", "batch"]
    env = {**os.environ, "TEARS_BENCH_BATCH_POLL": "0.01", "TEARS_BENCH_BATCH_POLL_MAX": "0.02"}
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while server.calls_to("GET", r"/v1/batches/[^/]+") < 3:  # created, recorded, and polled
            assert child.poll() is None and time.time() < deadline
            time.sleep(0.02)
    finally:
        child.send_signal(stop)
        _, err = child.communicate(timeout=30)
    if stop == signal.SIGINT:
        assert child.returncode == 130
        assert "1 batch of openai:gpt-4o-mini (batch_0001) stays queued at the provider, not cancelled" in err
    assert creates("openai", server) == 1 and batch_table() == [("batch_0001", "pending", 3)]
    server.hold_batches = False
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "resuming 1 batch submitted before (batch_0001; 3 of the requests), not submitted again" in result.stderr
    assert "3 new through 1 batch" in result.stdout
    assert creates("openai", server) == 1 and len(server.batch_requests) == 3 and server.count == 0


def test_a_batch_cancelled_at_the_provider_is_reported(server):
    import openai

    server.hold_batches = True
    with pytest.raises(TearsBenchError, match="still running"):
        batch("openai", server, prompts(2), BatchOptions(poll_interval=0.01, max_wait=0.05))
    client = openai.OpenAI(api_key="sk-test", base_url=server.openai_base_url)
    client.batches.cancel(next(iter(server.batches)))  # the user cancels it in the dashboard
    with pytest.raises(TearsBenchError, match="2 of 2 requests got no answer.*batch_cancelled"):
        batch("openai", server, prompts(2))
    assert creates("openai", server) == 1 and batch_table()[0][1] == "cancelled"


def test_a_batch_unknown_to_the_provider_is_dropped_and_resubmitted(server):
    server.hold_batches = True
    with pytest.raises(TearsBenchError, match="still running"):
        batch("openai", server, prompts(2), BatchOptions(poll_interval=0.01, max_wait=0.05))
    with FakeLLMServer(words=WORDS) as other:  # another server (or account): it never saw that batch
        with pytest.raises(TearsBenchError, match="unknown to the provider"):
            batch("openai", other, prompts(2))
        assert batch_table()[0][1] == "lost"
        out, _ = batch("openai", other, prompts(2))
        assert creates("openai", other) == 1 and [c.text for c in out] == [default_text(m, WORDS) for m in prompts(2)]


def test_cost_estimate_is_half_the_online_estimate_hand_computed(server, capsys):
    # 39 + 1 + 400 characters = 110 tokens at 4 a token, + 4 per message = 118 in; 300 out (max_tokens).
    messages = [[{"role": "system", "content": "s" * 39}, {"role": "user", "content": "u" * 399 + str(i)}]
                for i in range(3)]
    spec = parse_provider("anthropic:claude-3-5-haiku")  # $0.8 in / $4 out per million
    cost = estimate(spec, messages, 300)
    assert (cost.usage.input_tokens, cost.usage.output_tokens) == (354, 900)
    assert cost.online == pytest.approx((354 * 0.8 + 900 * 4.0) / 1e6) == pytest.approx(0.0038832)
    assert cost.batch == pytest.approx(0.0019416) == pytest.approx(cost.online / 2)
    gpt = estimate(parse_provider("openai:gpt-4o-mini"), messages, 300)  # $0.15 / $0.6
    assert (gpt.online, gpt.batch) == (pytest.approx(0.0005931), pytest.approx(0.00029655))
    out, stats = batch("anthropic", server, messages)
    line = capsys.readouterr().err
    assert ("submitting 3 requests in 1 batch; estimated cost at most $0.0019 at the batch price (online $0.0039); "
            "about 354 tokens in, at most 900 out") in line
    # What was paid: 2 words in, 15 out each, at the batch price.
    assert stats.cost == pytest.approx(3 * (2 * 0.8 + 15 * 4.0) / 1e6 / 2)


def test_hf_has_no_batch_api():
    with pytest.raises(TearsBenchError, match="hf:/models/tiny has no batch API.*--llm-mode online"):
        complete_many("hf:/models/tiny", prompts(1), mode="batch", progress=False)
    with pytest.raises(TearsBenchError, match="unknown LLM mode 'bulk'"):
        complete_many("openai:gpt-4o-mini", prompts(1), mode="bulk", progress=False)


def test_a_server_without_a_batch_api_gets_one_clear_error(server):
    with pytest.raises(TearsBenchError, match="creating batch 1 of 1 failed: HTTP 404.*does the server offer the "
                                              "OpenAI Batch API\\? if not, use --llm-mode online"):
        complete_many("openai-compatible:llama3", prompts(2), base_url=server.url + "/no-batches/v1", mode="batch",
                      batch=FAST, progress=False)
    server.max_batch_requests = 1  # a batch over the server's limit is refused: one error, nothing recorded
    with pytest.raises(TearsBenchError, match="creating batch 1 of 1 failed: HTTP 400: 2 requests: over the limit"):
        batch("openai", server, prompts(2))
    assert batch_table() == []


def test_a_create_call_without_an_answer_is_not_retried():
    """No answer to "create" (a connection that dropped): the batch may exist, so a retry could pay
    twice; an answered failure, or any other call, keeps its retry decision."""
    from tears_bench.llm.base import ProviderError
    from tears_bench.llm.batch_base import call_failure

    dropped = call_failure(ProviderError("openai", "connection failed"), creating=True)
    assert dropped.retryable is False and dropped.message.endswith("check the provider's batch list")
    answered = call_failure(ProviderError("openai", "overloaded", 529), creating=True)
    assert answered.retryable is True and answered.message == "overloaded"
    polled = call_failure(ProviderError("openai", "connection failed"), creating=False)
    assert polled.retryable is True and polled.message == "connection failed"

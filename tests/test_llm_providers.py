"""The REAL openai and anthropic clients against a local server that answers like each API."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from tears_bench.errors import TearsBenchError
from tears_bench.llm import CompletionCache, RetryPolicy, complete_many, get_client, parse_provider
from tears_bench.llm.base import retry_after_seconds
from tests.fake_llm_server import FakeLLMServer, Reply, default_text

FAST = RetryPolicy(max_retries=3, base_delay=0.001, max_delay=0.01)
PROVIDERS = {
    "openai": ("openai:gpt-4o-mini", "openai_base_url", "/v1/chat/completions"),
    "anthropic": ("anthropic:claude-3-5-haiku-20241022", "anthropic_base_url", "/v1/messages"),
}


@pytest.fixture
def server():
    with FakeLLMServer(words=20) as fake:
        yield fake


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-openai-0001")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-secret-0002")


def prompts(n: int, tag: str = "") -> list[list[dict]]:
    return [[{"role": "system", "content": "Write a summary."},
             {"role": "user", "content": f"user {tag}{i} likes drama"}] for i in range(n)]


def run(provider: str, server: FakeLLMServer, messages, **kwargs):
    spec, attr, _ = PROVIDERS[provider]
    stats: list = []
    out = complete_many(spec, messages, base_url=getattr(server, attr), retry=kwargs.pop("retry", FAST),
                        progress=False, stats_out=stats, **kwargs)
    return out, stats[0]


def cached_rows() -> int:
    with CompletionCache() as cache:
        return len(cache)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_success_text_usage_and_wire_format(provider, server):
    messages = prompts(5)
    out, stats = run(provider, server, messages)
    assert server.count == 5 and stats.new == 5 and stats.from_cache == 0
    path, body = server.requests[0]
    assert path == PROVIDERS[provider][2]
    assert body["model"] == parse_provider(PROVIDERS[provider][0]).model
    assert body["temperature"] == 0.0
    if provider == "anthropic":
        assert body["system"] == "Write a summary." and body["max_tokens"] == 300
        assert [m["role"] for m in body["messages"]] == ["user"]
    else:
        assert body["max_completion_tokens"] == 300 and body["messages"][0]["role"] == "system"
    # Answers come back in request order, with the server's usage.
    for messages_i, completion in zip(messages, out):
        assert completion.text == default_text(messages_i, 20)
        assert completion.usage.input_tokens == 3 + 4 and completion.usage.output_tokens == 23
        assert completion.finish_reason == "stop" and not completion.cached
    assert stats.usage.input_tokens == 5 * 7 and stats.usage.output_tokens == 5 * 23
    assert stats.cost is not None and stats.cost > 0


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_429_with_retry_after_then_success(provider, server):
    server.script([Reply(status=429, headers={"Retry-After": "1"})])
    started = time.perf_counter()
    out, stats = run(provider, server, prompts(1))
    elapsed = time.perf_counter() - started
    assert server.count == 2 and stats.retries == 1 and stats.new == 1
    assert out[0].text.startswith("Summary:")
    assert elapsed >= 0.95  # the base delay is 1 ms: only Retry-After explains the wait
    assert cached_rows() == 1


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_repeated_500s_end_in_one_clear_error_and_nothing_cached(provider, server):
    server.script([Reply(status=500, message="upstream exploded")] * 10)
    with pytest.raises(TearsBenchError) as error:
        run(provider, server, prompts(1))
    message = str(error.value)
    assert PROVIDERS[provider][0] in message and "HTTP 500" in message and "upstream exploded" in message
    assert "after 4 attempts" in message
    assert server.count == 4  # 1 try + 3 retries
    assert cached_rows() == 0


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_failure_keeps_everything_already_answered(provider, server):
    # The first 3 requests succeed, then the server fails for good.
    server.behaviour = lambda n, path, body: Reply(status=503) if n > 3 else None
    with pytest.raises(TearsBenchError, match="HTTP 503"):
        run(provider, server, prompts(6), concurrency=1)
    assert cached_rows() == 3
    server.behaviour = None
    before = server.count
    out, stats = run(provider, server, prompts(6), concurrency=1)
    assert stats.from_cache == 3 and stats.new == 3 and server.count - before == 3
    assert [c.text for c in out] == [default_text(m, 20) for m in prompts(6)]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_rerun_is_served_entirely_from_cache(provider, server):
    first, _ = run(provider, server, prompts(8))
    before = server.count
    second, stats = run(provider, server, prompts(8))
    assert server.count - before == 0
    assert stats.from_cache == 8 and stats.new == 0 and stats.usage.input_tokens == 0
    assert [c.text for c in second] == [c.text for c in first] and all(c.cached for c in second)


def test_cache_hits_need_no_key_and_ignore_base_url(server, monkeypatch):
    run("openai", server, prompts(3))
    monkeypatch.delenv("OPENAI_API_KEY")
    out = complete_many("openai:gpt-4o-mini", prompts(3), base_url="http://127.0.0.1:9/elsewhere", progress=False)
    assert len(out) == 3 and all(c.cached for c in out)


def test_replicate_index_and_params_are_part_of_the_key(server):
    run("openai", server, prompts(2))
    run("openai", server, prompts(2), replicate=1)
    assert server.count == 4
    run("openai", server, prompts(2), params={"temperature": 0.7})
    assert server.count == 6
    run("openai", server, prompts(2), params={"temperature": 0, "max_tokens": 300})  # the defaults spelled out
    assert server.count == 6


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_interrupted_run_resumes(provider, server):
    """Ctrl-C after 4 answers: in-flight requests finish and are cached; the rerun asks only the rest."""
    server.latency = 0.02
    seen = []

    def interrupt(i, completion):
        seen.append(i)
        if len(seen) == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(provider, server, prompts(20), concurrency=2, on_result=interrupt)
    time.sleep(0.2)  # let the requests in flight land in the cache
    answered_before, rows = server.count, cached_rows()
    assert 4 <= rows < 20 and rows == answered_before
    out, stats = run(provider, server, prompts(20), concurrency=4)
    assert stats.from_cache == rows and stats.new == 20 - rows
    assert server.count - answered_before == 20 - rows
    assert [c.text for c in out] == [default_text(m, 20) for m in prompts(20)]


def test_killed_process_resumes(server, tmp_path):
    """A run killed with SIGKILL loses nothing it had received: each insert is its own transaction."""
    server.latency = 0.05
    script = textwrap.dedent(f"""
        from tears_bench.llm import complete_many
        messages = [[{{"role": "user", "content": f"user {{i}}"}}] for i in range(30)]
        complete_many("openai:gpt-4o-mini", messages, base_url={server.openai_base_url!r}, concurrency=2,
                      progress=False)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], env=os.environ.copy())
    deadline = time.time() + 30
    while server.count < 8 and time.time() < deadline and child.poll() is None:
        time.sleep(0.01)
    child.kill()
    child.wait()
    rows = cached_rows()
    assert 4 <= rows < 30
    before = server.count
    messages = [[{"role": "user", "content": f"user {i}"}] for i in range(30)]
    out = complete_many("openai:gpt-4o-mini", messages, base_url=server.openai_base_url, progress=False)
    assert server.count - before == 30 - rows
    assert [c.text for c in out] == [default_text(m, 20) for m in messages]


def test_concurrency_is_bounded(server):
    server.latency = 0.05
    out, stats = run("openai", server, prompts(24), concurrency=3)
    assert len(out) == 24 and server.max_in_flight == 3
    assert stats.seconds < 24 * 0.05  # and it did run requests side by side


def test_duplicate_requests_are_sent_once(server):
    messages = prompts(3) + prompts(3)
    out, stats = run("openai", server, messages)
    assert server.count == 3 and [c.text for c in out[:3]] == [c.text for c in out[3:]]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_truncated_answer_is_flagged_and_empty_answer_is_not_cached(provider, server):
    server.script([Reply(text="Summary: cut short", finish="length"), Reply(text="")])
    out, stats = run(provider, server, prompts(2), concurrency=1)
    assert out[0].truncated and out[0].text == "Summary: cut short"
    assert out[1].empty and out[1].text == ""
    assert stats.truncated == 1 and stats.empty == 1
    assert cached_rows() == 1  # the empty answer is asked again next time
    before = server.count
    out, _ = run(provider, server, prompts(2))
    assert server.count - before == 1 and out[0].cached and out[1].text.startswith("Summary:")


def test_status_that_retrying_cannot_fix_fails_at_once(server):
    server.script([Reply(status=404, message="The model `gpt-nope` does not exist")])
    with pytest.raises(TearsBenchError, match="HTTP 404.*gpt-nope") as error:
        complete_many("openai:gpt-nope", prompts(1), base_url=server.openai_base_url, retry=FAST, progress=False)
    assert server.count == 1 and "after 1 attempt:" in str(error.value)


def test_missing_keys_fail_before_any_request(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(TearsBenchError, match="OPENAI_API_KEY"):
        complete_many("openai:gpt-4o", prompts(2), base_url=server.openai_base_url, progress=False)
    with pytest.raises(TearsBenchError, match="ANTHROPIC_API_KEY"):
        complete_many("anthropic:claude-3-5-haiku", prompts(2), base_url=server.anthropic_base_url, progress=False)
    assert server.count == 0
    # openai-compatible works keyless (local servers) with the placeholder key.
    complete_many("openai-compatible:llama3", prompts(1), base_url=server.openai_base_url, progress=False)
    assert server.count == 1 and server.headers[-1]["authorization"] == "Bearer EMPTY"
    assert server.requests[-1][1]["max_tokens"] == 300


def test_openai_compatible_needs_base_url_and_unknown_providers_are_named():
    with pytest.raises(TearsBenchError, match="--llm-base-url"):
        get_client("openai-compatible:llama3")
    with pytest.raises(TearsBenchError, match="unknown LLM provider in 'gemini:pro'"):
        get_client("gemini:pro")
    with pytest.raises(TearsBenchError, match="no model named"):
        parse_provider("openai:")


def test_key_never_appears_in_errors_or_repr(server):
    secret = os.environ["OPENAI_API_KEY"]
    server.script([Reply(status=401, message=f"Incorrect API key provided: {secret}")])
    with pytest.raises(TearsBenchError) as error:
        complete_many("openai:gpt-4o", prompts(1), base_url=server.openai_base_url, retry=FAST, progress=False)
    assert secret not in str(error.value) and "HTTP 401" in str(error.value)
    assert secret not in repr(get_client("openai:gpt-4o", server.openai_base_url))


def test_connection_errors_are_retried_then_reported():
    with pytest.raises(TearsBenchError, match="no HTTP response.*connection failed"):
        complete_many("openai:gpt-4o", prompts(1), base_url="http://127.0.0.1:9/v1",
                      retry=RetryPolicy(max_retries=1, base_delay=0.001), progress=False)


def test_retry_after_parsing_and_backoff():
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 < retry_after_seconds({"retry-after": date}) <= 31
    assert retry_after_seconds({}) is None and retry_after_seconds({"retry-after": "soon"}) is None
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0)
    delays = [policy.delay(a) for a in range(6)]
    assert 0.5 <= delays[0] <= 1.0 and 1.0 <= delays[1] <= 2.0 and all(4.0 <= d <= 8.0 for d in delays[3:])
    assert policy.delay(0, retry_after=5.0) >= 5.0
    assert policy.delay(0, retry_after=1e6) <= policy.max_retry_after


def test_cost_table():
    from tears_bench.llm import estimate_cost
    from tears_bench.llm.base import Usage

    usage = Usage(1_000_000, 1_000_000)
    assert estimate_cost(parse_provider("openai:gpt-4o-mini"), usage) == pytest.approx(0.75)
    assert estimate_cost(parse_provider("openai:gpt-4o-2024-08-06"), usage) == pytest.approx(12.5)
    assert estimate_cost(parse_provider("openai:gpt-4-1106-preview"), usage) == pytest.approx(40.0)
    assert estimate_cost(parse_provider("anthropic:claude-3-5-haiku-20241022"), usage) == pytest.approx(4.8)
    assert estimate_cost(parse_provider("openai:gpt-4.5-preview"), usage) is None  # not gpt-4's price
    assert estimate_cost(parse_provider("openai-compatible:llama3"), usage) is None
    assert estimate_cost(parse_provider("hf:/models/tiny"), usage) == 0.0

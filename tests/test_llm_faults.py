"""LLM-layer faults: malformed 200 bodies, a corrupt SQLite cache, claim rows, credentials in URLs."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from tears_bench.cli import main
from tears_bench.errors import TearsBenchError
from tears_bench.llm import CompletionCache, RetryPolicy, complete_many, get_client
from tears_bench.llm.base import Completion, ProviderSpec, normalise_params, redact_text, redact_url, url_secrets
from tears_bench.llm.cache import ANSWERED, BUSY, CLAIMED, HOST, default_path, request_key
from tests.fake_llm_server import FakeLLMServer, Reply, default_text

FAST = RetryPolicy(max_retries=3, base_delay=0.001, max_delay=0.01)
SPECS = {"openai": ("openai:gpt-4o-mini", "openai_base_url"),
         "anthropic": ("anthropic:claude-3-5-haiku-20241022", "anthropic_base_url"),
         "openai-compatible": ("openai-compatible:llama3", "openai_base_url")}
TRUNCATED = (b'{"id": "chatcmpl-1", "object": "chat.completion", "choices": [{"index": 0, "mess', "application/json")
HTML = (b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>", "text/html")
WRONG_SHAPE = (b'{"status": "ok"}', "application/json")


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-openai-0001")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-secret-0002")
    with FakeLLMServer(words=20) as fake:
        yield fake


def prompts(n: int) -> list[list[dict]]:
    return [[{"role": "user", "content": f"user {i} likes drama"}] for i in range(n)]


def rows() -> int:
    with CompletionCache() as cache:
        return len(cache)


# --- 1. a 200 whose body is not the API's JSON ------------------------------------------------

@pytest.mark.parametrize("provider", list(SPECS))
@pytest.mark.parametrize("body", [TRUNCATED, HTML, WRONG_SHAPE], ids=["truncated", "html", "wrong-shape"])
def test_malformed_200_is_retried_never_cached_then_one_sentence(provider, body, server):
    spec, attr = SPECS[provider]
    server.script([Reply(body=body[0], content_type=body[1])] * 4)
    with pytest.raises(TearsBenchError) as error:
        complete_many(spec, prompts(1), base_url=getattr(server, attr), retry=FAST, progress=False)
    message = str(error.value)
    assert server.count == 4  # 1 + FAST.max_retries: retried like a 5xx
    assert message.startswith(f"{spec} failed after 4 attempts: HTTP 200: the response body is not the expected JSON")
    assert f"content-type {body[1]}" in message and "\n" not in message
    assert rows() == 0


@pytest.mark.parametrize("provider", list(SPECS))
def test_malformed_200_then_a_good_answer_recovers(provider, server):
    spec, attr = SPECS[provider]
    server.script([Reply(body=HTML[0], content_type=HTML[1]), Reply(body=TRUNCATED[0])])
    stats: list = []
    out = complete_many(spec, prompts(1), base_url=getattr(server, attr), retry=FAST, progress=False,
                        stats_out=stats)
    assert server.count == 3 and stats[0].retries == 2 and stats[0].new == 1
    assert out[0].text == default_text(prompts(1)[0], 20) and rows() == 1


def test_cli_malformed_body_exits_2_with_one_line(server, monkeypatch, capsys):
    monkeypatch.setenv("TEARS_BENCH_LLM_RETRIES", "1")
    monkeypatch.setenv("TEARS_BENCH_LLM_RETRY_DELAY", "0.001")
    server.behaviour = lambda n, path, body: Reply(body=HTML[0], content_type=HTML[1])
    # One user: with two, the second one's retry may or may not be sent before the first fails for
    # good (in-flight requests finish, queued ones are cancelled), so the request count would be timing.
    code = main(["summarize", "--dataset", "synthetic:users=200,items=300,seed=0", "--limit", "1",
                 "--summarizer", "openai-compatible:llama3", "--llm-base-url", server.openai_base_url])
    # Only this command's own error lines: a daemon thread of an earlier test may still print a note.
    stderr = capsys.readouterr().err
    err = [line for line in stderr.strip().splitlines() if line.startswith("tears-bench: error")]
    assert "Traceback" not in stderr
    assert code == 2 and len(err) == 1 and server.count == 2  # one request, two attempts
    assert err[0].startswith("tears-bench: error: openai-compatible:llama3 failed after 2 attempts: HTTP 200: "
                             "the response body is not the expected JSON")
    assert "0 of 1 answers are cached" in err[0]


# --- 3. a corrupt SQLite cache ---------------------------------------------------------------

def _quarantined(path) -> list:
    """The quarantined database files (their -wal/-shm logs are moved beside them)."""
    return sorted(p for p in path.parent.iterdir() if p.name.startswith(f"{path.name}.corrupt-")
                  and not p.name.endswith(("-wal", "-shm")))


def test_garbage_cache_file_is_quarantined_and_rebuilt(server, capsys):
    path = default_path()
    path.write_bytes(b"this is not a database at all " * 200)
    out = complete_many("openai:gpt-4o-mini", prompts(3), base_url=server.openai_base_url, progress=False)
    assert [c.text for c in out] == [default_text(m, 20) for m in prompts(3)] and server.count == 3
    err = capsys.readouterr().err
    assert str(path) in err and "corrupt" in err
    moved = _quarantined(path)
    assert len(moved) == 1 and moved[0].read_bytes().startswith(b"this is not a database")
    assert rows() == 3  # the new cache works, and a rerun is served from it
    complete_many("openai:gpt-4o-mini", prompts(3), base_url=server.openai_base_url, progress=False)
    assert server.count == 3


def test_truncated_cache_file_is_quarantined(tmp_path, capsys):
    path = tmp_path / "cache.sqlite"
    spec = ProviderSpec("openai", "m")
    with CompletionCache(path) as cache:
        for i in range(400):
            cache.put(f"k{i}", spec, Completion(f"answer {i} " + "x" * 200))
    sqlite3.connect(path).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.truncate(size // 2)
    with CompletionCache(path) as cache:
        assert len(cache) == 0
        cache.put("new", spec, Completion("fresh"))
        assert cache.get("new").text == "fresh"
    assert len(_quarantined(path)) == 1 and "corrupt" in capsys.readouterr().err


# --- 5. claim rows (unit level; two real processes in test_llm_faults_shared.py) -------------

def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_claims_busy_stale_taken_over_and_cleared(tmp_path):
    spec = ProviderSpec("openai", "m")
    with CompletionCache(tmp_path / "c.sqlite") as cache:
        assert cache.claim("a", ttl=60) == (CLAIMED, None)
        db = sqlite3.connect(tmp_path / "c.sqlite", isolation_level=None)
        live_other = os.getppid()
        db.execute("INSERT INTO claims VALUES ('b', ?, ?, ?)", (live_other, HOST, time.time()))
        db.execute("INSERT INTO claims VALUES ('c', ?, ?, ?)", (_dead_pid(), HOST, time.time()))
        db.execute("INSERT INTO claims VALUES ('d', ?, ?, ?)", (live_other, HOST, time.time() - 100))
        db.execute("INSERT INTO claims VALUES ('e', 1, 'another-host', ?)", (time.time(),))
        assert cache.claim("b", ttl=60) == (BUSY, None)  # a live process is sending it
        assert cache.claim("c", ttl=60) == (CLAIMED, None)  # its process died
        assert cache.claim("d", ttl=60) == (CLAIMED, None)  # older than the time-to-live
        assert cache.claim("e", ttl=60) == (BUSY, None)  # elsewhere, young: only age can tell
        assert db.execute("SELECT pid FROM claims WHERE key = 'c'").fetchone()[0] == os.getpid()
        cache.put("a", spec, Completion("answer a"))
        assert db.execute("SELECT COUNT(*) FROM claims WHERE key = 'a'").fetchone()[0] == 0
        state, answer = cache.claim("a", ttl=60)
        assert state == ANSWERED and answer.text == "answer a" and answer.cached
        cache.release("c")
        assert db.execute("SELECT COUNT(*) FROM claims WHERE key = 'c'").fetchone()[0] == 0


def test_a_request_another_process_is_sending_is_waited_for_not_paid(server):
    """Key 0 is claimed by a live process; its answer lands 0.4 s later: this run never sends it."""
    spec, messages = ProviderSpec("openai", "gpt-4o-mini"), prompts(3)
    key = request_key(spec, normalise_params(None), messages[0])
    other = os.getppid()
    with sqlite3.connect(default_path_ready(), isolation_level=None) as db:
        db.execute("INSERT INTO claims VALUES (?, ?, ?, ?)", (key, other, HOST, time.time()))

    def answer_later():
        time.sleep(0.4)
        with CompletionCache() as cache:
            cache.put(key, spec, Completion("Summary: paid by the other process"))

    helper = threading.Thread(target=answer_later)
    helper.start()
    stats: list = []
    out = complete_many(str(spec), messages, base_url=server.openai_base_url, progress=False, stats_out=stats)
    helper.join()
    assert out[0].text == "Summary: paid by the other process"
    assert [c.text for c in out[1:]] == [default_text(m, 20) for m in messages[1:]]
    assert server.count == 2 and stats[0].new == 2 and stats[0].from_cache == 1


def default_path_ready():
    CompletionCache().close()  # creates the file and its tables
    return default_path()


# --- 4. credentials in --llm-base-url ---------------------------------------------------------

def test_redact_url():
    assert redact_url("http://bob:hunter2@127.0.0.1:8000/v1?api-key=SECRET1&x=1") == \
        "http://127.0.0.1:8000/v1?api-key=***&x=1"
    assert redact_url("https://gw.example/v1?key=K123&api-version=2024-02-01&token=T&access_token=A") == \
        "https://gw.example/v1?key=***&api-version=2024-02-01&token=***&access_token=***"
    assert redact_url("http://localhost:11434/v1") == "http://localhost:11434/v1"
    assert redact_url(None) is None
    assert url_secrets("http://bob:hunter2@h/v1?token=T%2Fabc") == ["T%2Fabc", "hunter2", "T/abc"]
    assert url_secrets("http://sk-long-token-as-user@h/v1") == ["sk-long-token-as-user"]
    assert redact_text("to http://bob:hunter2@h/v1?key=abcdef (server said abcdef)",
                       "http://bob:hunter2@h/v1?key=abcdef") == "to http://h/v1?key=*** (server said ***)"


def test_client_repr_and_connection_error_hide_url_credentials(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-openai-0001")
    url = "http://bob:hunter2pass@127.0.0.1:9/v1?api-key=GATEWAYSECRET"
    assert "hunter2pass" not in repr(get_client("openai:gpt-4o", url))
    with pytest.raises(TearsBenchError) as error:
        complete_many("openai:gpt-4o", prompts(1), base_url=url, retry=RetryPolicy(max_retries=0), progress=False)
    message = str(error.value)
    assert "connection failed" in message and "127.0.0.1:9/v1?api-key=***" in message
    assert "hunter2pass" not in message and "GATEWAYSECRET" not in message

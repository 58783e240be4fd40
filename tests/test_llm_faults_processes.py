"""LLM faults that need real processes: Ctrl-C (SIGINT) during requests, and two processes
summarizing the same users at once against one server that counts what it is paid for."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tears_bench.llm import CompletionCache
from tests.fake_llm_server import FakeLLMServer, Reply

DATASET = "synthetic:users=200,items=300,seed=0"
SLOW = 20.0  # seconds a slow answer takes; the request timeout is longer still
TIMEOUT = "60"


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-openai-0001")
    return os.environ.copy()


def summarize(server, *extra) -> list[str]:
    return [sys.executable, "-m", "tears_bench", "summarize", "--dataset", DATASET,
            "--summarizer", "openai-compatible:llama3", "--llm-base-url", server.openai_base_url, *extra]


def cached_rows() -> int:
    with CompletionCache() as cache:
        return len(cache)


def wait_for(condition, seconds: float = 60.0) -> None:
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "timed out waiting"
        time.sleep(0.02)


def start_interrupted_run(server, env, grace: str | None):
    """A summarize run whose first 4 answers come at once and the rest take SLOW s: returns the
    child once 4 answers are cached and 2 more requests are in flight."""
    server.behaviour = lambda n, path, body: Reply(delay=SLOW) if n > 4 else None
    if grace is not None:
        env = {**env, "TEARS_BENCH_LLM_GRACE": grace}
    child = subprocess.Popen(summarize(server, "--limit", "12", "--concurrency", "2", "--llm-timeout", TIMEOUT),
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: server.count >= 6 and cached_rows() >= 4)
    return child


def test_ctrl_c_keeps_arrived_answers_exits_promptly_and_rerun_sends_only_the_rest(server_factory, env):
    server = server_factory()
    child = start_interrupted_run(server, env, grace="1")
    sent = time.monotonic()
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=30)
    elapsed = time.monotonic() - sent
    assert child.returncode == 130 and elapsed < 4.0  # grace 1 s, far under the 60 s timeout and 20 s answers
    assert "waiting up to 1 s for 2 request(s) in flight" in err and "interrupted" in err
    assert "Traceback" not in err
    assert cached_rows() == 4
    # The rerun asks only for what is missing (the 2 abandoned requests included): 12 - 4.
    server.behaviour = None
    before = server.count
    out = subprocess.run(summarize(server, "--limit", "12", "--output", "s.json"), env=env, capture_output=True,
                         text=True, cwd=server_factory.tmp)
    assert out.returncode == 0, out.stderr
    assert server.count - before == 8 and cached_rows() == 12
    assert len(json.loads((server_factory.tmp / "s.json").read_text())) == 12


def test_second_ctrl_c_exits_at_once(server_factory, env):
    server = server_factory()
    child = start_interrupted_run(server, env, grace=None)  # the default grace: 5 s
    child.send_signal(signal.SIGINT)
    time.sleep(0.5)  # the first Ctrl-C is being handled: the child now waits for the 2 in flight
    sent = time.monotonic()
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=30)
    assert child.returncode == 130 and time.monotonic() - sent < 2.0
    assert "Ctrl-C again to stop now" in err and cached_rows() == 4


def test_two_processes_summarizing_the_same_users_pay_each_request_once(server_factory, env):
    """Both start together (a file barrier) on one cache; the server counts every request."""
    server = server_factory()
    server.latency = 0.1
    users = 24
    barrier = server_factory.tmp
    script = textwrap.dedent("""
        import sys, time
        from pathlib import Path
        name, barrier, argv = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
        (barrier / f"ready-{name}").touch()
        while len(list(barrier.glob("ready-*"))) < 2:
            time.sleep(0.005)
        from tears_bench.cli import main
        sys.exit(main(argv))
    """)
    children = [subprocess.Popen([sys.executable, "-c", script, name, str(barrier),
                                  *summarize(server, "--limit", str(users), "--concurrency", "4", "--output",
                                             str(barrier / f"{name}.json"))[3:]],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for name in ("a", "b")]
    for child in children:
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
    assert server.count == users  # without claims each process pays for every request: 2 x 24
    first, second = (json.loads((barrier / f"{n}.json").read_text()) for n in ("a", "b"))
    assert first == second and len(first) == users and cached_rows() == users


@pytest.fixture
def server_factory(tmp_path):
    servers = []

    def make() -> FakeLLMServer:
        server = FakeLLMServer(words=30).start()
        servers.append(server)
        return server

    make.tmp = tmp_path
    yield make
    for server in servers:
        server.stop()

"""Credentials in --llm-base-url reach the server and nothing else: not the run folder, not the
caches, not stdout/stderr, not an error message."""
from __future__ import annotations

import pytest

from tears_bench.cli import main
from tests.fake_llm_server import FakeLLMServer, Reply

PASSWORD, TOKEN = "hunter2pass", "GATEWAYSECRET42"
DATASET = "synthetic:users=200,items=300,seed=4"


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-openai-0001")
    monkeypatch.setenv("TEARS_BENCH_LLM_RETRIES", "0")
    with FakeLLMServer(words=40) as fake:
        yield fake


def secret_url(server) -> str:
    return server.openai_base_url.replace("http://", f"http://bob:{PASSWORD}@") + f"?api-key={TOKEN}&x=1"


def leaks(*folders) -> list[str]:
    found = []
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and (PASSWORD.encode() in path.read_bytes() or TOKEN.encode() in path.read_bytes()):
                found.append(str(path))
    return found


def test_run_and_summarize_never_write_or_print_the_credentials(server, tmp_path, isolated_home, capsys):
    url = secret_url(server)
    out = tmp_path / "run"
    assert main(["run", "--task", "uniqueness", "--dataset", DATASET, "--summaries", "openai-compatible:llama3",
                 "--llm-base-url", url, "--output", str(out), "--pairs", "50"]) == 0
    assert main(["summarize", "--dataset", DATASET, "--summarizer", "openai-compatible:llama3", "--limit", "5",
                 "--llm-base-url", url, "--output", str(tmp_path / "s.json")]) == 0
    printed = capsys.readouterr()
    # The real URL reached the server: its query and its basic-auth user:password.
    # 20 test users for `run`, the split's first 5 users for `summarize` (none of them a test user).
    assert server.count == 25 and all(q == f"api-key={TOKEN}&x=1" for q in server.queries)
    assert all(h["authorization"].startswith("Basic ") for h in server.headers)
    assert leaks(out, isolated_home, tmp_path) == []
    assert PASSWORD not in printed.out + printed.err and TOKEN not in printed.out + printed.err
    results = (out / "results.json").read_text()
    assert f'"{server.openai_base_url}?api-key=***&x=1"' in results  # the config, redacted, not dropped


def test_errors_never_show_the_credentials_even_when_the_server_echoes_them(server, tmp_path, isolated_home,
                                                                             capsys):
    url = secret_url(server)
    server.script([Reply(status=401, message=f"bad key {TOKEN} for {url} (user bob:{PASSWORD})")])
    code = main(["summarize", "--dataset", DATASET, "--summarizer", "openai-compatible:llama3", "--limit", "1",
                 "--llm-base-url", url])
    err = capsys.readouterr().err
    assert code == 2 and "HTTP 401: bad key *** for" in err
    assert PASSWORD not in err and TOKEN not in err
    # Nothing answered at all: a refused port, through `run` this time.
    closed = f"http://bob:{PASSWORD}@127.0.0.1:9/v1?token={TOKEN}"
    code = main(["run", "--task", "uniqueness", "--dataset", DATASET, "--summaries", "openai-compatible:llama3",
                 "--llm-base-url", closed, "--output", str(tmp_path / "run")])
    printed = capsys.readouterr()
    assert code == 2 and "connection failed" in printed.err and "127.0.0.1:9/v1?token=***" in printed.err
    assert PASSWORD not in printed.out + printed.err and TOKEN not in printed.out + printed.err
    assert leaks(tmp_path, isolated_home) == []

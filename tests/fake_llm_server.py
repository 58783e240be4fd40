"""A local stand-in for the OpenAI and Anthropic HTTP APIs, a test double for tests and benchmarks.

Standard library only. It answers POST /v1/chat/completions (OpenAI and compatible servers) and
POST /v1/messages (Anthropic) with bodies shaped like the real APIs, usage included, counts every
request, and can be scripted to fail:

    with FakeLLMServer() as server:
        server.script([Reply(status=429, headers={"Retry-After": "1"})])  # the next request gets a 429
        server.script([Reply(body=b"<html>Bad gateway</html>", content_type="text/html")])  # a 200, not JSON
        client = openai.OpenAI(api_key="test", base_url=server.openai_base_url)

The default answer is deterministic in the request: "Summary: " followed by `words` words drawn
from a hash of the messages, so different prompts get different text.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

_WORDS = ("drama comedy thriller romance action adventure mystery horror family friendship war history "
          "music crime heist space travel robots magic detective courtroom sports coming age small town "
          "revenge betrayal survival love loss humour satire dark quirky epic gentle tense sweeping").split()


@dataclass
class Reply:
    """One scripted answer: an error status (with headers), or a success with given text/finish."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    text: str | None = None  # None: the default deterministic answer
    finish: str = "stop"  # "stop" or "length" (cut by max_tokens)
    message: str = "scripted failure"
    # A raw body sent as is with `status` (e.g. a 200 carrying an HTML page or truncated JSON),
    # the malformed answers proxies and overloaded gateways send.
    body: bytes | None = None
    content_type: str = "application/json"
    delay: float = 0.0  # seconds before answering, on top of the server's latency (a slow request)


def default_text(messages: Any, words: int) -> str:
    digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).digest()
    picks = [_WORDS[(digest[i % len(digest)] + 7 * i) % len(_WORDS)] for i in range(words)]
    return "Summary: The user " + " ".join(picks) + "."


class FakeLLMServer:
    def __init__(self, words: int = 120, latency: float = 0.0,
                 behaviour: Callable[[int, str, dict], Reply | None] | None = None):
        self.words = words
        self.latency = latency
        self.behaviour = behaviour
        self.requests: list[tuple[str, dict]] = []  # (path, body) of every request, errors included
        self.headers: list[dict[str, str]] = []
        self.queries: list[str] = []  # the query string of every request ("" when none)
        self._script: list[Reply] = []
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests the server was answering at once
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    # -- lifecycle
    def start(self) -> "FakeLLMServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FakeLLMServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses and counts
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def openai_base_url(self) -> str:
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def script(self, replies: list[Reply]) -> None:
        """Replies for the next requests, in order; afterwards the default answer resumes."""
        with self._lock:
            self._script.extend(replies)

    # -- serving
    def _next(self, path: str, body: dict) -> Reply:
        with self._lock:
            self.requests.append((path, body))
            n = len(self.requests)
            scripted = self._script.pop(0) if self._script else None
        if scripted is None and self.behaviour is not None:
            scripted = self.behaviour(n, path, body)
        return scripted or Reply()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    body = {}
                path, _, query = self.path.partition("?")
                with server._lock:
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                    server.queries.append(query)
                if path not in ("/v1/chat/completions", "/v1/messages"):
                    self._send(404, {"error": {"message": f"no route {path}", "type": "not_found"}})
                    return
                reply = server._next(path, body)
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    if server.latency or reply.delay:
                        time.sleep(server.latency + reply.delay)
                    self._answer(path, body, reply)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self, path: str, body: dict, reply: Reply) -> None:
                anthropic = path == "/v1/messages"
                if reply.body is not None:
                    self._send_raw(reply.status, reply.body, reply.content_type, reply.headers)
                    return
                if reply.status != 200:
                    error = {"message": reply.message, "type": "rate_limit_error" if reply.status == 429 else "api_error"}
                    payload = {"type": "error", "error": error} if anthropic else {"error": error}
                    self._send(reply.status, payload, reply.headers)
                    return
                messages = body.get("messages", [])
                if anthropic and body.get("system"):
                    messages = [{"role": "system", "content": body["system"]}] + messages
                text = reply.text if reply.text is not None else default_text(messages, server.words)
                tokens_in = sum(len(str(m.get("content", "")).split()) for m in messages)
                tokens_out = len(text.split())
                model = body.get("model", "fake")
                if anthropic:
                    payload = {"id": "msg_fake", "type": "message", "role": "assistant", "model": model,
                               "content": [{"type": "text", "text": text}] if text else [],
                               "stop_reason": "max_tokens" if reply.finish == "length" else "end_turn",
                               "stop_sequence": None,
                               "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out}}
                else:
                    payload = {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                               "model": model,
                               "choices": [{"index": 0, "finish_reason": reply.finish, "logprobs": None,
                                            "message": {"role": "assistant", "content": text}}],
                               "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out,
                                         "total_tokens": tokens_in + tokens_out}}
                self._send(200, payload, reply.headers)

            def _send(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
                self._send_raw(status, json.dumps(payload).encode(), "application/json", headers)

            def _send_raw(self, status: int, data: bytes, content_type: str,
                          headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler

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

It also serves the providers' batch APIs, answering each batched request exactly as the online
endpoint would (scripts and `behaviour` apply to batched requests too, in order):
    OpenAI      POST /v1/files (multipart upload), GET /v1/files/{id}/content,
                POST /v1/batches, GET /v1/batches/{id}, POST /v1/batches/{id}/cancel
    Anthropic   POST /v1/messages/batches, GET /v1/messages/batches/{id},
                GET /v1/messages/batches/{id}/results (JSONL), POST /v1/messages/batches/{id}/cancel
A batch reports itself in progress for `batch_polls` retrievals, then ends and its requests are
answered. `hold_batches = True` keeps every batch in progress (an interrupted wait); `expire_after
= n` ends a batch as expired after answering its first n requests; `max_batch_requests` refuses a
larger batch as the real APIs refuse one over their limits; `poll_failures = n` answers the next n
batch retrievals with a 503. `calls` lists (method, path) of every
HTTP request, `batch_requests` (path, body) of every request answered inside a batch.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import threading
import time
from email.parser import BytesParser
from email.policy import HTTP
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
                 behaviour: Callable[[int, str, dict], Reply | None] | None = None, batch_polls: int = 1):
        self.words = words
        self.latency = latency
        self.behaviour = behaviour
        self.requests: list[tuple[str, dict]] = []  # (path, body) of every online request, errors included
        self.calls: list[tuple[str, str]] = []  # (method, path) of every HTTP request, batch endpoints too
        self.batch_requests: list[tuple[str, dict]] = []  # (path, body) of every request answered in a batch
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}  # id -> state (see _batch_*)
        self.batch_polls = batch_polls
        self.hold_batches = False
        self.expire_after: int | None = None
        self.max_batch_requests: int | None = None
        self.poll_failures = 0  # the next n batch retrievals answer 503 (a provider hiccup)
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

    def calls_to(self, method: str, pattern: str) -> int:
        """How many HTTP requests matched `method` and the path regex `pattern` (full match)."""
        with self._lock:
            return sum(m == method and re.fullmatch(pattern, p) is not None for m, p in self.calls)

    def script(self, replies: list[Reply]) -> None:
        """Replies for the next requests, in order; afterwards the default answer resumes."""
        with self._lock:
            self._script.extend(replies)

    # -- serving
    def _next(self, path: str, body: dict, batched: bool = False) -> Reply:
        with self._lock:
            log = self.batch_requests if batched else self.requests
            log.append((path, body))
            n = len(log)
            scripted = self._script.pop(0) if self._script else None
        if scripted is None and self.behaviour is not None:
            scripted = self.behaviour(n, path, body)
        return scripted or Reply()

    # -- batches: created, then ended (answered) on the `batch_polls`-th retrieval
    def _batch_create(self, kind: str, lines: list[tuple[str, str, dict]], extra: dict) -> tuple[int, dict]:
        """lines: (custom_id, path, body). Returns (status, the batch object)."""
        ids = [custom_id for custom_id, _, _ in lines]
        if len(set(ids)) != len(ids) or not lines:
            return 400, {"error": {"message": "custom_id values must be unique and the batch not empty",
                                   "type": "invalid_request_error"}}
        if kind == "anthropic" and not all(re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", i) for i in ids):
            return 400, {"type": "error", "error": {"type": "invalid_request_error", "message": "bad custom_id"}}
        if self.max_batch_requests is not None and len(lines) > self.max_batch_requests:
            return 400, {"error": {"message": f"{len(lines)} requests: over the limit of {self.max_batch_requests}",
                                   "type": "invalid_request_error"}}
        with self._lock:
            number = len(self.batches) + 1
            batch_id = f"batch_{number:04d}" if kind == "openai" else f"msgbatch_{number:04d}"
            self.batches[batch_id] = {"id": batch_id, "kind": kind, "lines": lines, "polls": 0, "status": "in_progress",
                                      "cancel": False, "results": [], "created": time.time(), **extra}
        return 200, self._batch_object(batch_id)

    def _batch_retrieve(self, batch_id: str) -> dict | None:
        with self._lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                return None
            finish = batch["status"] == "in_progress" and (
                batch["cancel"] or (not self.hold_batches and batch["polls"] + 1 >= self.batch_polls))
            batch["polls"] += 1
        if finish:
            self._batch_finish(batch)
        return self._batch_object(batch_id)

    def _batch_finish(self, batch: dict) -> None:
        """Answer the batch's requests as the online endpoints would; the rest expire or are canceled."""
        answered = 0 if batch["cancel"] else len(batch["lines"])
        if self.expire_after is not None and not batch["cancel"]:
            answered = min(answered, self.expire_after)
        results = []
        for i, (custom_id, path, body) in enumerate(batch["lines"]):
            if i >= answered:
                results.append((custom_id, "canceled" if batch["cancel"] else "expired", None))
                continue
            status, payload = answer(path, body, self._next(path, body, batched=True), self.words)
            results.append((custom_id, status, payload))
        ending = ("cancelled" if batch["kind"] == "openai" else "ended") if batch["cancel"] else (
            "expired" if answered < len(batch["lines"]) and batch["kind"] == "openai" else
            "completed" if batch["kind"] == "openai" else "ended")
        with self._lock:
            batch["results"] = results
            batch["status"] = ending
            batch["ended"] = time.time()
            if batch["kind"] == "openai":
                self._openai_files(batch)

    def _openai_files(self, batch: dict) -> None:
        output, errors = [], []
        for n, (custom_id, status, payload) in enumerate(batch["results"]):
            line = {"id": f"batch_req_{n}", "custom_id": custom_id}
            if status in ("expired", "canceled"):
                code = "batch_expired" if status == "expired" else "batch_cancelled"
                errors.append({**line, "response": None, "error": {"code": code, "message": f"request {status}"}})
            else:
                line.update(response={"status_code": status, "request_id": f"req_{n}", "body": payload}, error=None)
                (output if status == 200 else errors).append(line)
        for name, lines in (("output_file_id", output), ("error_file_id", errors)):
            if lines:
                file_id = f"file-{batch['id']}-{name.split('_')[0]}"
                self.files[file_id] = b"".join(json.dumps(x).encode() + b"\n" for x in lines)
                batch[name] = file_id

    def _batch_object(self, batch_id: str) -> dict:
        with self._lock:
            b = self.batches[batch_id]
            done = [status for _, status, _ in b["results"]]
            if b["kind"] == "openai":
                status = b["status"] if not (b["cancel"] and b["status"] == "in_progress") else "cancelling"
                return {"id": b["id"], "object": "batch", "endpoint": b["endpoint"], "errors": None,
                        "input_file_id": b["input_file_id"], "completion_window": "24h", "status": status,
                        "output_file_id": b.get("output_file_id"), "error_file_id": b.get("error_file_id"),
                        "created_at": int(b["created"]), "metadata": b.get("metadata"),
                        "request_counts": {"total": len(b["lines"]), "completed": done.count(200),
                                           "failed": len(done) - done.count(200)}}
            ended = b["status"] == "ended"
            stamp = dt.datetime.fromtimestamp(b["created"], dt.timezone.utc)
            counts = {"processing": 0 if ended else len(b["lines"]), "succeeded": done.count(200),
                      "errored": sum(isinstance(s, int) and s != 200 for s in done),
                      "canceled": done.count("canceled"), "expired": done.count("expired")}
            return {"id": b["id"], "type": "message_batch",
                    "processing_status": "ended" if ended else ("canceling" if b["cancel"] else "in_progress"),
                    "request_counts": counts, "created_at": stamp.isoformat(),
                    "expires_at": (stamp + dt.timedelta(hours=24)).isoformat(),
                    "ended_at": dt.datetime.fromtimestamp(b["ended"], dt.timezone.utc).isoformat() if ended else None,
                    "archived_at": None, "cancel_initiated_at": None,
                    "results_url": f"{self.url}/v1/messages/batches/{b['id']}/results" if ended else None}

    def _anthropic_results(self, batch_id: str) -> bytes:
        lines = []
        for custom_id, status, payload in self.batches[batch_id]["results"]:
            if status == 200:
                result = {"type": "succeeded", "message": payload}
            elif isinstance(status, int):
                result = {"type": "errored", "error": payload}
            else:
                result = {"type": status}
            lines.append(json.dumps({"custom_id": custom_id, "result": result}).encode() + b"\n")
        return b"".join(lines)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _begin(self, method: str) -> tuple[str, bytes]:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                path, _, query = self.path.partition("?")
                with server._lock:
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                    server.queries.append(query)
                    server.calls.append((method, path))
                return path, raw

            def do_GET(self) -> None:
                path, _ = self._begin("GET")
                if match := re.fullmatch(r"/v1/files/([^/]+)/content", path):
                    data = server.files.get(match.group(1))
                    if data is None:
                        return self._missing(path)
                    return self._send_raw(200, data, "application/octet-stream")
                if match := re.fullmatch(r"/v1/(messages/)?batches/([^/]+)", path):
                    with server._lock:
                        hiccup, server.poll_failures = server.poll_failures > 0, max(0, server.poll_failures - 1)
                    if hiccup:
                        return self._send(503, {"type": "error",
                                                "error": {"message": "overloaded", "type": "api_error"}})
                    found = server._batch_retrieve(match.group(2))
                    return self._send(200, found) if found else self._missing(path)
                if match := re.fullmatch(r"/v1/messages/batches/([^/]+)/results", path):
                    if match.group(1) not in server.batches:
                        return self._missing(path)
                    return self._send_raw(200, server._anthropic_results(match.group(1)), "application/binary")
                self._missing(path)

            def do_POST(self) -> None:
                path, raw = self._begin("POST")
                if path == "/v1/files":
                    return self._upload(raw)
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = {}
                if path == "/v1/batches":
                    return self._create_openai(body)
                if path == "/v1/messages/batches":
                    lines = [(r.get("custom_id"), "/v1/messages", r.get("params", {}))
                             for r in body.get("requests", [])]
                    return self._send(*server._batch_create("anthropic", lines, {}))
                if match := re.fullmatch(r"/v1/(messages/)?batches/([^/]+)/cancel", path):
                    if match.group(2) not in server.batches:
                        return self._missing(path)
                    with server._lock:
                        server.batches[match.group(2)]["cancel"] = True
                    return self._send(200, server._batch_object(match.group(2)))
                if path not in ("/v1/chat/completions", "/v1/messages"):
                    return self._missing(path)
                reply = server._next(path, body)
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    if server.latency or reply.delay:
                        time.sleep(server.latency + reply.delay)
                    if reply.body is not None:
                        self._send_raw(reply.status, reply.body, reply.content_type, reply.headers)
                    else:
                        self._send(*answer(path, body, reply, server.words), reply.headers)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _upload(self, raw: bytes) -> None:
                """multipart/form-data with `purpose` and `file` (what openai's files.create sends)."""
                head = f"Content-Type: {self.headers.get('content-type')}\r\n\r\n".encode()
                form = {part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
                        for part in BytesParser(policy=HTTP).parsebytes(head + raw).iter_parts()}
                if "file" not in form or form.get("purpose") != b"batch":
                    return self._send(400, {"error": {"message": "a batch file needs purpose=batch and a file",
                                                      "type": "invalid_request_error"}})
                with server._lock:
                    file_id = f"file-{len(server.files) + 1:04d}"
                    server.files[file_id] = form["file"]
                self._send(200, {"id": file_id, "object": "file", "bytes": len(form["file"]),
                                 "created_at": int(time.time()), "filename": "batch.jsonl", "purpose": "batch",
                                 "status": "processed"})

            def _create_openai(self, body: dict) -> None:
                data = server.files.get(body.get("input_file_id"))
                if data is None:
                    return self._send(404, {"error": {"message": "no such file", "type": "invalid_request_error"}})
                lines = []
                for text in data.decode().splitlines():
                    line = json.loads(text)
                    if line.get("url") != body.get("endpoint") or line.get("method") != "POST":
                        return self._send(400, {"error": {"message": f"line url {line.get('url')} is not the batch's "
                                                                     "endpoint", "type": "invalid_request_error"}})
                    lines.append((line.get("custom_id"), line["url"], line.get("body", {})))
                extra = {"endpoint": body.get("endpoint"), "input_file_id": body["input_file_id"],
                         "metadata": body.get("metadata")}
                self._send(*server._batch_create("openai", lines, extra))

            def _missing(self, path: str) -> None:
                self._send(404, {"type": "error", "error": {"message": f"no route {path}", "type": "not_found_error"}})

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


def answer(path: str, body: dict, reply: Reply, words: int) -> tuple[int, dict]:
    """(status, JSON body) the endpoint `path` answers to `body` under `reply`: online, and per batched request."""
    anthropic = path == "/v1/messages"
    if reply.body is not None:  # a raw body inside a batch: the provider reports it as a server error
        reply = Reply(status=500, message="malformed upstream answer")
    if reply.status != 200:
        error = {"message": reply.message, "type": "rate_limit_error" if reply.status == 429 else "api_error"}
        return reply.status, ({"type": "error", "error": error} if anthropic else {"error": error})
    messages = body.get("messages", [])
    if anthropic and body.get("system"):
        messages = [{"role": "system", "content": body["system"]}] + messages
    text = reply.text if reply.text is not None else default_text(messages, words)
    tokens_in = sum(len(str(m.get("content", "")).split()) for m in messages)
    tokens_out = len(text.split())
    model = body.get("model", "fake")
    if anthropic:
        return 200, {"id": "msg_fake", "type": "message", "role": "assistant", "model": model,
                     "content": [{"type": "text", "text": text}] if text else [],
                     "stop_reason": "max_tokens" if reply.finish == "length" else "end_turn",
                     "stop_sequence": None, "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out}}
    return 200, {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
                 "choices": [{"index": 0, "finish_reason": reply.finish, "logprobs": None,
                              "message": {"role": "assistant", "content": text}}],
                 "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out,
                           "total_tokens": tokens_in + tokens_out}}

"""The OpenAI Batch API (`openai:` and `openai-compatible:`) through the official `openai` client.

A batch is a JSONL file of /v1/chat/completions requests uploaded through the Files API, a batch
created on it, polled until it ends, and two files downloaded: the output (answers) and the errors.
Each line carries the request's cache key as `custom_id`, the body is exactly what the online
client sends (OpenAIClient.request_body), so a batch answer is the online answer to the same key.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Any, Iterator

import openai

from tears_bench.llm.base import PARSE_ERRORS, Completion
from tears_bench.llm.batch_base import BatchAdapter, BatchState, call_failure
from tears_bench.llm.openai_provider import OpenAIClient

ENDPOINT = "/v1/chat/completions"
# "The file can contain up to 50,000 requests, and can be up to 200 MB in size" (OpenAI API reference,
# Batch > Create batch, input_file_id: platform.openai.com/docs/api-reference/batch/create; the same
# words in the openai client's `batches.create` docstring). MB read as 10^6 bytes, the smaller reading.
MAX_REQUESTS = 50_000
MAX_BYTES = 200 * 1000 * 1000
ENDED = frozenset({"completed", "failed", "expired", "cancelled"})


class OpenAIBatches(BatchAdapter):
    max_requests = MAX_REQUESTS
    max_bytes = MAX_BYTES

    def __init__(self, client: OpenAIClient):
        self.client = client
        self.provider = client.provider
        self._api = client._client

    def request(self, key: str, messages: list[dict[str, str]], params: dict[str, Any]) -> dict:
        kwargs, extra = self.client.request_body(messages, params)
        return {"custom_id": key, "method": "POST", "url": ENDPOINT, "body": {**kwargs, **extra}}

    def submit(self, requests: list[dict]) -> str:
        data = b"".join(json.dumps(r, separators=(",", ":"), ensure_ascii=False).encode() + b"\n" for r in requests)
        with self._errors():
            upload = self._api.files.create(file=("tears-bench-batch.jsonl", data, "application/jsonl"),
                                            purpose="batch")
        with self._errors(creating=True):
            batch = self._api.batches.create(input_file_id=upload.id, endpoint=ENDPOINT, completion_window="24h",
                                             metadata={"source": "tears-bench"})
        return batch.id

    def state(self, batch_id: str) -> BatchState:
        with self._errors():
            batch = self._api.batches.retrieve(batch_id)
        counts = batch.request_counts
        detail = ""
        if batch.status == "failed" and batch.errors and batch.errors.data:  # the file was refused as a whole
            detail = "; ".join(self.client._clean(f"{e.code}: {e.message}" + (f" (line {e.line})" if e.line else ""))
                               for e in batch.errors.data[:3])
        return BatchState(batch_id, batch.status, batch.status in ENDED,
                          {"total": counts.total, "completed": counts.completed, "failed": counts.failed}
                          if counts else {}, detail,
                          files=tuple(f for f in (batch.output_file_id, batch.error_file_id) if f))

    def results(self, state: BatchState) -> Iterator[tuple[str, Completion | str]]:
        for file_id in state.files:
            with self._errors(), self._api.files.with_streaming_response.content(file_id) as response:
                for line in response.iter_lines():
                    if line.strip():
                        yield self._line(line)

    def _line(self, text: str) -> tuple[str, Completion | str]:
        """(custom_id, the answer) or (custom_id, why it failed)."""
        line = json.loads(text)
        key = str(line.get("custom_id"))
        response, error = line.get("response") or {}, line.get("error")
        status = response.get("status_code")
        if error or status != 200:
            body = response.get("body") if isinstance(response.get("body"), dict) else {}
            inner = error or body.get("error") or {}
            message = inner.get("message") if isinstance(inner, dict) else str(inner)
            code = inner.get("code") if isinstance(inner, dict) else None
            where = f"HTTP {status}" if status else (code or "error")
            return key, self.client._clean(f"{where}: {message or code or 'no message'}")
        from openai.types.chat import ChatCompletion

        try:
            return key, self.client._parse(ChatCompletion.construct(**response["body"]))
        except (*PARSE_ERRORS, openai.APIError) as problem:
            return key, f"the answer is not the expected JSON ({problem})"

    @contextmanager
    def _errors(self, creating: bool = False) -> Iterator[None]:
        try:
            yield
        except (openai.APIStatusError, openai.APIConnectionError) as error:
            raise call_failure(self.client.error(error), creating) from None

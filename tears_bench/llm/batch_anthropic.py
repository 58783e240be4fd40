"""Anthropic Message Batches (`anthropic:`) through the official `anthropic` client.

A batch is created with the list of requests (each `custom_id` is the request's cache key, each
`params` exactly what the online client sends: AnthropicClient.request_body), polled until its
processing ends, and its results streamed as JSONL: succeeded, errored, canceled or expired.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import anthropic

from tears_bench.llm.anthropic_provider import AnthropicClient
from tears_bench.llm.base import PARSE_ERRORS, Completion, ProviderError
from tears_bench.llm.batch_base import BatchAdapter, BatchState, call_failure

# "A Message Batch is limited to either 100,000 Message requests or 256 MB in size, whichever is
# reached first" (platform.claude.com/docs/en/build-with-claude/batch-processing, Batch limitations;
# the API reference's `requests` has maxItems 100000, and custom_id must match ^[a-zA-Z0-9_-]{1,64}$,
# which the cache's 32 hex digits do). MB read as 10^6 bytes, the smaller reading.
MAX_REQUESTS = 100_000
MAX_BYTES = 256 * 1000 * 1000


class AnthropicBatches(BatchAdapter):
    provider = "anthropic"
    max_requests = MAX_REQUESTS
    max_bytes = MAX_BYTES

    def __init__(self, client: AnthropicClient):
        self.client = client
        self._api = client._client

    def request(self, key: str, messages: list[dict[str, str]], params: dict[str, Any]) -> dict:
        kwargs, extra = self.client.request_body(messages, params)
        return {"custom_id": key, "params": {**kwargs, **extra}}

    def submit(self, requests: list[dict]) -> str:
        with self._errors(creating=True):
            return self._api.messages.batches.create(requests=requests).id

    def state(self, batch_id: str) -> BatchState:
        with self._errors():
            batch = self._api.messages.batches.retrieve(batch_id)
        counts = batch.request_counts
        names = ("processing", "succeeded", "errored", "canceled", "expired")
        return BatchState(batch_id, batch.processing_status, batch.processing_status == "ended",
                          {n: int(getattr(counts, n, 0) or 0) for n in names} if counts else {})

    def results(self, state: BatchState) -> Iterator[tuple[str, Completion | str]]:
        with self._errors():
            for item in self._api.messages.batches.results(state.batch_id):
                yield self._item(item)

    def _item(self, item: Any) -> tuple[str, Completion | str]:
        """(custom_id, the answer) or (custom_id, why it failed)."""
        key, result = str(item.custom_id), item.result
        kind = getattr(result, "type", None)
        if kind == "succeeded":
            try:
                return key, self.client._parse(result.message)
            except PARSE_ERRORS as problem:
                return key, f"the answer is not the expected JSON ({problem})"
        if kind == "errored":
            inner = getattr(getattr(result, "error", None), "error", None)
            return key, self.client._clean(f"errored: {getattr(inner, 'type', 'error')}: "
                                           f"{getattr(inner, 'message', None) or 'no message'}")
        return key, str(kind or "no result")  # "canceled" or "expired": never processed

    @contextmanager
    def _errors(self, creating: bool = False) -> Iterator[None]:
        try:
            yield
        except (anthropic.APIStatusError, anthropic.APIConnectionError) as error:
            raise call_failure(self.client.error(error), creating) from None
        except anthropic.AnthropicError as error:  # e.g. results asked of a batch without results_url
            raise ProviderError(self.provider, self.client._clean(str(error)), retryable=True) from None

"""What a provider's batch API must offer the batch executor (llm/batch.py): one adapter per API.

An adapter turns one request into the provider's batch request (keyed by its cache key), submits a
list of them as one batch, reports a batch's state, and reads an ended batch's results as
(cache key, Completion or the reason it failed). It raises ProviderError for a failed call, and
the executor decides whether to try again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from tears_bench.llm.base import Completion, ProviderError


@dataclass
class BatchState:
    batch_id: str
    status: str  # the provider's own word: in_progress, completed, expired, ended...
    ended: bool  # no request of it will change any more: its results can be read
    counts: dict[str, int] = field(default_factory=dict)  # the provider's request counts
    detail: str = ""  # why a batch failed as a whole (OpenAI: a refused input file)
    files: tuple[str, ...] = ()  # OpenAI: the output and error files to read


class BatchAdapter:
    provider: str = ""
    max_requests: int = 0  # the provider's documented limits of one batch
    max_bytes: int = 0

    def request(self, key: str, messages: list[dict[str, str]], params: dict[str, Any]) -> dict:
        raise NotImplementedError

    def submit(self, requests: list[dict]) -> str:
        """Create one batch of `requests`; its id."""
        raise NotImplementedError

    def state(self, batch_id: str) -> BatchState:
        raise NotImplementedError

    def results(self, state: BatchState) -> Iterator[tuple[str, Completion | str]]:
        raise NotImplementedError


def call_failure(failure: ProviderError, creating: bool) -> ProviderError:
    """A failed call to the batch API as the executor should see it: a "create" that got no answer
    at all is not retried, since the batch may exist and a second create could pay for it twice."""
    if creating and failure.status is None:
        failure.retryable = False
        failure.message += "; the batch may have been created: check the provider's batch list"
    return failure

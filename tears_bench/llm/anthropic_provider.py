"""`anthropic:<model>` through the official `anthropic` client (Messages API)."""
from __future__ import annotations

import os
from typing import Any, Mapping

import anthropic

from tears_bench.errors import TearsBenchError
from tears_bench.llm.base import (Completion, LLMClient, ProviderError, Usage, redact, retry_after_seconds,
                                  split_system)

KEY_VARIABLE = "ANTHROPIC_API_KEY"
STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}


class AnthropicClient(LLMClient):
    provider = "anthropic"

    def __init__(self, model: str, base_url: str | None = None):
        self.model = model
        self.base_url = base_url
        key = os.environ.get(KEY_VARIABLE)
        if not key:
            raise TearsBenchError(f"anthropic:{model} needs an API key: set the environment variable {KEY_VARIABLE}")
        self._key = key
        # max_retries=0: the runner's retry policy (backoff, jitter, Retry-After) governs.
        self._client = anthropic.Anthropic(api_key=key, base_url=base_url, max_retries=0)

    def __repr__(self) -> str:  # never show the key
        return f"AnthropicClient(anthropic:{self.model}, base_url={self.base_url!r})"

    def complete(self, messages: list[dict[str, str]], params: Mapping[str, Any],
                 timeout: float | None = None) -> Completion:
        params = dict(params)
        system, rest = split_system(messages)
        kwargs: dict[str, Any] = {"max_tokens": params.pop("max_tokens")}
        if system is not None:
            kwargs["system"] = system
        # Sent in the body: recent clients no longer type `temperature`, the API still reads it.
        try:
            response = self._client.messages.create(
                model=self.model, messages=rest, timeout=timeout, extra_body=params, **kwargs)
        except anthropic.APIStatusError as error:
            raise ProviderError(self.provider, self._message(error), error.status_code,
                                retry_after_seconds(error.response.headers)) from None
        except anthropic.APITimeoutError:
            raise ProviderError(self.provider, f"request timed out after {timeout} s") from None
        except anthropic.APIConnectionError as error:
            raise ProviderError(self.provider, f"connection failed ({redact(str(error), self._key)}) "
                                f"to {self.base_url or 'api.anthropic.com'}") from None
        text = "".join(getattr(block, "text", "") for block in (response.content or [])
                       if getattr(block, "type", "") == "text")
        usage = response.usage
        return Completion(
            text, Usage(int(usage.input_tokens or 0), int(usage.output_tokens or 0)) if usage else Usage(),
            STOP_REASONS.get(response.stop_reason, response.stop_reason), response.model or self.model)

    def _message(self, error: "anthropic.APIStatusError") -> str:
        body = error.body
        message = None
        if isinstance(body, dict):
            inner = body.get("error", body)
            message = inner.get("message") if isinstance(inner, dict) else inner
        return redact(str(message or getattr(error, "message", None) or error), self._key)

"""`anthropic:<model>` through the official `anthropic` client (Messages API)."""
from __future__ import annotations

import os
from typing import Any, Mapping

import anthropic

from tears_bench.errors import TearsBenchError
from tears_bench.llm.base import (PARSE_ERRORS, Completion, LLMClient, ProviderError, Usage, malformed_response,
                                  redact, redact_text, redact_url, retry_after_seconds, split_query,
                                  split_system)

KEY_VARIABLE = "ANTHROPIC_API_KEY"
STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}


class AnthropicClient(LLMClient):
    provider = "anthropic"

    def __init__(self, model: str, base_url: str | None = None, timeout: float | None = None):
        self.model = model
        self.base_url = base_url  # the real one, for the client only; messages show redact_url(base_url)
        self.timeout = timeout
        key = os.environ.get(KEY_VARIABLE)
        if not key:
            raise TearsBenchError(f"anthropic:{model} needs an API key: set the environment variable {KEY_VARIABLE}")
        self._key = key
        # max_retries=0: the runner's retry policy (backoff, jitter, Retry-After) governs.
        address, query = split_query(base_url)
        self._client = anthropic.Anthropic(api_key=key, base_url=address, default_query=query, max_retries=0,
                                           **({"timeout": timeout} if timeout else {}))

    def __repr__(self) -> str:  # never show the key nor the URL's credentials
        return f"AnthropicClient(anthropic:{self.model}, base_url={redact_url(self.base_url)!r})"

    def _clean(self, text: str) -> str:
        return redact_text(redact(text, self._key), self.base_url)

    def request_body(self, messages: list[dict[str, str]], params: Mapping[str, Any]) -> tuple[dict, dict]:
        """(typed keywords, extra body) of one Messages API request: what `complete` sends, and what
        a batch request's params carry, so both ask exactly the same."""
        params = dict(params)
        system, rest = split_system(messages)
        kwargs: dict[str, Any] = {"model": self.model, "messages": rest, "max_tokens": params.pop("max_tokens")}
        if system is not None:
            kwargs["system"] = system
        # Sent in the body: recent clients no longer type `temperature`, the API still reads it.
        return kwargs, params

    def complete(self, messages: list[dict[str, str]], params: Mapping[str, Any],
                 timeout: float | None = None) -> Completion:
        kwargs, extra = self.request_body(messages, params)
        timeout = timeout if timeout is not None else self.timeout
        try:
            raw = self._client.messages.with_raw_response.create(timeout=timeout, extra_body=extra, **kwargs)
        except (anthropic.APIStatusError, anthropic.APIConnectionError) as error:
            raise self.error(error, timeout) from None
        try:
            return self._parse(raw.parse())
        except (*PARSE_ERRORS, anthropic.APIError) as error:
            raise malformed_response(self.provider, error, raw.headers.get("content-type"),
                                     self._clean(raw.http_response.text[:400])) from None

    def error(self, error: "anthropic.APIStatusError | anthropic.APIConnectionError",
              timeout: float | None = None) -> ProviderError:
        """A client exception as a ProviderError (status, Retry-After, no secrets in the message)."""
        if isinstance(error, anthropic.APIStatusError):
            return ProviderError(self.provider, self._message(error), error.status_code,
                                 retry_after_seconds(error.response.headers))
        if isinstance(error, anthropic.APITimeoutError):
            return ProviderError(self.provider, f"request timed out after {timeout or self.timeout} s")
        return ProviderError(self.provider, self._clean(
            f"connection failed ({error}) to {self.base_url or 'api.anthropic.com'}"))

    def _parse(self, response: Any) -> Completion:
        if isinstance(response, (str, bytes)):  # the client hands back a non-JSON body as text
            raise ValueError("not JSON at all")
        if not isinstance(getattr(response, "content", None), list):
            raise TypeError("no 'content' list")
        text = "".join(getattr(block, "text", "") for block in response.content
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
        return self._clean(str(message or getattr(error, "message", None) or error))

"""`openai:<model>` and `openai-compatible:<model>` through the official `openai` client.

openai-compatible covers vLLM, Ollama, the llama.cpp server, the LLaMA API and any gateway
speaking /v1/chat/completions: it needs `base_url`, and uses OPENAI_API_KEY when set, else the
placeholder key "EMPTY" that local servers accept.
"""
from __future__ import annotations

import os
from typing import Any, Mapping

import openai

from tears_bench.errors import TearsBenchError
from tears_bench.llm.base import (PARSE_ERRORS, Completion, LLMClient, ProviderError, Usage, malformed_response,
                                  redact, redact_text, redact_url, retry_after_seconds, split_query)

KEY_VARIABLE = "OPENAI_API_KEY"
LOCAL_PLACEHOLDER_KEY = "EMPTY"


class OpenAIClient(LLMClient):
    def __init__(self, model: str, base_url: str | None = None, compatible: bool = False, timeout: float | None = None):
        self.provider = "openai-compatible" if compatible else "openai"
        self.model = model
        self.base_url = base_url  # the real one, for the client only; messages show redact_url(base_url)
        self.timeout = timeout
        if compatible and not base_url:
            raise TearsBenchError(
                f"openai-compatible:{model} needs the server's address: pass --llm-base-url "
                "(e.g. http://localhost:8000/v1 for vLLM, http://localhost:11434/v1 for Ollama)")
        key = os.environ.get(KEY_VARIABLE)
        if not key:
            if not compatible:
                raise TearsBenchError(f"openai:{model} needs an API key: set the environment variable {KEY_VARIABLE}")
            key = LOCAL_PLACEHOLDER_KEY
        self._key = key
        # max_retries=0: the runner's retry policy (backoff, jitter, Retry-After) governs.
        address, query = split_query(base_url)
        self._client = openai.OpenAI(api_key=key, base_url=address, default_query=query, max_retries=0,
                                     **({"timeout": timeout} if timeout else {}))

    def __repr__(self) -> str:  # never show the key nor the URL's credentials
        return f"OpenAIClient({self.provider}:{self.model}, base_url={redact_url(self.base_url)!r})"

    def _clean(self, text: str) -> str:
        return redact_text(redact(text, self._key), self.base_url)

    def request_body(self, messages: list[dict[str, str]], params: Mapping[str, Any]) -> tuple[dict, dict]:
        """(typed keywords, extra body) of one /v1/chat/completions request: what `complete` sends, and
        what a batch line carries, so both ask exactly the same."""
        params = dict(params)
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": params.pop("temperature")}
        max_tokens = params.pop("max_tokens")
        # OpenAI's own API has renamed the limit; local servers still know it as max_tokens.
        kwargs["max_tokens" if self.provider == "openai-compatible" else "max_completion_tokens"] = max_tokens
        return kwargs, params

    def complete(self, messages: list[dict[str, str]], params: Mapping[str, Any],
                 timeout: float | None = None) -> Completion:
        kwargs, extra = self.request_body(messages, params)
        timeout = timeout if timeout is not None else self.timeout
        try:
            raw = self._client.chat.completions.with_raw_response.create(
                timeout=timeout, extra_body=extra or None, **kwargs)
        except (openai.APIStatusError, openai.APIConnectionError) as error:
            raise self.error(error, timeout) from None
        try:
            return self._parse(raw.parse())
        except (*PARSE_ERRORS, openai.APIError) as error:
            raise malformed_response(self.provider, error, raw.headers.get("content-type"),
                                     self._clean(raw.http_response.text[:400])) from None

    def error(self, error: "openai.APIStatusError | openai.APIConnectionError",
              timeout: float | None = None) -> ProviderError:
        """A client exception as a ProviderError (status, Retry-After, no secrets in the message)."""
        if isinstance(error, openai.APIStatusError):
            return ProviderError(self.provider, self._message(error), error.status_code,
                                 retry_after_seconds(error.response.headers))
        if isinstance(error, openai.APITimeoutError):
            return ProviderError(self.provider, f"request timed out after {timeout or self.timeout} s")
        return ProviderError(self.provider, self._clean(
            f"connection failed ({error}) to {self.base_url or 'api.openai.com'}"))

    def _parse(self, response: Any) -> Completion:
        if isinstance(response, (str, bytes)):  # the client hands back a non-JSON body as text
            raise ValueError("not JSON at all")
        if not isinstance(getattr(response, "choices", None), list):
            raise TypeError("no 'choices' list")
        if not response.choices:
            return Completion("", Usage(*_usage(response)), "empty", response.model or self.model)
        choice = response.choices[0]
        text = (choice.message.content if choice.message else None) or ""
        if not isinstance(text, str):
            raise TypeError("the message content is not text")
        return Completion(text, Usage(*_usage(response)), choice.finish_reason, response.model or self.model)

    def _message(self, error: "openai.APIStatusError") -> str:
        body = error.body
        if isinstance(body, dict):
            inner = body.get("error", body)
            message = inner.get("message") if isinstance(inner, dict) else inner
        else:
            message = getattr(error, "message", None) or str(error)
        return self._clean(str(message or "no message"))


def _usage(response: Any) -> tuple[int, int]:
    usage = getattr(response, "usage", None)
    if usage is None:  # some local servers leave it out
        return 0, 0
    return int(usage.prompt_tokens or 0), int(usage.completion_tokens or 0)

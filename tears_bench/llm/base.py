"""The one LLM interface: messages + parameters -> text + token usage.

A provider module implements `LLMClient.complete`; everything around it (cache, retries,
concurrency, accounting) lives in `runner.py` and is shared by all providers.
Providers report failures as `ProviderError` so the runner can decide whether to retry.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from tears_bench.errors import TearsBenchError

PROVIDERS = ("openai", "anthropic", "openai-compatible", "hf")
# The paper's generation parameters (protocol.md section 3).
DEFAULT_PARAMS: dict[str, Any] = {"temperature": 0.0, "max_tokens": 300}
# Statuses worth retrying: timeouts, conflicts, rate limits, server errors, Anthropic's "overloaded".
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})


@dataclass(frozen=True)
class Message:
    role: str  # "system", "user" or "assistant"
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens)


@dataclass
class Completion:
    """One answer. `finish_reason` is normalised to 'stop', 'length' (cut by max_tokens) or the
    provider's own word; `cached` says whether it came from the on-disk cache."""

    text: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = "stop"
    model: str = ""
    cached: bool = False

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"

    @property
    def empty(self) -> bool:
        return not self.text.strip()


@dataclass(frozen=True)
class ProviderSpec:
    provider: str
    model: str

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}"


class ProviderError(Exception):
    """A failed request. `status` is the HTTP status (None for connection errors and timeouts)."""

    def __init__(self, provider: str, message: str, status: int | None = None,
                 retry_after: float | None = None, retryable: bool | None = None):
        super().__init__(message)
        self.provider = provider
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.retryable = (status is None or status in RETRYABLE_STATUS) if retryable is None else retryable

    def describe(self) -> str:
        where = f"HTTP {self.status}" if self.status is not None else "no HTTP response"
        return f"{where}: {self.message}"


class LLMClient:
    """Base class of the providers. `complete` sends one request (no retries: the runner retries)."""

    provider: str = ""
    model: str = ""
    #: True when requests are served locally (no network, no cost, no rate limit).
    local: bool = False

    def complete(self, messages: list[dict[str, str]], params: Mapping[str, Any],
                 timeout: float | None = None) -> Completion:
        raise NotImplementedError

    @property
    def spec(self) -> ProviderSpec:
        return ProviderSpec(self.provider, self.model)


def parse_provider(spec: str) -> ProviderSpec:
    """'openai:gpt-4o-mini' -> ProviderSpec('openai', 'gpt-4o-mini'); clear error otherwise."""
    provider, sep, model = str(spec).partition(":")
    provider, model = provider.strip().lower(), model.strip()
    if not sep or provider not in PROVIDERS:
        raise TearsBenchError(
            f"unknown LLM provider in {spec!r}: use one of "
            + ", ".join(f"{p}:<model>" for p in PROVIDERS))
    if not model:
        raise TearsBenchError(f"no model named in {spec!r}: write it as {provider}:<model>")
    return ProviderSpec(provider, model)


def normalise_messages(messages: Iterable[Message | Mapping[str, str]]) -> list[dict[str, str]]:
    out = []
    for message in messages:
        if isinstance(message, Message):
            out.append(message.as_dict())
        else:
            role, content = message.get("role"), message.get("content")
            if role not in ("system", "user", "assistant") or not isinstance(content, str):
                raise TearsBenchError(f"a message must have role system/user/assistant and text content, got {message!r}")
            out.append({"role": role, "content": content})
    if not out:
        raise TearsBenchError("an LLM request needs at least one message")
    return out


def normalise_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults filled in, numbers typed, so equal requests hash equally."""
    merged = {**DEFAULT_PARAMS, **(dict(params) if params else {})}
    merged.pop("base_url", None)  # where a request goes never changes what it asks
    merged["temperature"] = float(merged["temperature"])
    merged["max_tokens"] = int(merged["max_tokens"])
    if merged["max_tokens"] < 1:
        raise TearsBenchError(f"max_tokens must be at least 1, got {merged['max_tokens']}")
    return merged


def split_system(messages: list[dict[str, str]]) -> tuple[str | None, list[dict[str, str]]]:
    """System text (joined) and the remaining messages, for APIs that take the system apart."""
    system = [m["content"] for m in messages if m["role"] == "system"]
    rest = [m for m in messages if m["role"] != "system"]
    return ("\n\n".join(system) if system else None), rest


def redact(text: str, secret: str | None) -> str:
    """Never let a key reach a log or an error message, even when a server echoes it back."""
    if secret and len(secret) >= 6:
        text = text.replace(secret, "***")
    return text


# Query parameters that carry credentials (compared lower-case, without '-' and '_'): gateways
# take keys as ?api-key=, ?key=, ?token=, ?access_token=, Azure SAS as ?sig=...
_SECRET_PARAM_WORDS = ("key", "token", "secret", "password", "passwd", "auth", "signature", "credential")
_SECRET_PARAM_NAMES = frozenset({"sig", "pwd", "pass", "code", "sas", "se", "sp"})


def _secret_param(name: str) -> bool:
    plain = "".join(c for c in name.lower() if c.isalnum())
    return plain in _SECRET_PARAM_NAMES or any(word in plain for word in _SECRET_PARAM_WORDS)


def url_secrets(url: str | None) -> list[str]:
    """The credentials a URL carries (password, a token-like user name, credential parameter
    values), raw and percent-decoded, longest first, for scrubbing free text."""
    from urllib.parse import unquote, urlsplit

    if not url:
        return []
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return []
    user, _, password = parts.netloc.rpartition("@")[0].partition(":")
    # A short user name ("admin") is left alone in free text; a long one is likely a token.
    found = [password] + ([user] if len(user) >= 8 else [])
    for pair in parts.query.split("&"):
        name, _, value = pair.partition("=")
        if _secret_param(unquote(name)):
            found.append(value)
    found += [unquote(s) for s in found]
    return sorted({s for s in found if len(s) >= 4}, key=lambda s: (-len(s), s))


def redact_url(url: str | None) -> str | None:
    """The URL as it may be shown or written to disk: no user:password@, credential query values
    replaced by ***. The client still gets the real URL; everything else gets this."""
    from urllib.parse import unquote, urlsplit, urlunsplit

    if not url:
        return url
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc.rpartition("@")[2]
    pairs = []
    for pair in filter(None, parts.query.split("&")):
        name, eq, _ = pair.partition("=")
        pairs.append(f"{name}=***" if eq and _secret_param(unquote(name)) else pair)
    return urlunsplit((parts.scheme, netloc, parts.path, "&".join(pairs), ""))


def split_query(url: str | None) -> tuple[str | None, dict[str, str] | None]:
    """(URL without its query, the query as a dict): the clients append paths to base_url, so a
    gateway's ?api-key=... must travel as default query parameters instead."""
    from urllib.parse import parse_qsl, urlsplit, urlunsplit

    if not url or "?" not in url:
        return url, None
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="", fragment="")), dict(parse_qsl(parts.query, keep_blank_values=True))


def redact_text(text: str, *urls: str | None) -> str:
    """`text` with every credential of `urls` (and the URLs' secret-bearing forms) replaced by ***."""
    for url in urls:
        if url:
            text = text.replace(str(url), redact_url(url) or "")
        for secret in url_secrets(url):
            text = text.replace(secret, "***")
    return text


# What parsing a malformed body raises, across the openai/anthropic clients' versions.
PARSE_ERRORS = (ValueError, TypeError, AttributeError, IndexError, KeyError)


def malformed_response(provider: str, error: Exception, content_type: str | None, body: str) -> ProviderError:
    """A 200 whose body is not the API's JSON (an HTML error page from a proxy, JSON cut short):
    retried like a 5xx, since gateways send these when overloaded, and never cached.
    `body` must already be scrubbed of secrets."""
    import json

    if isinstance(error, json.JSONDecodeError):
        problem = f"invalid JSON: {error}"
    elif isinstance(error, ValueError):
        problem = str(error)
    else:
        problem = f"unexpected shape: {error}"
    snippet = " ".join(body.split())[:80]
    message = (f"the response body is not the expected JSON ({problem}; content-type "
               f"{content_type or 'missing'}, body starts {snippet!r})")
    return ProviderError(provider, message, status=200, retryable=True)


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds a server asks us to wait: `retry-after-ms`, or `Retry-After` as seconds or an HTTP date."""
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    import email.utils
    import time

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())

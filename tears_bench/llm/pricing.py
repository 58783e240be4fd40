"""Estimated cost: list prices in USD per million tokens (input, output), checked 2025; they
change, so treat the figure as an estimate. Unknown models give None ("unknown"); local
`hf:` models cost nothing. Batch requests cost half the online price (BATCH_DISCOUNT).

Before anything is sent, a request's size is estimated at four characters a token (no tokenizer
needed) and its answer at max_tokens: an upper bound of what it can cost.
"""
from __future__ import annotations

import math
import re
from typing import Sequence

from tears_bench.llm.base import ProviderSpec, Usage

# Both providers bill batch requests at 50% of the online price: OpenAI's Batch API FAQ ("Each model
# will be offered at 50% cost discount vs. the synchronous APIs", help.openai.com/en/articles/9197833)
# and Anthropic's batch processing guide ("reducing costs by 50%",
# platform.claude.com/docs/en/build-with-claude/batch-processing).
BATCH_DISCOUNT = 0.5
TOKENS_PER_MESSAGE = 4  # role and separators a chat template adds around each message

PRICES_PER_MILLION: dict[str, tuple[float, float]] = {
    # OpenAI
    "gpt-4-1106-preview": (10.0, 30.0),  # the paper's summarizer
    "gpt-4-turbo": (10.0, 30.0),
    "gpt-4": (30.0, 60.0),
    "gpt-4o": (2.5, 10.0),
    "gpt-4o-mini": (0.15, 0.6),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.4, 1.6),
    "gpt-4.1-nano": (0.1, 0.4),
    "gpt-3.5-turbo": (0.5, 1.5),
    # Anthropic
    "claude-3-opus": (15.0, 75.0),
    "claude-3-haiku": (0.25, 1.25),
    "claude-3-5-haiku": (0.8, 4.0),
    "claude-3-5-sonnet": (3.0, 15.0),
    "claude-3-7-sonnet": (3.0, 15.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-opus-4": (15.0, 75.0),
}
# What may follow a listed name and still be the same model: a date or "-latest".
_VERSION_SUFFIX = re.compile(r"^(-latest|-(\d{4}(-\d{2}-\d{2})?|\d{8})(-preview)?)?$")


def price(spec: ProviderSpec) -> tuple[float, float] | None:
    if spec.provider == "hf":
        return 0.0, 0.0
    if spec.provider not in ("openai", "anthropic"):
        return None  # an openai-compatible server may be free or paid: we cannot know
    model = spec.model.lower()
    for name in sorted(PRICES_PER_MILLION, key=len, reverse=True):
        if model.startswith(name) and _VERSION_SUFFIX.match(model[len(name):]):
            return PRICES_PER_MILLION[name]
    return None


def estimate_cost(spec: ProviderSpec, usage: Usage, batch: bool = False) -> float | None:
    rates = price(spec)
    if rates is None:
        return None
    cost = (usage.input_tokens * rates[0] + usage.output_tokens * rates[1]) / 1e6
    return cost * BATCH_DISCOUNT if batch else cost


def estimate_tokens(text: str) -> int:
    """About four characters per token for English (a deliberate estimate: no tokenizer needed)."""
    return math.ceil(len(text) / 4)


def request_tokens(messages: Sequence[dict[str, str]]) -> int:
    """Estimated input tokens of one chat request."""
    return estimate_tokens(" ".join(m["content"] for m in messages)) + TOKENS_PER_MESSAGE * len(messages)


def estimate_usage(requests: Sequence[Sequence[dict[str, str]]], max_tokens: int) -> Usage:
    """Estimated input tokens of `requests`, and their output if every answer ran to max_tokens."""
    return Usage(sum(request_tokens(m) for m in requests), int(max_tokens) * len(requests))


def format_cost(cost: float | None) -> str:
    return "unknown" if cost is None else f"${cost:,.4f}"

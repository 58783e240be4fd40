"""Estimated cost: list prices in USD per million tokens (input, output), checked 2025; they
change, so treat the figure as an estimate. Unknown models give None ("unknown"); local
`hf:` models cost nothing."""
from __future__ import annotations

import re

from tears_bench.llm.base import ProviderSpec, Usage

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


def estimate_cost(spec: ProviderSpec, usage: Usage) -> float | None:
    rates = price(spec)
    if rates is None:
        return None
    return (usage.input_tokens * rates[0] + usage.output_tokens * rates[1]) / 1e6


def format_cost(cost: float | None) -> str:
    return "unknown" if cost is None else f"${cost:,.4f}"

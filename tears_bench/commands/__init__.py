"""CLI subcommands, one module each, discovered by `tears_bench.cli`."""


def comma_list(text: str) -> list[str]:
    """'a, b,,c' -> ['a', 'b', 'c'] (argparse type of the comma-separated options)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def seconds(text: str) -> float:
    """argparse type of --llm-timeout: a positive number of seconds."""
    import argparse

    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


LLM_TIMEOUT_HELP = ("seconds an LLM request may take before it is retried (default 120); also bounds how long "
                    "Ctrl-C waits for answers in flight")


# models.text_heads.TEXT_HEADS plus "auto", here so that --help does not import torch (a test checks they agree).
TEXT_HEAD_CHOICES = ("auto", "linear", "attention", "sentence-attention")
TEXT_HEAD_HELP = ("TEARS text head: auto (default: sentence-attention for frozen encoders, linear for lora and "
                  "--segments), linear (the paper's, over the mean-pooled embedding), sentence-attention (learned "
                  "queries over the summary's sentence embeddings) or attention (over cached token states); "
                  "docs/decisions.md")

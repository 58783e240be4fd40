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

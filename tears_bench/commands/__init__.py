"""CLI subcommands, one module each, discovered by `tears_bench.cli`."""


def comma_list(text: str) -> list[str]:
    """'a, b,,c' -> ['a', 'b', 'c'] (argparse type of the comma-separated options)."""
    return [part.strip() for part in text.split(",") if part.strip()]

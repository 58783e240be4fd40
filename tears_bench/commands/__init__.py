"""CLI subcommands, one module each, discovered by `tears_bench.cli`."""

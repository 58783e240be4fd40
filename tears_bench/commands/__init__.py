"""CLI subcommands, one module each, discovered by `tears_bench.cli`."""

# The option types and help texts live with RunConfig (tears_bench.options, which the pipeline and the
# models may import without importing the CLI); the commands take them from here too.
from tears_bench.options import (LLM_MODE_CHOICES, LLM_MODE_HELP, LLM_TIMEOUT_HELP, TEXT_HEAD_CHOICES,  # noqa: F401
                                  TEXT_HEAD_HELP, comma_list, seconds)

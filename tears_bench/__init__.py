"""tears-bench: controllability evaluation for TEARS (arXiv 2410.19302).

The Python API (README, "Python API"): `Experiment(...).run()` -> `Results`, and the stage
functions `load_split`, `get_summaries`, `train`, `evaluate`. They are resolved on first access
(PEP 562), so `import tears_bench` imports no torch, numpy or pandas and changes no environment
variable: the CLI's `--help` and a user's own imports stay fast.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

_API = ("Experiment", "Results", "load_split", "get_summaries", "train", "evaluate")
__all__ = ["__version__", *_API]

if TYPE_CHECKING:  # for type checkers and IDEs only: at run time these load on first access
    from tears_bench.api import Experiment, Results, evaluate, get_summaries, load_split, train


def __getattr__(name: str):
    if name in _API:
        from tears_bench import api

        return getattr(api, name)
    raise AttributeError(f"module 'tears_bench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

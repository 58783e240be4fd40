"""The torch device of a `--device` value (auto | cpu | cuda[:N]), one rule for training and manifests.

Neutral: models, tasks and the run layer all import it, and it imports nothing of theirs (only
tears_bench.distributed, as neutral). torch is imported inside the function, so importing this
module stays cheap.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from tears_bench.errors import TearsBenchError

if TYPE_CHECKING:
    import torch


def resolve_device(device: "str | torch.device" = "auto") -> "torch.device":
    """'auto' -> cuda when torch sees a GPU, else cpu; an explicit device is checked, not replaced.
    Under torchrun (tears_bench.distributed) 'auto' and 'cuda' are this process's device (cuda:LOCAL_RANK)."""
    import torch

    from tears_bench.distributed import rank_device

    if rank_device() is not None and str(device) in ("auto", "cuda"):
        return rank_device()
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise TearsBenchError(f"--device {device}: CUDA is not available on this machine")
    try:
        return torch.device(device)
    except RuntimeError as error:  # torch's own message lists every backend it knows
        raise TearsBenchError(f"--device {device!r}: expected auto, cpu or cuda[:N]") from error

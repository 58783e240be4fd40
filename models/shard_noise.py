"""Training noise (input dropout, reparameterisation) drawn for the global batch, when a process
trains on its share of it (tears_bench.distributed).

Under torchrun each rank computes the loss of its rows of a global batch. Had each rank drawn noise
for its rows alone, every rank's random stream would move differently from the one process's, and
the trained model would be a different (equally valid) sample. Instead, inside `drawing_for(share)`,
every draw is made for the whole global batch, exactly as one process makes it, and the rank keeps
its rows: the ranks' generators stay in step with each other and with a single process's, and so do
draws that are not per row (MacridVAE's Gumbel sample of its item-concept assignment). Outside the
context (one process) these functions are `torch.rand_like` / `torch.randn_like`.

What this cannot cover: noise drawn inside a Hugging Face encoder (LoRA dropout, the encoder's own
dropout) is drawn for the rank's texts only, padded to the rank's longest text; see docs/distributed.md.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Iterator

import torch


@dataclass(frozen=True)
class Share:
    """A rank's part of a global batch: its rows and its stored entries (SparseRows.values)."""

    rows: slice
    n_rows: int
    values: slice
    n_values: int


_SHARE: ContextVar[Share | None] = ContextVar("tears_bench_batch_share", default=None)


@contextmanager
def drawing_for(share: Share | None) -> Iterator[None]:
    token = _SHARE.set(share)
    try:
        yield
    finally:
        _SHARE.reset(token)


def _global(like: torch.Tensor, part: slice, n: int, draw) -> torch.Tensor:
    if part.stop - part.start != like.shape[0]:
        raise RuntimeError(f"a batch share of {part.stop - part.start} rows drew noise for {like.shape[0]}")
    return draw((n, *like.shape[1:]), dtype=like.dtype, device=like.device)[part]


def normal_like(rows: torch.Tensor) -> torch.Tensor:
    """torch.randn_like(rows), rows [B, ...] being the batch's users."""
    share = _SHARE.get()
    if share is None:
        return torch.randn_like(rows)
    return _global(rows, share.rows, share.n_rows, torch.randn)


def uniform_like_values(values: torch.Tensor) -> torch.Tensor:
    """torch.rand_like(values), values being a SparseRows batch's stored entries."""
    share = _SHARE.get()
    if share is None:
        return torch.rand_like(values)
    return _global(values, share.values, share.n_values, torch.rand)

"""Segment pooling: a summary embedded as K consecutive groups of its sentences, concatenated.

A summary follows the protocol's four parts (genres enjoyed, plots enjoyed, genres not enjoyed,
plots not enjoyed). Mean pooling over the whole text keeps which genres are named but hardly where:
"loves horror ... avoids drama" and "loves drama ... avoids horror" pool to nearly the same vector,
so a frozen encoder cannot tell a flipped summary from the original. Embedding the K parts
separately and concatenating them keeps each genre's part, and a linear head can then learn that a
genre in the first part is liked and in the third disliked. A fine-tuned encoder (LoRA) can learn
this itself; this is for frozen encoders. K = 1 is the plain encoder.
"""
from __future__ import annotations

import re

import torch

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
EMPTY_SEGMENT = "none"  # stands for a part a short summary does not have


def split_segments(text: str, k: int) -> list[str]:
    """K consecutive groups of sentences, as even as the sentence count allows."""
    sentences = [s for s in _SENTENCE_END.split(text.strip()) if s]
    n = len(sentences)
    groups = [sentences[round(i * n / k):round((i + 1) * n / k)] for i in range(k)]
    return [" ".join(g) or EMPTY_SEGMENT for g in groups]


class SegmentedEncoder(torch.nn.Module):
    """Wraps a text encoder (frozen or LoRA): encode(texts) -> [B, K * dim]."""

    def __init__(self, inner, k: int):
        super().__init__()
        self.inner, self.k = inner, int(k)
        self.mode = inner.mode
        self.dim = inner.dim * self.k
        self.identity = f"{inner.identity}|segments={self.k}"

    def encode(self, texts) -> torch.Tensor:
        parts = [segment for text in texts for segment in split_segments(text, self.k)]
        return self.inner.encode(parts).reshape(len(texts), self.dim)

    def trainable_parameters(self):
        return self.inner.trainable_parameters()

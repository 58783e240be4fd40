"""TEARS text heads: a summary's encoding -> (mu, logvar) of the text latent, concatenated.

"linear": the paper's head, a bias-free Linear over one pooled vector per summary.
"attention": K learned queries attend over the summary's frozen token states (masked softmax over
its tokens), the K pooled vectors are concatenated and go through the same bias-free Linear. Mean
pooling weighs "dislikes" and "horror" alike wherever they sit; a query can learn to weigh the
tokens whose contextual states say a genre is liked, another those that say it is disliked. The
queries start at zero, so training starts from mean pooling (uniform weights) and moves away from
it only as far as the TEARS objective asks (docs/decisions.md, "Attention head over token states").
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

TEXT_HEADS = ("linear", "attention")


class AttentionPoolingHead(nn.Module):
    """K learned queries over token states -> Linear(K * dim, out_dim, bias=False)."""

    def __init__(self, dim: int, out_dim: int, queries: int = 4):
        super().__init__()
        self.dim, self.n_queries = int(dim), int(queries)
        self.queries = nn.Parameter(torch.zeros(self.n_queries, self.dim))
        self.out = nn.Linear(self.n_queries * self.dim, out_dim, bias=False)

    def attention(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Weights [B, K, T] over each text's tokens; padding gets exactly zero."""
        logits = torch.einsum("btd,kd->bkt", states, self.queries) / math.sqrt(self.dim)
        logits = logits.masked_fill(~mask.unsqueeze(1), float("-inf"))
        return torch.softmax(logits, dim=-1)

    def pool(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The K pooled vectors [B, K, dim]."""
        return torch.bmm(self.attention(states, mask), states)

    def forward(self, tokens) -> torch.Tensor:
        states, mask = tokens.padded()
        return self.out(self.pool(states, mask).flatten(1))


def make_text_head(kind: str, dim: int, out_dim: int, queries: int = 4) -> nn.Module:
    if kind == "linear":
        return nn.Linear(dim, out_dim, bias=False)
    if kind == "attention":
        return AttentionPoolingHead(dim, out_dim, queries)
    raise ValueError(f"unknown text head {kind!r}; known: {', '.join(TEXT_HEADS)}")

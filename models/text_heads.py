"""TEARS text heads: a summary's encoding -> (mu, logvar) of the text latent, concatenated.

"linear": the paper's head, a bias-free Linear over one pooled vector per summary.
"attention": K learned queries attend over the summary's frozen token states (masked softmax over
its tokens), the K pooled vectors are concatenated and go through the same bias-free Linear. Mean
pooling weighs "dislikes" and "horror" alike wherever they sit; a query can learn to weigh the
tokens whose contextual states say a genre is liked, another those that say it is disliked. The
queries start at zero, so training starts from mean pooling (uniform weights) and moves away from
it only as far as the TEARS objective asks (docs/decisions.md, "Attention head over token states").
"sentence-attention" (the default for frozen encoders): the same head over the embeddings of the
summary's sentences, each embedded alone (tears_bench.text.sentence_states), plus a null slot. A
sentence embedding carries whether its genres are liked, which token states hardly do, so a query
can gather the liked sentences and another the disliked ones (docs/decisions.md, "Sentence attention").
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

TEXT_HEADS = ("linear", "attention", "sentence-attention")
# Heads that read a set of vectors per summary: token states, or the embeddings of its sentences.
SET_HEADS = {"attention": "tokens", "sentence-attention": "sentences"}


class AttentionPoolingHead(nn.Module):
    """K learned queries over a set of vectors (token states or sentence embeddings), then
    Linear(K * dim, out_dim, bias=False)."""

    def __init__(self, dim: int, out_dim: int, queries: int = 4, null_slot: bool = False):
        super().__init__()
        self.dim, self.n_queries = int(dim), int(queries)
        self.queries = nn.Parameter(torch.zeros(self.n_queries, self.dim))
        # A null slot (a learned logit per query, value zero) lets a query read nothing from a text
        # that has nothing for it, e.g. a one-sentence request with no dislikes.
        self.null_logit = nn.Parameter(torch.zeros(self.n_queries)) if null_slot else None
        self.out = nn.Linear(self.n_queries * self.dim, out_dim, bias=False)

    def attention(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Weights [B, K, T] over each text's tokens; padding gets exactly zero."""
        logits = torch.einsum("btd,kd->bkt", states, self.queries) / math.sqrt(self.dim)
        logits = logits.masked_fill(~mask.unsqueeze(1), float("-inf"))
        if self.null_logit is None:
            return torch.softmax(logits, dim=-1)
        null = self.null_logit.view(1, -1, 1).expand(len(logits), -1, 1)
        return torch.softmax(torch.cat([logits, null], dim=-1), dim=-1)[..., :-1]

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
    if kind == "sentence-attention":
        return AttentionPoolingHead(dim, out_dim, queries, null_slot=True)
    raise ValueError(f"unknown text head {kind!r}; known: {', '.join(TEXT_HEADS)}")


def resolve_text_head(kind: str, encoder_mode: str, segments: int) -> str:
    """'auto' (the default): sentence-attention for a frozen encoder read whole, where mean pooling
    cannot tell liked from disliked; linear for LoRA (the encoder learns polarity itself, as in the
    paper) and for --segments."""
    if kind != "auto":
        return kind
    return "sentence-attention" if encoder_mode == "frozen" and segments == 1 else "linear"

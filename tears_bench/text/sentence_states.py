"""A summary as the set of its sentences' embeddings, for heads that read polarity (models.text_heads).

Mean pooling a whole summary keeps which genres it names but hardly whether they are liked, and a
frozen encoder's token states do not help much: the last-layer state of "horror" is nearly the same
(cosine 0.993 on MiniLM) in "loves horror" and "dislikes horror". A sentence embedded on its own
is different: MiniLM puts "The user loves horror movies." at cosine 0.84 from "The user dislikes
horror movies." and "dislikes horror" nearer "dislikes comedy" (0.78) than "loves comedy" (0.59),
so liking and disliking is a direction a small head can read. Each sentence goes through the
ordinary embedding cache (tears_bench.text.frozen.FrozenEmbeddings: unpadded, one call shape per length),
so edited summaries at task time reuse every sentence the edit did not touch. About ten sentences a
summary make 4.6 million vectors (7 GB) for Netflix's 463,435 users: beyond MAX_RESIDENT_BYTES,
`encode` returns a StoredTokenStates that reads a batch's vectors from the (memory-mapped) cache.
"""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn

from tears_bench.text import token_states
from tears_bench.text.token_states import StoredTokenStates, TokenStates, frozen_embeddings

_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")


def split_sentences(text: str) -> list[str]:
    """The text's sentences (also cut at semicolons and line breaks); the whole (maybe empty) text when it has none."""
    sentences = [s.strip() for s in _SENTENCE_END.split(text.strip())]
    return [s for s in sentences if s] or [text.strip()]


class SentenceSetEncoder(nn.Module):
    """Frozen mode for set heads: ``encode(texts) -> TokenStates`` of [sentences, dim] per text."""

    mode = "frozen"

    def __init__(self, inner):
        super().__init__()
        self.embeddings = frozen_embeddings(inner, "sentence embeddings")
        self.dim = inner.dim
        self.identity = f"{inner.identity}|sentences"
        self.register_buffer("_device_probe", torch.empty(0), persistent=False)

    def encode(self, texts: Sequence[str]) -> TokenStates | StoredTokenStates:
        if isinstance(texts, str):
            texts = [texts]
        parts = [split_sentences(t) for t in texts]
        lengths = [len(p) for p in parts]
        sentences = [s for p in parts for s in p]
        del parts
        if 4 * self.dim * len(sentences) <= token_states.MAX_RESIDENT_BYTES:
            vectors = self.embeddings.embed(sentences).to(self._device_probe.device)
            return TokenStates(list(vectors.split(lengths)), self.dim)
        digests = np.frombuffer(b"".join(self.embeddings.ensure(sentences)), dtype=np.uint8).reshape(-1, 32)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        return StoredTokenStates(len(texts), self.dim, lambda rows: self._read(rows, digests, offsets),
                                 self._device_probe.device)

    def _read(self, rows: list[int], digests: np.ndarray, offsets: np.ndarray) -> list[torch.Tensor]:
        """The sentence vectors of these texts, from the embedding cache."""
        wanted = [digests[offsets[r]:offsets[r + 1]] for r in rows]
        vectors = torch.from_numpy(self.embeddings.store.get([d.tobytes() for w in wanted for d in w]))
        return list(vectors.split([len(w) for w in wanted]))

    forward = encode

    def precompute(self, texts: Sequence[str]) -> int:
        before = self.embeddings.stats["computed"]
        self.embeddings.embed(list(dict.fromkeys(s for t in texts for s in split_sentences(t))))
        return self.embeddings.stats["computed"] - before

    def trainable_parameters(self) -> list[nn.Parameter]:
        return []

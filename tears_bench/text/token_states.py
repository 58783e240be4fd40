"""Per-token last-layer states of a frozen encoder, cached on disk, for heads that pool them.

Mean pooling a frozen encoder keeps which genres a summary names but hardly whether they are liked:
"loves horror ... dislikes drama" and its flip pool to nearly the same vector. The token states
still carry each word's context, so a small trained head (models.text_heads) can learn which tokens
matter. They are computed once, like the embedding cache (tears_bench.text.embedding_cache):

``storage.cache_dir("token-states") / <key> / <hh> / <sha256>.npy`` with ``key`` the hash of the
encoder's identity (plus this format) and one file per text, named by the sha256 of its UTF-8 bytes:
float16 [tokens, dim], the last hidden state of the text alone (unpadded, one text a call on the CPU),
so a text's states never depend on what else was cached or in which order. Files are written
atomically; one that cannot be read (truncated, wrong shape) is quarantined and recomputed. Texts
edited at task time go through the same cache. GPT-4 summaries of ml-1m: 224 tokens on average,
about 170 KB a text, 1 GB for 6,016 texts, and 80 GB for Netflix's 463,435 users: so `encode` keeps
the states in memory only up to MAX_RESIDENT_BYTES and otherwise returns `StoredTokenStates`, which
reads a batch's files when indexed (as the trainer does, batch by batch), never all of them.
"""
from __future__ import annotations

import io
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn as nn

from tears_bench import storage
from tears_bench.errors import TearsBenchError
from tears_bench.text.embedding_cache import text_digest

TOKEN_STATES_FORMAT = 1
# States (or sentence vectors) `encode` returns in memory; beyond this they stay on disk and are
# read a batch at a time (StoredTokenStates).
MAX_RESIDENT_BYTES = 1 << 30


def positions(rows, n: int) -> list[int]:
    """Row positions of a slice, a tensor, an array or a list of rows of a sequence of length n."""
    if isinstance(rows, slice):
        return list(range(n))[rows]
    if isinstance(rows, torch.Tensor):
        rows = rows.tolist()
    return [int(r) for r in np.asarray(rows).reshape(-1)]


class TokenStates:
    """Token states of N texts of varying length: fp16 [len_i, dim] tensors, padded on demand."""

    def __init__(self, items: Sequence[torch.Tensor], dim: int):
        self.items, self.dim = list(items), int(dim)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, rows) -> "TokenStates":
        if isinstance(rows, slice):
            return TokenStates(self.items[rows], self.dim)
        return TokenStates([self.items[r] for r in positions(rows, len(self.items))], self.dim)

    def to(self, device) -> "TokenStates":
        return TokenStates([item.to(device) for item in self.items], self.dim)

    def padded(self, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """(states [B, T, dim] zero-padded, mask bool [B, T]) with T the longest text here."""
        lengths = [len(item) for item in self.items]
        if not lengths or min(lengths) < 1:
            raise ValueError("token states need at least one text, each with at least one token")
        device = self.items[0].device
        states = torch.zeros((len(lengths), max(lengths), self.dim), dtype=dtype, device=device)
        mask = torch.zeros((len(lengths), max(lengths)), dtype=torch.bool, device=device)
        for i, item in enumerate(self.items):
            states[i, :len(item)] = item.to(dtype)
            mask[i, :len(item)] = True
        return states, mask


class StoredTokenStates:
    """Per-text states of N texts left on disk: indexing reads only the rows asked for and returns
    them as TokenStates (on this object's device), so memory holds a batch, not all N texts."""

    def __init__(self, n: int, dim: int, load: Callable[[list[int]], list[torch.Tensor]], device=None):
        self.n, self.dim, self._load, self.device = int(n), int(dim), load, device

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, rows) -> TokenStates:
        states = TokenStates(self._load(positions(rows, self.n)), self.dim)
        return states if self.device is None else states.to(self.device)

    def to(self, device) -> "StoredTokenStates":
        return StoredTokenStates(self.n, self.dim, self._load, device)

    def padded(self, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        return self[:].padded(dtype)


class TokenStateStore:
    """One file per text under the folder of one encoder identity."""

    def __init__(self, identity: dict, dim: int, root: Path | None = None):
        self.dim = int(dim)
        self.key = storage.stable_hash({"identity": identity, "format": TOKEN_STATES_FORMAT})
        self.folder = Path(root if root is not None else storage.cache_dir("token-states")) / self.key
        self.folder.mkdir(parents=True, exist_ok=True)
        if not (self.folder / "meta.json").exists():
            storage.atomic_write_json(self.folder / "meta.json",
                                      {"identity": identity, "format": TOKEN_STATES_FORMAT, "dtype": "float16"})

    def path(self, digest: bytes) -> Path:
        name = digest.hex()
        return self.folder / name[:2] / f"{name}.npy"

    def load(self, digest: bytes) -> np.ndarray | None:
        """The stored states, or None when missing or corrupt (then quarantined)."""
        path = self.path(digest)
        try:
            states = np.load(path, allow_pickle=False)
            if states.dtype != np.float16 or states.ndim != 2 or states.shape[1] != self.dim or not len(states):
                raise ValueError(f"{states.dtype} {states.shape}, expected float16 [tokens, {self.dim}]")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError) as error:
            try:
                storage.quarantine(path, f"unreadable token states: {type(error).__name__}: {error}"[:300])
            except FileNotFoundError:
                pass  # another process moved it aside first
            return None
        return states

    def save(self, digest: bytes, states: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(states, dtype=np.float16), allow_pickle=False)
        path = self.path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        storage.atomic_write_bytes(path, buffer.getvalue())


def frozen_embeddings(inner, what: str):
    """The cached embeddings behind a frozen encoder (a plain object, so its encoder is no submodule
    of the model that holds it); set heads read vectors a frozen encoder computed once."""
    if getattr(inner, "mode", None) != "frozen" or not hasattr(inner, "embeddings"):
        raise TearsBenchError(f"{what} need a frozen encoder (--encoder-mode frozen, --segments 1)")
    return inner.embeddings


class TokenStateEncoder(nn.Module):
    """Frozen mode for token-level heads: ``encode(texts) -> TokenStates`` (no trainable parameters).

    Wraps a FrozenTextEncoder (tears_bench.text.frozen) for its identity and its lazily loaded
    TextEncoder; the weights are loaded only when a text is missing from the cache."""

    mode = "frozen"

    def __init__(self, inner, root: Path | None = None, progress: bool | None = None):
        super().__init__()
        self.embeddings = frozen_embeddings(inner, "token states")
        self.dim = inner.dim
        self.identity = f"{inner.identity}|token-states"
        self.store = TokenStateStore(self.embeddings.info, self.dim, root)
        self.progress = progress
        self.stats = {"computed": 0, "cached": 0}
        self.register_buffer("_device_probe", torch.empty(0), persistent=False)

    def encode(self, texts: Sequence[str]) -> TokenStates | StoredTokenStates:
        """The states of `texts` (computed and cached when missing): in memory up to
        MAX_RESIDENT_BYTES of files, else a StoredTokenStates that reads them a batch at a time."""
        if isinstance(texts, str):
            texts = [texts]
        digests = [text_digest(t) for t in texts]
        unique = dict(zip(digests, texts))
        sizes, todo = {}, {}
        for digest, text in unique.items():
            try:
                sizes[digest] = self.store.path(digest).stat().st_size
            except FileNotFoundError:
                todo[digest] = text
        sizes.update(self._compute(todo, keep=False) if todo else {})  # on disk, not held
        self.stats["cached"] += len(unique) - len(todo)
        device = self._device_probe.device
        if sum(sizes.values()) > MAX_RESIDENT_BYTES:
            return StoredTokenStates(len(texts), self.dim, lambda rows: self._read([digests[r] for r in rows], unique),
                                     device)
        found = dict(zip(unique, self._read(list(unique), unique)))
        return TokenStates([found[d] for d in digests], self.dim).to(device)

    def _read(self, digests: Sequence[bytes], texts: dict[bytes, str]) -> list[torch.Tensor]:
        """States of these digests from the store; a file that turns out missing or corrupt
        (quarantined by the store) is computed again from its text."""
        found: dict[bytes, torch.Tensor] = {}
        for digest in dict.fromkeys(digests):
            states = self.store.load(digest)
            if states is None:
                self.stats["cached"] -= 1  # counted as cached when its file was seen
                found.update(self._compute({digest: texts[digest]}))
            else:
                found[digest] = torch.from_numpy(states)
        return [found[d] for d in digests]

    forward = encode

    def precompute(self, texts: Sequence[str]) -> int:
        """Computes (and caches) every text's states now; returns how many had to be computed."""
        before = self.stats["computed"]
        todo = {}
        for text in dict.fromkeys(texts):
            digest = text_digest(text)
            if self.store.load(digest) is None:
                todo[digest] = text
        if todo:
            self._compute(todo, keep=False)
        return self.stats["computed"] - before

    def _compute(self, todo: dict[bytes, str], keep: bool = True) -> dict[bytes, torch.Tensor | int]:
        """Computes and saves the states of `todo`; returns them (keep) or only their sizes in bytes,
        so computing a whole dataset's states never holds them all."""
        from tqdm import tqdm

        encoder = self.embeddings.encoder
        was_training = encoder.training
        encoder.eval()
        # None: a bar only on a terminal (tqdm's disable=None) and not for a few edited texts, so logs stay clean.
        if self.progress is None:
            disable = True if len(todo) <= 64 else None
        else:
            disable = not self.progress
        out = {}
        try:
            with torch.inference_mode():
                for digest, text in tqdm(todo.items(), desc="token states", unit="text", file=sys.stderr,
                                         leave=False, disable=disable):
                    # Alone and unpadded (as the embedding cache does on the CPU): the states of a
                    # text never depend on which texts were computed with it.
                    input_ids, mask = encoder.collate(encoder.tokenize([text]))
                    hidden = encoder.model(input_ids=input_ids, attention_mask=mask).last_hidden_state[0]
                    states = hidden.float().cpu().numpy().astype(np.float16)
                    self.store.save(digest, states)
                    out[digest] = torch.from_numpy(states) if keep else states.nbytes
                    self.stats["computed"] += 1
        finally:
            encoder.train(was_training)
        return out

    def trainable_parameters(self) -> list[nn.Parameter]:
        return []


def cache_token_states(texts: Sequence[str], encoder_spec: str = "minilm", progress: bool = True) -> dict:
    """Fills the token-state cache for `texts` (a one-off cost); returns counts and seconds."""
    from tears_bench.text.build import build_encoder

    started = time.perf_counter()
    encoder = TokenStateEncoder(build_encoder(encoder_spec, mode="frozen"), progress=progress)
    computed = encoder.precompute(list(texts))
    return {"texts": len(set(texts)), "computed": computed, "seconds": time.perf_counter() - started,
            "folder": str(encoder.store.folder)}

"""Frozen mode: each distinct text embedded once by a frozen encoder, the vectors cached on disk.

``FrozenEmbeddings`` embeds each distinct text once, unpadded (on the CPU in calls of one fixed shape) under
``torch.inference_mode``, and caches the float32 vectors on disk (``embedding_cache``) under a key
of the encoder's identity (``identity``) plus sha256(text). The model weights are not even loaded
while every requested text is cached. Threads: torch's default (one per physical core); set
torch.set_num_threads / OMP_NUM_THREADS to change it. ``FrozenTextEncoder`` is the uniform wrapper
TEARS uses (``encode(texts)``, no trainable parameters).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from tears_bench.storage import stable_hash
from tears_bench.text.embedding_cache import EmbeddingStore, text_digest
from tears_bench.text.encoders import TextEncoder, resolve_precision
from tears_bench.text.identity import encoder_identity, folder_fingerprint, short_identity
from tears_bench.text.loading import ResolvedEncoder, resolve_encoder
from tears_bench.text.spec import EncoderSpec


CPU_ROWS = 16  # texts per encoder call on the CPU, always (see FrozenEmbeddings._compute)


def unpadded_batches(ids: Sequence[Sequence[int]], batch_size: int) -> list[list[int]]:
    """Positions of `ids` grouped into batches of equal token length, longest first.

    No batch is padded, so a text's vector does not depend on which other texts were embedded with
    it: a run whose embedding cache was filled in pieces (interrupted, or shared with another run)
    gets bit-identical vectors (padded batches differed in the last bits, up to 2e-7 on MiniLM).
    Measured on 2 CPU cores with MiniLM, 300 template summaries: padded batches of 64 12.9 s, one
    text at a time 13.7-15.9 s; 128 GPT-4 summaries (longer, more padding): 8.5 s against 5.9 s."""
    by_length: dict[int, list[int]] = {}
    for position, row in enumerate(ids):
        by_length.setdefault(len(row), []).append(position)
    return [group[start:start + batch_size] for length in sorted(by_length, reverse=True)
            for group in [by_length[length]] for start in range(0, len(group), max(1, batch_size))]


class FrozenEmbeddings:
    """Embeds texts once with a frozen encoder and caches the vectors on disk.

    ``embed(texts) -> Tensor[N, dim]`` (float32, CPU). Distinct uncached texts are tokenized once
    and run unpadded (``unpadded_batches``: groups of equal token length, on the CPU always CPU_ROWS
    texts a call, filled up with copies, elsewhere at most ``batch_size``) under ``torch.inference_mode``,
    in ``precision`` (None: the spec's suffix, else 'auto' = bf16 on a CPU with native bf16, fp32
    elsewhere; ``resolve_precision``), with a tqdm bar on stderr (``progress``: None = only when stderr is a terminal, True, False);
    vectors are written to disk every ``flush_rows`` rows or ``flush_seconds`` and when the call
    ends (also on an exception or Ctrl-C), so an interrupted run keeps what it did.
    """

    def __init__(self, encoder: TextEncoder | None = None, *, spec: str | EncoderSpec | None = None,
                 pooling: str | None = None, max_length: int | None = None, device: str | torch.device = "cpu",
                 batch_size: int = 64, root: Path | None = None, flush_rows: int = 512,
                 flush_seconds: float = 60.0, progress: bool | None = None, precision: str | None = None):
        if (encoder is None) == (spec is None):
            raise ValueError("give exactly one of encoder and spec")
        if encoder is not None and precision is not None and resolve_precision(precision, encoder.device) != encoder.precision:
            raise ValueError(f"the encoder computes in {encoder.precision}, not {precision}")
        self._encoder = encoder
        self._resolved: ResolvedEncoder | None = None
        self._fingerprint: str | None = None
        self.device = torch.device(device) if encoder is None else encoder.device
        if encoder is not None:
            info = encoder.identity_info()
        else:  # the weights are loaded only when a text is missing from the cache
            self._resolved = resolve_encoder(spec, pooling, max_length)
            r = self._resolved
            self._precision = resolve_precision(precision or r.spec.precision, self.device)
            fingerprint = folder_fingerprint(r.folder) if r.folder is not None else None
            if fingerprint is None:
                self._encoder = TextEncoder.from_resolved(r, self.device, precision=self._precision)
                fingerprint = self._encoder.fingerprint
            info = encoder_identity(r.spec.name, getattr(r.config, "model_type", ""), fingerprint,
                                  r.pooling, r.max_length, r.dim, self._precision)
            self._fingerprint = fingerprint
        self.info = info
        self.precision = info.get("precision", "fp32")
        self.identity = short_identity(info)
        self.dim = int(info["dim"])
        self.batch_size = int(batch_size)
        self.flush_rows, self.flush_seconds = int(flush_rows), float(flush_seconds)
        self.progress = progress
        self.store = EmbeddingStore(stable_hash(info), self.dim, identity=info, root=root)
        self.stats = {"computed": 0, "cached": 0, "batches": 0}

    @property
    def encoder(self) -> TextEncoder:
        """The underlying TextEncoder (loaded on first use when built from a spec)."""
        if self._encoder is None:
            assert self._resolved is not None
            self._encoder = TextEncoder.from_resolved(self._resolved, self.device, fingerprint=self._fingerprint,
                                                       precision=self._precision)
        return self._encoder

    def load_model(self) -> None:
        """Load the encoder's weights now (serve does, so that the first edit does not wait for them)."""
        self.encoder  # noqa: B018  (the property loads them)

    @property
    def model_loaded(self) -> bool:
        return self._encoder is not None

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        if isinstance(texts, str):
            texts = [texts]
        return torch.from_numpy(self.store.get(self.ensure(texts)))

    def ensure(self, texts: Sequence[str]) -> list[bytes]:
        """Embeds and caches the texts missing from the store, returning no vectors (so a whole
        dataset can be embedded in bounded memory); returns the texts' digests."""
        digests = [text_digest(t) for t in texts]
        todo: dict[bytes, str] = {}
        for digest, text in zip(digests, texts):
            if digest not in self.store and digest not in todo:
                todo[digest] = text
        self.stats["cached"] += len(texts) - len(todo)
        if todo:
            self._compute(list(todo.keys()), list(todo.values()))
        return digests

    def _compute(self, digests: list[bytes], texts: list[str]) -> None:
        encoder = self.encoder
        was_training = encoder.training
        encoder.eval()
        ids = encoder.tokenize(texts)
        # On the CPU every call has one shape per token length: CPU_ROWS texts of that length, a short
        # group filled up with copies of its first text. Unpadded groups of varying size gave vectors
        # that depended on the group's size (the BLAS kernel follows the shape; seen on a tiny BERT),
        # so a cache filled in pieces differed in the last bits from one filled at once; with the
        # shape fixed, a text's vector depends on its own tokens only (rows of a matrix product do not
        # mix), and texts still share calls: 2.6x faster than one text a call on 1,816 template
        # sentences. GPUs keep plain groups: their kernels are not bit-reproducible across shapes anyway.
        cpu = encoder.device.type == "cpu"
        batches = unpadded_batches(ids, CPU_ROWS if cpu else self.batch_size)
        order = [i for batch in batches for i in batch]
        from tqdm import tqdm

        # progress None: a bar only on a terminal (tqdm's disable=None), so logs and pipes stay clean,
        # and not for a single batch (the tasks embed a few edited summaries at a time).
        if self.progress is None:
            disable = True if len(order) <= self.batch_size else None
        else:
            disable = not self.progress
        bar = tqdm(total=len(order), desc="embedding", unit="text", file=sys.stderr, leave=False, disable=disable)
        last_flush = time.monotonic()
        try:
            with torch.inference_mode():
                for chunk in batches:
                    rows = chunk + [chunk[0]] * (CPU_ROWS - len(chunk)) if cpu else chunk
                    vectors = encoder.encode_ids(*encoder.collate([ids[i] for i in rows]))[:len(chunk)]
                    self.stats["batches"] += 1
                    rows_out = vectors.float().cpu().numpy()
                    for j, i in enumerate(chunk):  # row by row: a part on disk holds flush_rows rows
                        self.store.add([digests[i]], rows_out[j:j + 1])
                        self.stats["computed"] += 1
                        if self.store.pending >= self.flush_rows or time.monotonic() - last_flush > self.flush_seconds:
                            self.store.flush()
                            last_flush = time.monotonic()
                    bar.update(len(chunk))
        finally:
            self.store.flush()
            bar.close()
            encoder.train(was_training)


class FrozenTextEncoder(nn.Module):
    """Frozen mode: ``encode`` reads cached vectors (no grad, no trainable parameters).

    The wrapped encoder is deliberately NOT a registered submodule: it adds nothing to the owner's
    ``parameters()`` or ``state_dict()``. ``encode`` returns tensors on this module's device (it
    follows ``.to(device)`` of the model that owns it); the encoder itself stays where it was built.
    """

    mode = "frozen"

    def __init__(self, embeddings: FrozenEmbeddings):
        super().__init__()
        self.embeddings = embeddings  # a plain object, not an nn.Module
        self.dim = embeddings.dim
        self.identity = embeddings.identity
        self.register_buffer("_device_probe", torch.empty(0), persistent=False)

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        return self.embeddings.embed(texts).to(self._device_probe.device)

    forward = encode

    def precompute(self, texts: Sequence[str]) -> int:
        """Embeds (and caches) every text now; returns how many had to be computed."""
        before = self.embeddings.stats["computed"]
        self.embeddings.embed(list(dict.fromkeys(texts)))
        return self.embeddings.stats["computed"] - before

    def trainable_parameters(self) -> list[nn.Parameter]:
        return []

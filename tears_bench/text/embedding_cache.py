"""On-disk cache of text embeddings: one folder per encoder identity, rows keyed by sha256(text).

Layout: ``storage.cache_dir("embeddings") / <key> /`` where ``key = stable_hash(identity)`` and
``identity`` is everything that determines an embedding (model name, weights fingerprint, pooling,
max_length, dim; see ``tears_bench.text.identity``). The folder holds ``meta.json`` (that identity,
for humans) and one or more ``part-*.npz`` files, each an uncompressed NumPy archive with
``digests`` (uint8 [n, 32], the sha256 of each UTF-8 text) and ``vectors`` (float32 [n, dim]).

Parts are only ever added, each written atomically (temporary file + rename), so an interrupted
run keeps every part it finished and never leaves a half-written one; two processes filling the
same cache cannot clobber each other's parts (a text embedded by both is stored twice and the
first copy wins on load). When the folder holds more than ``COMPACT_AFTER`` parts they are merged
and the merged-away parts deleted (only those this process had loaded): into one, or, when one part
holds most rows, the others into one beside it (size-tiered, so that a few new rows never cost a
rewrite of the whole cache: `serve` adds one sentence an edit). A part that cannot
be read (truncated, garbled, wrong shapes) is moved aside by ``storage.quarantine`` and its texts
are embedded again. Loading 6,000 x
384 floats is a handful of ``np.load`` calls: milliseconds.
"""
from __future__ import annotations

import hashlib
import io
import os
import time
import uuid
import zipfile
import zlib
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from tears_bench import storage

COMPACT_AFTER = 8
MAX_BLOCKS = 64  # in-memory blocks read row by row before they are joined into one matrix
DIGEST_BYTES = 32


def _read_part(path: Path, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(digests uint8 [n, 32], vectors float32 [n, dim]) of one part; ValueError if malformed."""
    with np.load(path, allow_pickle=False) as archive:
        digests = np.asarray(archive["digests"], dtype=np.uint8)
        vectors = np.asarray(archive["vectors"], dtype=np.float32)
    if digests.ndim != 2 or digests.shape[1] != DIGEST_BYTES or vectors.shape != (len(digests), dim):
        raise ValueError(f"digests {digests.shape} and vectors {vectors.shape} do not match {dim} dimensions")
    return digests, vectors


def _quarantine(path: Path, reason: str) -> None:
    try:
        storage.quarantine(path, reason)
    except FileNotFoundError:
        pass  # another process moved it aside first


def text_digest(text: str) -> bytes:
    """The cache key of one text: sha256 of its exact UTF-8 bytes (no normalisation)."""
    return hashlib.sha256(text.encode("utf-8")).digest()


class EmbeddingStore:
    """The embeddings of one encoder identity, loaded from and appended to one cache folder."""

    def __init__(self, key: str, dim: int, identity: dict[str, Any] | None = None,
                 root: Path | None = None):
        self.key = key
        self.dim = int(dim)
        self.folder = Path(root if root is not None else storage.cache_dir("embeddings")) / key
        self.folder.mkdir(parents=True, exist_ok=True)
        if identity is not None and not (self.folder / "meta.json").exists():
            storage.atomic_write_json(self.folder / "meta.json", identity)
        self._index: dict[bytes, int] = {}
        self._blocks: list[np.ndarray] = []
        self._matrix: np.ndarray | None = np.zeros((0, self.dim), dtype=np.float32)
        self._rows = 0
        self._pending_digests: list[bytes] = []
        self._pending_vectors: list[np.ndarray] = []
        self._parts: list[Path] = []
        self._part_rows: dict[Path, int] = {}
        self._load()

    # ---------------------------------------------------------------- reading
    def _load(self) -> None:
        for path in sorted(self.folder.glob("part-*.npz")):
            try:
                digests, vectors = _read_part(path, self.dim)
            except FileNotFoundError:
                continue  # merged away by another process since the listing
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as error:
                # A truncated or garbled part would fail every run: move it aside; its texts are
                # then missing and re-embedded by the caller.
                _quarantine(path, f"{type(error).__name__}: {error}")
                continue
            self._parts.append(path)
            self._part_rows[path] = len(digests)
            self._append(digests.tobytes(), vectors)
        self._matrix = None

    def _append(self, digest_bytes: bytes, vectors: np.ndarray) -> None:
        keep, start = [], self._rows
        for i in range(len(vectors)):
            digest = digest_bytes[i * DIGEST_BYTES:(i + 1) * DIGEST_BYTES]
            if digest not in self._index:
                self._index[digest] = start + len(keep)
                keep.append(i)
        if not keep:
            return
        block = vectors if len(keep) == len(vectors) else vectors[keep]
        self._blocks.append(np.ascontiguousarray(block, dtype=np.float32))
        self._rows += len(block)
        self._matrix = None

    def __len__(self) -> int:
        return self._rows

    def __contains__(self, digest: bytes) -> bool:
        return digest in self._index

    def missing(self, digests: Iterable[bytes]) -> list[bytes]:
        return [d for d in digests if d not in self._index]

    @property
    def matrix(self) -> np.ndarray:
        """All stored vectors, float32 [len(self), dim]."""
        if self._matrix is None:
            self._matrix = (np.concatenate(self._blocks) if len(self._blocks) > 1 else
                            self._blocks[0] if self._blocks else np.zeros((0, self.dim), np.float32))
            self._blocks = [self._matrix]
        return self._matrix

    def get(self, digests: Sequence[bytes]) -> np.ndarray:
        """The vectors of these digests, float32 [len(digests), dim]; all must be stored."""
        rows = np.fromiter((self._index[d] for d in digests), dtype=np.int64, count=len(digests))
        if self._matrix is not None or len(self._blocks) > MAX_BLOCKS:
            return self.matrix[rows]
        # Gather from the blocks: joining them into one matrix after every small addition would
        # copy the whole cache (64 MB for 42k sentences) per call.
        starts = np.cumsum([0] + [len(block) for block in self._blocks])
        block_of = np.searchsorted(starts, rows, side="right") - 1
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        for b in np.unique(block_of).tolist():
            chosen = block_of == b
            out[chosen] = self._blocks[b][rows[chosen] - starts[b]]
        return out

    # ---------------------------------------------------------------- writing
    def add(self, digests: Sequence[bytes], vectors: np.ndarray) -> None:
        """Stores vectors in memory at once; they reach disk on the next ``flush``."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (len(digests), self.dim):
            raise ValueError(f"expected {len(digests)} x {self.dim} vectors, got {vectors.shape}")
        fresh = [i for i, d in enumerate(digests) if d not in self._index]
        if not fresh:
            return
        self._pending_digests.extend(digests[i] for i in fresh)
        self._pending_vectors.append(vectors[fresh])
        self._append(b"".join(digests[i] for i in fresh), vectors[fresh])

    @property
    def pending(self) -> int:
        return len(self._pending_digests)

    def flush(self) -> None:
        """Writes the rows added since the last flush as one new part (atomically)."""
        if not self._pending_digests:
            return
        digests = np.frombuffer(b"".join(self._pending_digests), dtype=np.uint8).reshape(-1, DIGEST_BYTES)
        vectors = np.concatenate(self._pending_vectors)
        self._parts.append(self._write_part(digests, vectors))
        self._part_rows[self._parts[-1]] = len(digests)
        self._pending_digests, self._pending_vectors = [], []
        if len(self._parts) > COMPACT_AFTER:
            self.compact()

    def _write_part(self, digests: np.ndarray, vectors: np.ndarray) -> Path:
        buffer = io.BytesIO()
        np.savez(buffer, digests=digests, vectors=vectors)
        path = self.folder / f"part-{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.npz"
        storage.atomic_write_bytes(path, buffer.getvalue())
        return path

    def compact(self) -> None:
        """Merges the parts this process knows (pending rows are flushed first): all into one, or,
        when one part holds more rows than all the others, the others into one beside it."""
        if self._pending_digests:
            self.flush()  # may recurse into compact once; harmless
        if len(self._parts) <= 1:
            return
        biggest = max(self._parts, key=lambda path: self._part_rows.get(path, 0))
        rest = sum(self._part_rows.get(path, 0) for path in self._parts) - self._part_rows.get(biggest, 0)
        if self._part_rows.get(biggest, 0) > rest:
            small = [path for path in self._parts if path != biggest]
            merged = self._merge_parts(small)
            self._remove(small)
            self._parts = [biggest] + ([merged] if merged is not None else [])
            return
        old = list(self._parts)
        order = sorted(self._index.items(), key=lambda item: item[1])
        digests = np.frombuffer(b"".join(d for d, _ in order), dtype=np.uint8).reshape(-1, DIGEST_BYTES)
        merged = self._write_part(digests, self.matrix)
        self._part_rows[merged] = len(digests)
        self._remove(old)
        self._parts = [merged]

    def _merge_parts(self, paths: list[Path]) -> Path | None:
        """One new part holding the rows of `paths` (read back from disk; the first copy of a text wins)."""
        read = []
        for path in paths:
            try:
                read.append(_read_part(path, self.dim))
            except FileNotFoundError:
                continue  # merged away by another process
        if not read:
            return None
        digests = np.concatenate([d for d, _ in read])
        vectors = np.concatenate([v for _, v in read])
        _, first = np.unique(digests.view(f"V{DIGEST_BYTES}").ravel(), return_index=True)
        first = np.sort(first)
        merged = self._write_part(digests[first], vectors[first])
        self._part_rows[merged] = len(first)
        return merged

    def _remove(self, paths: list[Path]) -> None:
        for path in paths:
            self._part_rows.pop(path, None)
            try:
                path.unlink()
            except OSError:
                pass

"""On-disk cache of text embeddings: one folder per encoder identity, rows keyed by sha256(text).

Layout: ``storage.cache_dir("embeddings") / <key> /`` where ``key = stable_hash(identity)`` and
``identity`` is everything that determines an embedding (model name, weights fingerprint, pooling,
max_length, dim; see ``tears_bench.text.identity``). The folder holds ``meta.json`` (that identity,
for humans) and one or more ``part-*.npz`` files, each an uncompressed NumPy archive with
``digests`` (uint8 [n, 32], the sha256 of each UTF-8 text) and ``vectors`` (float32 [n, dim]).

Parts are only ever added, each written atomically (temporary file + rename), so an interrupted
run keeps every part it finished and never leaves a half-written one; two processes filling the
same cache cannot clobber each other's parts (a text embedded by both is stored twice and the
first copy wins on load). A part that cannot be read (truncated, garbled, a CRC that does not
match, wrong shapes) is moved aside by ``storage.quarantine`` and its texts are embedded again.

Memory is bounded by a shard, not by the number of texts: a part's vectors are memory-mapped
straight from the archive (its CRC checked once, streaming), so only the digest index (about 150
bytes a text) and the rows added since the last flush live in the process; 463,435 Netflix users'
MiniLM vectors are 711 MB on disk and stay there. Compaction is size-tiered: when COMPACT_AFTER
parts of one tier (rows within a factor of COMPACT_AFTER) exist, they are merged into parts of at
most SHARD_ROWS rows; so each row is rewritten only a few times, a merge holds at most one shard in
memory, and the folder keeps few files (under COMPACT_AFTER per tier, plus full shards).
"""
from __future__ import annotations

import hashlib
import io
import math
import os
import struct
import time
import uuid
import zipfile
import zlib
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from tears_bench import storage

COMPACT_AFTER = 8
SHARD_ROWS = 1 << 16  # rows of a merged part: 96 MiB of 384-dimensional float32 vectors
DIGEST_BYTES = 32
_CRC_READ = 1 << 24
_READ_ERRORS = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error, struct.error)


def _stored_member(path: Path, archive: zipfile.ZipFile, name: str, verify: bool = True) -> np.ndarray:
    """An uncompressed .npy member of an .npz as a read-only memory map (its CRC checked first
    when `verify`, reading the file once in 16 MiB pieces); a compressed member is read into memory."""
    info = archive.getinfo(name)
    if info.compress_type != zipfile.ZIP_STORED:
        with archive.open(name) as member:
            return np.lib.format.read_array(member, allow_pickle=False)
    with open(path, "rb") as handle:
        handle.seek(info.header_offset)
        local = handle.read(30)
        if len(local) < 30 or local[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile(f"no local header for {name}")
        name_length, extra_length = struct.unpack("<HH", local[26:30])
        start = info.header_offset + 30 + name_length + extra_length
        if verify:
            handle.seek(start)
            crc, left = 0, info.file_size
            while left:
                piece = handle.read(min(left, _CRC_READ))
                if not piece:
                    raise EOFError(f"{name} is cut short")
                crc, left = zlib.crc32(piece, crc), left - len(piece)
            if crc != info.CRC:
                raise zipfile.BadZipFile(f"bad CRC-32 for {name}")
        handle.seek(start)
        version = np.lib.format.read_magic(handle)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(handle)
        offset = handle.tell()
    if dtype.hasobject or fortran:
        raise ValueError(f"{name} is not a C-ordered numeric array")
    if offset + dtype.itemsize * math.prod(shape) > start + info.file_size:
        raise ValueError(f"{name} holds fewer bytes than its shape {shape} needs")
    if math.prod(shape) == 0:
        return np.zeros(shape, dtype)
    return np.memmap(path, dtype=dtype, mode="r", shape=shape, offset=offset)


def _read_part(path: Path, dim: int, verify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(digests uint8 [n, 32] in memory, vectors float32 [n, dim] memory-mapped) of one part;
    ValueError (or a zip/OS error) if malformed."""
    with zipfile.ZipFile(path) as archive:
        digests = np.asarray(_stored_member(path, archive, "digests.npy", verify), dtype=np.uint8)
        vectors = _stored_member(path, archive, "vectors.npy", verify)
    if vectors.dtype != np.float32:
        vectors = np.asarray(vectors, dtype=np.float32)
    if digests.ndim != 2 or digests.shape[1] != DIGEST_BYTES or vectors.shape != (len(digests), dim):
        raise ValueError(f"digests {digests.shape} and vectors {vectors.shape} do not match {dim} dimensions")
    return np.ascontiguousarray(digests), vectors


def _quarantine(path: Path, reason: str) -> None:
    try:
        storage.quarantine(path, reason)
    except FileNotFoundError:
        pass  # another process moved it aside first


def text_digest(text: str) -> bytes:
    """The cache key of one text: sha256 of its exact UTF-8 bytes (no normalisation)."""
    return hashlib.sha256(text.encode("utf-8")).digest()


def tier(rows: int) -> int:
    """Parts whose row counts are within a factor of COMPACT_AFTER share a tier."""
    return int(math.log(max(rows, 1)) / math.log(COMPACT_AFTER))


class EmbeddingStore:
    """The embeddings of one encoder identity, loaded from and appended to one cache folder.

    Rows live in blocks: one memory map per part on disk, and in-memory blocks for rows added since
    the last flush (replaced by the map of their part once flushed). The index maps a digest to its
    row number across the blocks; a text stored twice keeps its first row."""

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
        self._starts = np.zeros(1, dtype=np.int64)  # first row of each block, then the total
        self._pending_digests: list[bytes] = []
        self._pending_from = 0  # the first in-memory (unflushed) block
        # Part file -> (its block, its digests): what compaction merges and re-indexes.
        self._parts: dict[Path, tuple[int, np.ndarray]] = {}
        self._load()

    # ---------------------------------------------------------------- reading
    def _load(self) -> None:
        for path in sorted(self.folder.glob("part-*.npz")):
            try:
                digests, vectors = _read_part(path, self.dim)
            except FileNotFoundError:
                continue  # merged away by another process since the listing
            except _READ_ERRORS as error:
                # A truncated or garbled part would fail every run: move it aside; its texts are
                # then missing and re-embedded by the caller.
                _quarantine(path, f"{type(error).__name__}: {error}")
                continue
            self._parts[path] = (len(self._blocks), digests)
            self._append(digests.tobytes(), vectors)
        self._pending_from = len(self._blocks)

    def _append(self, digest_bytes: bytes, vectors: np.ndarray) -> None:
        """Adds a block; its digests not yet indexed point into it."""
        start = int(self._starts[-1])
        for i in range(len(vectors)):
            self._index.setdefault(digest_bytes[i * DIGEST_BYTES:(i + 1) * DIGEST_BYTES], start + i)
        self._blocks.append(vectors)
        self._starts = np.append(self._starts, start + len(vectors))

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, digest: bytes) -> bool:
        return digest in self._index

    def missing(self, digests: Iterable[bytes]) -> list[bytes]:
        return [d for d in digests if d not in self._index]

    def get(self, digests: Sequence[bytes]) -> np.ndarray:
        """The vectors of these digests, float32 [len(digests), dim]; all must be stored. Only these
        rows are read (from the memory maps), never a whole part."""
        rows = np.fromiter((self._index[d] for d in digests), dtype=np.int64, count=len(digests))
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        block_of = np.searchsorted(self._starts, rows, side="right") - 1
        for block in np.unique(block_of):
            chosen = block_of == block
            out[chosen] = self._blocks[block][rows[chosen] - self._starts[block]]
        return out

    # ---------------------------------------------------------------- writing
    def add(self, digests: Sequence[bytes], vectors: np.ndarray) -> None:
        """Stores vectors in memory at once; they reach disk on the next ``flush``."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (len(digests), self.dim):
            raise ValueError(f"expected {len(digests)} x {self.dim} vectors, got {vectors.shape}")
        fresh, seen = [], set()
        for i, d in enumerate(digests):
            if d not in self._index and d not in seen:
                seen.add(d)
                fresh.append(i)
        if not fresh:
            return
        chosen = [digests[i] for i in fresh]
        self._pending_digests.extend(chosen)
        self._append(b"".join(chosen), np.ascontiguousarray(vectors[fresh]))

    @property
    def pending(self) -> int:
        return len(self._pending_digests)

    def flush(self) -> None:
        """Writes the rows added since the last flush as one new part (atomically); from then on
        they are read from that part's memory map, so memory does not grow with the texts embedded."""
        if not self._pending_digests:
            return
        digests = np.frombuffer(b"".join(self._pending_digests), dtype=np.uint8).reshape(-1, DIGEST_BYTES)
        vectors = np.concatenate(self._blocks[self._pending_from:])
        path = self._write_part(digests, vectors)
        del vectors
        # The part holds the pending blocks' rows in order: one map replaces them, row numbers unchanged.
        _, mapped = _read_part(path, self.dim, verify=False)  # just written by this process
        self._blocks[self._pending_from:] = [mapped]
        self._starts = np.append(self._starts[:self._pending_from + 1], self._starts[-1])
        self._parts[path] = (self._pending_from, digests.copy())
        self._pending_digests = []
        self._pending_from = len(self._blocks)
        if self._tier_to_merge() is not None:
            self.compact()

    def _write_part(self, digests: np.ndarray, vectors: np.ndarray) -> Path:
        buffer = io.BytesIO()
        np.savez(buffer, digests=digests, vectors=vectors)
        path = self.folder / f"part-{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.npz"
        storage.atomic_write_bytes(path, buffer.getvalue())
        return path

    def _small_parts(self) -> dict[Path, int]:
        """Parts below SHARD_ROWS rows, by tier."""
        return {path: tier(len(digests)) for path, (_, digests) in self._parts.items() if len(digests) < SHARD_ROWS}

    def _tier_to_merge(self) -> int | None:
        levels = list(self._small_parts().values())
        return min((t for t in set(levels) if levels.count(t) >= COMPACT_AFTER), default=None)

    def compact(self) -> None:
        """Merges this process's parts tier by tier (see the module docstring) until no tier holds
        COMPACT_AFTER parts; pending rows are flushed first. Merged-away parts are deleted."""
        if self._pending_digests:
            self.flush()  # may compact itself; the loop below then finds nothing to do
        while (level := self._tier_to_merge()) is not None:
            self._merge(sorted(p for p, t in self._small_parts().items() if t == level))

    def _merge(self, paths: list[Path]) -> None:
        """Rewrites these parts as parts of at most SHARD_ROWS rows (a text stored twice keeps its
        first copy), holding at most a shard and one part in memory, then deletes them. Their blocks
        are released (their maps and file handles close) and the index points into the new parts.
        Rows come from this process's maps, not the files: another process may have removed those."""
        old_blocks = {self._parts[p][0] for p in paths}
        digests, vectors, buffered, seen = [], [], 0, set()
        for k, path in enumerate(paths):
            block, part_digests = self._parts[path]
            fresh = [j for j, row in enumerate(part_digests) if not (row.tobytes() in seen or seen.add(row.tobytes()))]
            digests.append(part_digests[fresh])
            vectors.append(np.asarray(self._blocks[block][fresh]))
            buffered += len(fresh)
            while buffered >= SHARD_ROWS or (buffered and k == len(paths) - 1):
                all_digests, all_vectors = np.concatenate(digests), np.concatenate(vectors)
                take = min(buffered, SHARD_ROWS)
                self._add_merged_part(all_digests[:take], all_vectors[:take], old_blocks)
                digests, vectors, buffered = [all_digests[take:]], [all_vectors[take:]], buffered - take
        for path in paths:
            block, _ = self._parts.pop(path)
            self._blocks[block] = np.zeros((0, self.dim), dtype=np.float32)  # no row points here any more
            try:
                path.unlink()
            except OSError:
                pass

    def _add_merged_part(self, digests: np.ndarray, vectors: np.ndarray, old_blocks: set[int]) -> None:
        path = self._write_part(digests, vectors)
        _, mapped = _read_part(path, self.dim, verify=False)
        block, start = len(self._blocks), int(self._starts[-1])
        keys = [row.tobytes() for row in digests]
        at = np.fromiter((self._index[k] for k in keys), dtype=np.int64, count=len(keys))
        moved = np.isin(np.searchsorted(self._starts, at, side="right") - 1, list(old_blocks))
        for j in np.flatnonzero(moved).tolist():  # texts whose first copy was in a merged part
            self._index[keys[j]] = start + j
        self._blocks.append(mapped)
        self._starts = np.append(self._starts, start + len(vectors))
        self._parts[path] = (block, digests)
        self._pending_from = len(self._blocks)

"""On-disk caching: where caches live, stable content hashes, atomic writes.

Every stage caches its output under a key made of everything that determines it. Writes go to a
temporary file in the same folder and are renamed into place, so an interrupted run never leaves a
half-written cache entry behind.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import secrets
import sys
from pathlib import Path
from typing import Any

from tears_bench.errors import TearsBenchError

# errnos that say the disk, quota or permissions refuse a write: reported in one sentence, not a traceback
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG,
                errno.ENOTDIR, errno.EEXIST, errno.EISDIR}


class WriteError(TearsBenchError, OSError):
    """A file or folder the suite must write cannot be written (full disk, read-only, no permission).

    Still an OSError (with .errno and .filename) for code that handles those."""

    def __init__(self, path: Path | str, error: OSError, what: str = "write", hint: str = ""):
        super().__init__(error.errno, error.strerror or str(error), str(path))
        self.sentence = f"cannot {what} {path}: {error.strerror or error}" + (f" ({hint})" if hint else "")

    def __str__(self) -> str:
        return self.sentence


def home() -> Path:
    """The cache root: $TEARS_BENCH_HOME, default ~/.cache/tears-bench."""
    root = os.environ.get("TEARS_BENCH_HOME") or Path.home() / ".cache" / "tears-bench"
    return Path(root)


def cache_dir(kind: str) -> Path:
    path = home() / kind
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise WriteError(path, error, "create the cache folder",
                         "set TEARS_BENCH_HOME to a writable folder") from None
    return path


def check_writable_dir(path: Path | str, option: str = "--output") -> Path:
    """Fail now, in one sentence, if files cannot be written in folder `path` (created later).

    Probes by creating and deleting a temporary file in the folder, or, when it does not exist
    yet, in its nearest existing ancestor (so a failed run leaves no empty folder behind).
    Permission bits alone would not do: root ignores them, and a read-only mount or a full disk
    does not show in them."""
    path = Path(path).expanduser()
    probe_dir = path
    while not probe_dir.exists() and probe_dir != probe_dir.parent:
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        raise TearsBenchError(f"{option} {path}: {probe_dir} is a file, not a folder")
    try:
        fd, tmp = _create_temp(probe_dir / ".write-probe")
        os.close(fd)
        os.unlink(tmp)
    except OSError as error:
        raise TearsBenchError(f"{option} {path}: cannot write in {probe_dir} "
                              f"({error.strerror or error})") from None
    return path


def _canonical(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if _is_numpy(obj, "generic"):
        return obj.item()
    return obj


def _is_numpy(obj: Any, kind: str) -> bool:
    # numpy is imported lazily so that the CLI's parser (which imports this module) stays light; an
    # object can only be a numpy scalar or array once numpy is loaded.
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(obj, getattr(numpy, kind))


def stable_hash(obj: Any, length: int = 16) -> str:
    """A hash of a JSON-able object that does not depend on dict order or the Python process."""
    text = json.dumps(_canonical(obj), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def hash_arrays(*arrays, length: int = 16) -> str:
    """A hash of array contents (dtype, shape and bytes)."""
    import numpy as np

    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(str(array.dtype).encode())
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:length]


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _create_temp(path: Path) -> tuple[int, str]:
    """A new, empty file beside `path` (a unique hidden name), opened for writing.

    Created with mode 0666 so that the kernel applies the umask, as for any file a user writes
    (tempfile.mkstemp would force 0600 and make shared caches and results unreadable to others)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = str(path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp"))
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(path))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all: a full disk or a read-only folder raises WriteError (one
    sentence naming `path`) and leaves the previous version of the file, if any, untouched."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temp(path)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(error, OSError) and not isinstance(error, WriteError) and error.errno in WRITE_ERRNOS:
            raise WriteError(path, error) from None
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if _is_numpy(obj, "generic"):
        return obj.item()
    if _is_numpy(obj, "ndarray"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def atomic_pickle(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def load_pickle(path: Path) -> Any | None:
    """The cached object, or None when the file is missing or unreadable (then it is rebuilt)."""
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
        return None


def quarantine(path: Path, reason: str) -> Path:
    """Move a corrupt cache file (or folder) aside so it is rebuilt, and say so once on stderr.

    The file is renamed in place to `<name>.corrupt-<time>` (kept for inspection, never read again:
    no cache lookup matches that name). Returns the new path."""
    import sys
    import time

    path = Path(path)
    target = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    os.replace(path, target)
    print(f"tears-bench: warning: {path} is corrupt ({reason}); moved to {target.name} and rebuilding",
          file=sys.stderr, flush=True)
    return target

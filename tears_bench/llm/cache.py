"""The on-disk completion cache: SQLite in WAL mode, one row per successful answer.

Key = stable hash of (provider, model, parameters, messages, replicate index). The base URL is
not part of it: where a request is sent does not change what it asks. Errors and empty answers
are never stored, so a rerun asks for them again; everything else (including answers cut by
max_tokens, which are flagged downstream) is stored, so reruns and interrupted runs only request
what is missing. Each insert is its own transaction: a run killed at any moment leaves every
finished answer readable.

Claims share in-flight work between processes: before sending, a process writes a claim row (key,
pid, host, time) in the same transaction that checks the answer is still missing; another process
that finds the claim waits for the answer instead of paying for it again. A claim is taken over
when its process is dead (same host) or it is older than the claimer's time-to-live (a crashed
process elsewhere). A file that SQLite cannot read is quarantined on open and a new one started.

Provider batches (`--llm-mode batch`, llm/batch.py) are recorded here too, the moment the provider
has created one: its id and the keys of its requests (the requests' `custom_id`s). A batch stays
'pending' until its results are merged into `completions`; a rerun finds the pending batch of a
missing key and polls it instead of paying for the request again.
"""
from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

from tears_bench.llm.base import Completion, ProviderSpec, Usage
from tears_bench.storage import cache_dir, quarantine, stable_hash

SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    finish_reason TEXT,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    response_model TEXT,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    endpoint TEXT,
    requests INTEGER NOT NULL,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    finished REAL
);
CREATE TABLE IF NOT EXISTS batch_requests (
    key TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    PRIMARY KEY (key, batch_id)
);
CREATE INDEX IF NOT EXISTS batch_requests_by_batch ON batch_requests (batch_id);
"""
PENDING = "pending"  # a batch's status in the table until its results are merged
HOST = socket.gethostname()
# What claim() finds: the answer, a claim now ours, or a live claim of another worker.
ANSWERED, CLAIMED, BUSY = "answered", "claimed", "busy"
_CHUNK = 500  # keys per SELECT ... IN (...), under SQLite's parameter limit


def default_path() -> Path:
    return cache_dir("llm") / "cache.sqlite"


def request_key(spec: ProviderSpec, params: Mapping[str, Any], messages: list[dict[str, str]],
                replicate: int = 0) -> str:
    return stable_hash({"provider": spec.provider, "model": spec.model, "params": dict(params),
                        "messages": messages, "replicate": int(replicate)}, length=32)


class CompletionCache:
    """Thread-safe; several processes may share the file (WAL, busy timeout)."""

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._closed = False
        self._db = self._open()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=60, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
            # Reads every page's structure (not the rows): catches a file cut short, which opens fine.
            problem = db.execute("PRAGMA quick_check(1)").fetchone()[0]
        except sqlite3.DatabaseError:
            db.close()
            raise
        if problem != "ok":
            db.close()
            raise sqlite3.DatabaseError(problem)
        return db

    def _open(self) -> sqlite3.Connection:
        try:
            inode = self.path.stat().st_ino
        except OSError:
            inode = None
        try:
            return self._connect()
        except sqlite3.DatabaseError as error:
            try:
                if inode is not None and self.path.stat().st_ino == inode:  # not already replaced by another process
                    target = quarantine(self.path, f"not a readable SQLite database: {error}")
                    for suffix in ("-wal", "-shm"):  # a stale log must not be replayed into the new file
                        side = Path(f"{self.path}{suffix}")
                        if side.exists():
                            os.replace(side, f"{target}{suffix}")
            except FileNotFoundError:
                pass
            return self._connect()

    def get_many(self, keys: Iterable[str]) -> dict[str, Completion]:
        keys = list(dict.fromkeys(keys))
        found: dict[str, Completion] = {}
        with self._lock:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start:start + _CHUNK]
                rows = self._db.execute(
                    "SELECT key, text, finish_reason, input_tokens, output_tokens, response_model "
                    f"FROM completions WHERE key IN ({','.join('?' * len(chunk))})", chunk)
                for key, text, finish, tokens_in, tokens_out, model in rows:
                    found[key] = Completion(text, Usage(tokens_in, tokens_out), finish, model or "", cached=True)
        return found

    def get(self, key: str) -> Completion | None:
        return self.get_many([key]).get(key)

    def put(self, key: str, spec: ProviderSpec, completion: Completion) -> bool:
        """Store a successful answer (and drop its claim); empty answers are refused (returns False).
        After close() it still writes, through a connection of its own: an answer that lands
        after its run was interrupted is paid for, so it is kept."""
        if completion.empty:
            return False
        row = (key, spec.provider, spec.model, completion.text, completion.finish_reason,
               completion.usage.input_tokens, completion.usage.output_tokens, completion.model, time.time())
        with self._lock:
            db = self._db if not self._closed else sqlite3.connect(self.path, timeout=60, isolation_level=None)
            try:
                with _transaction(db):
                    db.execute("INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
                    db.execute("DELETE FROM claims WHERE key = ?", (key,))
            finally:
                if db is not self._db:
                    db.close()
        return True

    # -- claims: one process pays for a request, the others wait for its answer
    def claim(self, key: str, ttl: float) -> tuple[str, Completion | None]:
        """(ANSWERED, answer), (CLAIMED, None) when this process should send the request now, or
        (BUSY, None) when a live claim of another process (or thread) is younger than `ttl` s."""
        now = time.time()
        with self._lock, _transaction(self._db, immediate=True):
            found = self._db.execute(
                "SELECT text, finish_reason, input_tokens, output_tokens, response_model FROM completions "
                "WHERE key = ?", (key,)).fetchone()
            if found:
                text, finish, tokens_in, tokens_out, model = found
                return ANSWERED, Completion(text, Usage(tokens_in, tokens_out), finish, model or "", cached=True)
            holder = self._db.execute("SELECT pid, host, created FROM claims WHERE key = ?", (key,)).fetchone()
            if holder and not _stale(*holder, now=now, ttl=ttl):
                return BUSY, None
            self._db.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?)", (key, os.getpid(), HOST, now))
        return CLAIMED, None

    def refresh_claim(self, key: str) -> None:
        """A holder still at work (retrying) keeps its claim young."""
        with self._lock:
            if not self._closed:
                self._db.execute("UPDATE claims SET created = ? WHERE key = ? AND pid = ? AND host = ?",
                                 (time.time(), key, os.getpid(), HOST))

    def release(self, key: str) -> None:
        """Give a claim up without an answer (failure, empty answer, interrupt): others may send it."""
        with self._lock:
            db = self._db if not self._closed else sqlite3.connect(self.path, timeout=60, isolation_level=None)
            try:
                db.execute("DELETE FROM claims WHERE key = ? AND pid = ? AND host = ?", (key, os.getpid(), HOST))
            finally:
                if db is not self._db:
                    db.close()

    # -- provider batches: recorded at creation, so an interrupted poll resumes instead of paying twice
    def add_batch(self, batch_id: str, spec: ProviderSpec, keys: Iterable[str], endpoint: str | None = None) -> None:
        """Record a batch the provider has just created, with the keys of its requests (one transaction).
        `endpoint` is shown only: pass the redacted base URL."""
        keys = list(dict.fromkeys(keys))
        with self._lock, _transaction(self._db):
            self._db.execute("INSERT OR REPLACE INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                             (batch_id, spec.provider, spec.model, endpoint, len(keys), PENDING, time.time()))
            self._db.executemany("INSERT OR IGNORE INTO batch_requests VALUES (?, ?)", ((k, batch_id) for k in keys))

    def pending_batches(self, spec: ProviderSpec, keys: Iterable[str]) -> dict[str, list[str]]:
        """{batch id: every key of that batch} for the pending batches of `spec` holding any of `keys`."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, list[str]] = {}
        with self._lock:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start:start + _CHUNK]
                rows = self._db.execute(
                    "SELECT DISTINCT r.batch_id FROM batch_requests r JOIN batches b ON b.batch_id = r.batch_id "
                    "WHERE b.status = ? AND b.provider = ? AND b.model = ? "
                    f"AND r.key IN ({','.join('?' * len(chunk))})",
                    (PENDING, spec.provider, spec.model, *chunk))
                found.update((batch_id, []) for (batch_id,) in rows)
            for batch_id in found:
                found[batch_id] = [k for (k,) in self._db.execute(
                    "SELECT key FROM batch_requests WHERE batch_id = ? ORDER BY rowid", (batch_id,))]
        return found

    def finish_batch(self, batch_id: str, status: str) -> None:
        """The batch's results are merged (or it is gone): no rerun polls it again."""
        with self._lock:
            db = self._db if not self._closed else sqlite3.connect(self.path, timeout=60, isolation_level=None)
            try:
                db.execute("UPDATE batches SET status = ?, finished = ? WHERE batch_id = ?",
                           (status, time.time(), batch_id))
            finally:
                if db is not self._db:
                    db.close()

    def batch_status(self, batch_id: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT status FROM batches WHERE batch_id = ?", (batch_id,)).fetchone()
        return row[0] if row else None

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def __enter__(self) -> "CompletionCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _transaction:
    """BEGIN [IMMEDIATE] ... COMMIT, ROLLBACK on error (the connection is in autocommit mode).
    IMMEDIATE takes the write lock at once, so check-then-claim is atomic across processes."""

    def __init__(self, db: sqlite3.Connection, immediate: bool = False):
        self.db, self.immediate = db, immediate

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE" if self.immediate else "BEGIN")
        return self.db

    def __exit__(self, kind, *exc: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def _stale(pid: int, host: str, created: float, *, now: float, ttl: float) -> bool:
    if now - created > ttl:
        return True
    if host != HOST or pid == os.getpid():
        return False  # elsewhere: only age tells; here: another thread of this process, alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False

"""The on-disk completion cache: SQLite in WAL mode, one row per successful answer.

Key = stable hash of (provider, model, parameters, messages, replicate index). The base URL is
not part of it: where a request is sent does not change what it asks. Errors and empty answers
are never stored, so a rerun asks for them again; everything else (including answers cut by
max_tokens, which are flagged downstream) is stored, so reruns and interrupted runs only request
what is missing. Each insert is its own transaction: a run killed at any moment leaves every
finished answer readable.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

from tears_bench.llm.base import Completion, ProviderSpec, Usage
from tears_bench.storage import cache_dir, stable_hash

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
)
"""
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
        self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(SCHEMA)

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
        """Store a successful answer; empty answers are refused (returns False)."""
        if completion.empty:
            return False
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, spec.provider, spec.model, completion.text, completion.finish_reason,
                 completion.usage.input_tokens, completion.usage.output_tokens, completion.model, time.time()))
        return True

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "CompletionCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

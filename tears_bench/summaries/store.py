"""The summary store: one JSON file per (dataset, split, summarizer, parameters, prompt version).

Files live under $TEARS_BENCH_HOME/summaries/<dataset>/<summarizer>-<key>.json and hold
    {"key": ..., "metadata": {...}, "summaries": {user id: text}, "flags": {user id: [flag, ...]}}
with original user ids as keys, so a file stays readable without the split. Writes are atomic
and merge with what is already on disk, so an interrupted run (or two processes filling the
same set) keeps every summary already written.
"""
from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

from tears_bench.storage import atomic_write_json, cache_dir, stable_hash

STORE_VERSION = 1


def store_key(split, summarizer: str, parameters: dict, prompt_version: str | None) -> str:
    return stable_hash({"dataset": split.dataset, "split": split.hash, "summarizer": summarizer,
                        "parameters": parameters, "prompt_version": prompt_version, "store": STORE_VERSION})


def _slug(text: str, length: int = 60) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("_")[:length] or "x"


def store_path(dataset: str, summarizer: str, key: str) -> Path:
    return cache_dir("summaries") / _slug(dataset) / f"{_slug(summarizer)}-{key}.json"


def load(path: Path) -> dict[str, Any] | None:
    """The stored set, or None when absent or unreadable (then it is rebuilt)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("summaries"), dict):
        return None
    data.setdefault("flags", {})
    data.setdefault("metadata", {})
    return data


def save(path: Path, key: str, metadata: dict, summaries: dict[str, str], flags: dict[str, list[str]]) -> None:
    """Merge with the file on disk (new entries win) and write atomically."""
    current = load(path) or {"summaries": {}, "flags": {}, "metadata": {}}
    merged_summaries = {**current["summaries"], **summaries}
    merged_flags = {**current["flags"], **flags}
    # A user who now has a clean summary loses the flags of an earlier, failed attempt.
    for uid in summaries:
        if uid not in flags:
            merged_flags.pop(uid, None)
    metadata = {**current.get("metadata", {}), **metadata, "updated": time.strftime("%Y-%m-%dT%H:%M:%S")}
    metadata.setdefault("created", metadata["updated"])
    atomic_write_json(path, {"key": key, "metadata": metadata, "summaries": merged_summaries,
                             "flags": merged_flags})


class IncrementalWriter:
    """Collects summaries as they arrive and saves them every `every` seconds, and on `flush`."""

    def __init__(self, path: Path, key: str, metadata: dict, every: float = 2.0):
        self.path, self.key, self.metadata, self.every = path, key, metadata, every
        self._summaries: dict[str, str] = {}
        self._flags: dict[str, list[str]] = {}
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def add(self, user_id: str, text: str | None, flags: list[str]) -> None:
        with self._lock:
            if text:
                self._summaries[user_id] = text
            if flags:
                self._flags[user_id] = flags
            due = time.monotonic() - self._last >= self.every
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            if not self._summaries and not self._flags:
                return
            summaries, flags = self._summaries, self._flags
            self._summaries, self._flags = {}, {}
            self._last = time.monotonic()
            save(self.path, self.key, self.metadata, summaries, flags)

"""Imported summaries: `file:<path>` and the authors' published sets (`tears-gpt4-ml-1m`).

A summary file is a JSON object mapping a user id to a summary string. Keys may be float strings
("4169.0"): they mean the integer user id of the original dataset (protocol.md section 3). The
import reports how many users of the split matched, how many split users have no summary and how
many keys are not users of the split, and refuses a file whose keys are mostly unknown (a file
for another dataset).

Published sets are downloaded once, when online, from the authors' repository at a pinned commit,
checked against a sha256, unpacked and kept under the cache; offline, the same content is read from
the shared data folder ($TEARS_BENCH_SHARED_DATA, default ../shared/data beside the project).
TEARS_BENCH_TEARS_URL overrides the download base (tests, mirrors).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tears_bench.errors import TearsBenchError
from tears_bench.storage import atomic_write_bytes, cache_dir, file_sha256

TEARS_URL = "https://github.com/Emiliano-Penaloza/TEARS/raw"
UNKNOWN_KEYS_REFUSE = 0.5  # refuse when more than half the keys are not users of the split


@dataclass(frozen=True)
class Published:
    name: str
    path: str  # inside the authors' repository
    commit: str
    sha256: str  # of the zip
    offline_name: str  # the same JSON in the shared data folder's summaries/
    dataset: str
    model: str


PUBLISHED = {
    "tears-gpt4-ml-1m": Published(
        name="tears-gpt4-ml-1m", path="preprocess/gpt4_summaries.zip",
        commit="40226a16ee3ed96462978f94d0f957c152de6aa9",
        sha256="d2085fae8b431fa27417fa300abf6d60036d524ce4cdb212dcc50bdc313ed19e",
        offline_name="tears-gpt4-ml-1m.json", dataset="ml-1m", model="gpt-4-1106-preview"),
}


@dataclass
class ImportReport:
    source: str
    keys: int = 0
    matched: int = 0
    users_without: int = 0  # split users (of those asked for) with no summary in the file
    unknown_keys: int = 0  # keys that are not users of the split
    empty: int = 0  # keys whose summary is blank (counted as without a summary)
    duplicates: int = 0  # keys naming a user already matched ("4169" and "4169.0")

    def line(self) -> str:
        return (f"{self.source}: {self.keys:,} summaries, {self.matched:,} matched users of the split, "
                f"{self.users_without:,} users without a summary, {self.unknown_keys:,} unknown keys"
                + (f", {self.empty:,} empty" if self.empty else "")
                + (f", {self.duplicates:,} duplicate keys" if self.duplicates else ""))


def normalise_user_id(key: object) -> str:
    """'4169.0' -> '4169'; ' 12 ' -> '12'; other strings unchanged."""
    text = str(key).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def read_summary_file(path: str | Path) -> dict[str, str]:
    """A JSON object of strings, or one clear error naming the file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise TearsBenchError(f"summary file not found: {path.resolve()}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise TearsBenchError(f"{path}: not UTF-8 text ({error.reason})") from None
    except json.JSONDecodeError as error:
        raise TearsBenchError(f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})") from None
    if not isinstance(data, dict):
        raise TearsBenchError(f"{path}: expected a JSON object mapping user id -> summary, found a {type(data).__name__}")
    bad = [k for k, v in data.items() if not isinstance(v, str)]
    if bad:
        raise TearsBenchError(f"{path}: {len(bad)} of {len(data)} values are not strings (e.g. key {bad[0]!r} holds "
                              f"a {type(data[bad[0]]).__name__}); expected user id -> summary text")
    return data


def match_to_split(split, mapping: dict[str, str], source: str,
                   users: list[int] | None = None) -> tuple[dict[int, str], ImportReport]:
    """{user index: summary} for the split's users (or `users`), and the counts."""
    index = {normalise_user_id(uid): u for u, uid in enumerate(split.user_ids.tolist())}
    report = ImportReport(source, keys=len(mapping))
    found: dict[int, str] = {}
    for key, text in mapping.items():
        user = index.get(normalise_user_id(key))
        if user is None:
            report.unknown_keys += 1
        elif user in found:
            report.duplicates += 1
        elif not text.strip():
            report.empty += 1
        else:
            found[user] = text.strip()
    if mapping and report.unknown_keys > UNKNOWN_KEYS_REFUSE * len(mapping):
        raise TearsBenchError(
            f"{source}: {report.unknown_keys:,} of {len(mapping):,} keys are not users of dataset "
            f"{split.dataset!r} (only {len(found):,} matched); is this a summary file for another dataset?")
    wanted = range(len(split.user_ids)) if users is None else users
    selected = {int(u): found[int(u)] for u in wanted if int(u) in found}
    report.matched = len(selected)
    report.users_without = len(wanted) - len(selected)
    return selected, report


def resolve_path(path: str) -> Path:
    """`file:` paths: ~ expanded, relative ones against the current directory."""
    resolved = Path(path).expanduser()
    return (resolved if resolved.is_absolute() else Path.cwd() / resolved).resolve()


# -- published sets
def published_url(item: Published) -> str:
    base = os.environ.get("TEARS_BENCH_TEARS_URL", TEARS_URL).rstrip("/")
    return f"{base}/{item.commit}/{item.path}"


def shared_data_candidates() -> list[Path]:
    """$TEARS_BENCH_SHARED_DATA when set, else ../shared/data beside the project or the cwd."""
    if os.environ.get("TEARS_BENCH_SHARED_DATA"):
        return [Path(os.environ["TEARS_BENCH_SHARED_DATA"]).expanduser()]
    project = Path(__file__).resolve().parents[2]
    return [project.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]


def published_file(name: str, timeout: float = 30.0, option: str = "--summaries") -> tuple[Path, str]:
    """The JSON of a published set and where it came from ('cache', 'download' or 'offline copy')."""
    item = PUBLISHED[name]
    target = cache_dir("summaries") / "published" / f"{name}.json"
    if target.is_file():
        return target, "cache"
    url = published_url(item)
    failure = None
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            payload = response.read()
    except (urllib.error.URLError, OSError, ValueError) as error:
        failure = f"could not download {url} ({getattr(error, 'reason', error)})"
    else:
        digest = hashlib.sha256(payload).hexdigest()
        if digest != item.sha256:
            raise TearsBenchError(f"{url}: sha256 {digest} does not match the published {item.sha256}; "
                                  "the file was not used")
        atomic_write_bytes(target, _single_json(payload, url))
        return target, "download"
    for folder in shared_data_candidates():
        copy = folder / "summaries" / item.offline_name
        if copy.is_file():
            return copy, "offline copy"
    raise TearsBenchError(f"{name}: {failure}; offline, put {item.offline_name} in "
                          f"$TEARS_BENCH_SHARED_DATA/summaries/ or import it with {option} file:PATH")


def _single_json(payload: bytes, url: str) -> bytes:
    try:
        bundle = zipfile.ZipFile(io.BytesIO(payload))
    except zipfile.BadZipFile:
        raise TearsBenchError(f"{url}: not a zip archive") from None
    names = [n for n in bundle.namelist() if n.endswith(".json") and not n.startswith("__MACOSX")]
    if len(names) != 1:
        raise TearsBenchError(f"{url}: expected one JSON file inside, found {len(names)}: {names[:5]}")
    return bundle.read(names[0])


def file_fingerprint(path: Path) -> str:
    return file_sha256(path)[:16]

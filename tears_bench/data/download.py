"""Fetching the official GroupLens zips for users, verified by md5, into the cache folder."""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from tears_bench.errors import TearsBenchError
from tears_bench.storage import cache_dir

GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens"
GROUPLENS_MD5 = {"ml-100k": "0e33842e24a9c977be4e0107933c0723", "ml-1m": "c4d9eecfca2ab87c1945afe126590906"}


def grouplens_url(name: str) -> str:
    # An environment override lets tests (and mirrors) serve the same zip from elsewhere.
    return f"{os.environ.get('TEARS_BENCH_GROUPLENS_URL', GROUPLENS_URL).rstrip('/')}/{name}.zip"


def download_grouplens(name: str, required: tuple[str, ...], timeout: float = 60.0) -> Path:
    """Download and unpack `name`.zip once; return the folder holding `required` files."""
    target = cache_dir("datasets") / name
    if all((target / f).is_file() for f in required):
        return target
    url = grouplens_url(name)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        archive = Path(tmp) / f"{name}.zip"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(archive, "wb") as out:
                shutil.copyfileobj(response, out)
        except (urllib.error.URLError, OSError) as error:
            raise TearsBenchError(
                f"could not download {url} ({getattr(error, 'reason', error)}); offline, put "
                f"{', '.join(required)} in a folder and pass --data-dir FOLDER, or into {target}") from None
        digest = hashlib.md5(archive.read_bytes()).hexdigest()
        if digest != GROUPLENS_MD5[name]:
            raise TearsBenchError(f"{url}: md5 {digest} does not match GroupLens' {GROUPLENS_MD5[name]}")
        unpacked = Path(tmp) / "unpacked"
        with zipfile.ZipFile(archive) as bundle:
            bundle.extractall(unpacked)
        source = unpacked / name if (unpacked / name).is_dir() else unpacked
        if target.exists():
            shutil.rmtree(target)
        os.replace(source, target)
    return target

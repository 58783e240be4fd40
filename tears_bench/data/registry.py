"""The dataset registry: names -> loaders, and the cached split for any dataset spec.

A dataset spec is a registered name (`tears-bench ls`), a name with parameters
(`synthetic:users=500,items=800,seed=3`), or a folder of RecBole atomic files.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
import numpy as np

import importlib

from tears_bench.data import recbole, synthetic
from tears_bench.data.download import download_grouplens
from tears_bench.data.interactions import Interactions
from tears_bench.data.split import SPLIT_VERSION, Split, build_split
from tears_bench.errors import TearsBenchError
from tears_bench.storage import atomic_pickle, cache_dir, load_pickle, stable_hash


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    description: str
    files: tuple[str, ...] = ()  # official files expected in --data-dir
    loader: str = ""  # 'module:function', imported when used
    downloadable: bool = False
    params: dict = field(default_factory=dict)


DATASETS: dict[str, DatasetInfo] = {
    info.name: info for info in [
        DatasetInfo("synthetic", "embedded default: MovieLens-like ratings generated from a seed (no files)",
                    params={"users": 1000, "items": 1500, "seed": 0}),
        DatasetInfo("ml-100k", "MovieLens-100K (GroupLens u.data/u.item, or RecBole atomic files)",
                    ("u.data", "u.item"), "tears_bench.data.movielens:load_ml100k", downloadable=True),
        DatasetInfo("ml-1m", "MovieLens-1M (GroupLens ratings.dat/movies.dat, or RecBole atomic files)",
                    ("ratings.dat", "movies.dat"), "tears_bench.data.movielens:load_ml1m", downloadable=True),
        DatasetInfo("netflix", "Netflix Prize (combined_data_*.txt, movie_titles.csv, netflix_genres.csv); "
                    "manual download, see docs", ("movie_titles.csv", "netflix_genres.csv"), "tears_bench.data.netflix:load_netflix"),
        DatasetInfo("goodbooks", "goodbooks-10k (ratings.csv, books.csv, book_tags.csv, tags.csv); "
                    "manual download, see docs", ("ratings.csv", "books.csv", "book_tags.csv", "tags.csv"),
                    "tears_bench.data.goodbooks:load_goodbooks"),
    ]
}


def parse_spec(spec: str) -> tuple[str, dict]:
    """'synthetic:users=500,seed=3' -> ('synthetic', {'users': 500, 'seed': 3})."""
    name, _, rest = spec.partition(":")
    params = {}
    for part in filter(None, rest.split(",")):
        key, eq, value = part.partition("=")
        if not eq:
            raise TearsBenchError(f"dataset parameter {part!r} in {spec!r} is not key=value")
        params[key.strip()] = int(value) if value.strip().lstrip("-").isdigit() else value.strip()
    return name, params


def synthetic_params(spec: str) -> dict:
    """The generator's arguments for a `synthetic[:key=value,...]` spec, each checked (the generator
    itself checks the memory its size needs before allocating)."""
    _, params = parse_spec(spec)
    unknown = set(params) - set(DATASETS["synthetic"].params) - {"mean_ratings"}
    if unknown:
        raise TearsBenchError(f"unknown synthetic parameter(s) {sorted(unknown)}; known: users, items, seed, "
                              f"mean_ratings")
    return {**DATASETS["synthetic"].params, **synthetic.check_params(spec, params)}


def check_spec(spec: str) -> None:
    """Cheap checks of a dataset spec that need no file: its name and a synthetic spec's parameters."""
    if _is_path(spec) and spec.split(":")[0] not in DATASETS:
        return
    name, _ = parse_spec(spec)
    if name not in DATASETS:
        raise TearsBenchError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)} "
                              f"(or a folder of RecBole atomic files)")
    if name == "synthetic":
        synthetic_params(spec)


def _is_path(spec: str) -> bool:
    return "/" in spec or spec.startswith(".") or Path(spec).is_dir()


def resolve_folder(info: DatasetInfo, data_dir: str | None) -> Path:
    """The folder holding the dataset's files: --data-dir (or its NAME subfolder), else the cache,
    downloading the official zip when the dataset allows it."""
    if data_dir is not None:
        base = Path(data_dir).expanduser()
        if not base.is_dir():
            raise TearsBenchError(f"--data-dir {data_dir}: no such folder")
        for folder in (base, base / info.name):
            if folder.is_dir() and (all((folder / f).is_file() for f in info.files)
                                    or any(folder.glob("*.inter"))):
                return folder
        raise TearsBenchError(f"{base} holds neither the {info.name} files ({', '.join(info.files)}) "
                              f"nor a RecBole .inter file")
    cached = cache_dir("datasets") / info.name
    if all((cached / f).is_file() for f in info.files):
        return cached
    if info.downloadable:
        return download_grouplens(info.name, info.files)
    raise TearsBenchError(f"{info.name} must be downloaded by hand (see docs/datasets-netflix-goodbooks.md): put "
                          f"{', '.join(info.files)} in a folder and pass --data-dir FOLDER, or into {cached}")


def load_dataset(spec: str, data_dir: str | None = None) -> Interactions:
    if _is_path(spec) and spec.split(":")[0] not in DATASETS:
        return recbole.load_recbole(Path(spec).expanduser())
    name, params = parse_spec(spec)
    if name not in DATASETS:
        raise TearsBenchError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)} "
                              f"(or a folder of RecBole atomic files)")
    info = DATASETS[name]
    if name == "synthetic":
        return synthetic.generate(**synthetic_params(spec))
    folder = resolve_folder(info, data_dir)
    if not all((folder / f).is_file() for f in info.files) and any(folder.glob("*.inter")):
        data = recbole.load_recbole(folder)
        data.name = name
        return data
    module, function = info.loader.split(":")
    return getattr(importlib.import_module(module), function)(folder, **params)


def fingerprint(spec: str, data_dir: str | None) -> dict:
    """What determines a loaded dataset: the spec and the size and time of every file it may read."""
    if _is_path(spec) and spec.split(":")[0] not in DATASETS:
        folder = Path(spec).expanduser()
    else:
        name, params = parse_spec(spec)
        if name == "synthetic" or name not in DATASETS:
            return {"spec": spec}
        folder = resolve_folder(DATASETS[name], data_dir)
    folder = folder.resolve()
    if not folder.is_dir():
        raise TearsBenchError(f"dataset folder not found: {folder}")
    files = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns)
                   for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    return {"spec": spec, "folder": str(folder), "files": files}


def dataset_stats(data: Interactions, split: Split) -> dict:
    counts: dict[str, int] = {}
    for i in np.unique(data.item):
        for genre in data.catalog.genres[i]:
            counts[genre] = counts.get(genre, 0) + 1
    return {
        "name": data.name, "kind": data.kind, "users": len(data.user_ids),
        "items": int(len(np.unique(data.item))), "interactions": data.n_ratings,
        "positives": int(data.positive.sum()), "has_ratings": data.has_ratings,
        "has_timestamps": data.timestamp is not None,
        "genres": dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
    }


def get_split(spec: str, data_dir: str | None = None, seed: int = 42, n_heldout: int | None = None,
              genre_min_items: int | None = None, verbose: bool = False) -> Split:
    """The split of protocol.md section 2 for a dataset spec, built once and cached on disk."""
    check_spec(spec)
    key = stable_hash({"dataset": fingerprint(spec, data_dir), "seed": seed, "n_heldout": n_heldout,
                       "genre_min_items": genre_min_items, "version": SPLIT_VERSION})
    path = cache_dir("splits") / f"{key}.pkl"
    cached = load_pickle(path)
    if isinstance(cached, Split):
        return cached
    started = time.perf_counter()
    data = load_dataset(spec, data_dir)
    split = build_split(data, seed=seed, n_heldout=n_heldout, genre_min_items=genre_min_items)
    split.dataset_stats = dataset_stats(data, split)
    split.params["build_seconds"] = round(time.perf_counter() - started, 3)
    if verbose:
        print(f"built split {split.hash} of {data.name} in {split.params['build_seconds']:.2f} s")
    atomic_pickle(path, split)
    return split

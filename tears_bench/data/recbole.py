"""RecBole atomic files: `NAME.inter` (and optionally `NAME.item`) in one folder.

Headers name fields as `name:type`. `.inter` needs user_id and item_id; rating and timestamp are
optional (without a rating every row is a positive; without a timestamp the order is a seeded
permutation, chosen by the split). `.item` supplies titles, years, genres (`genre`, `class`, ...)
and authors when present. Files are read as UTF-8; a file that is not valid UTF-8 is read as
latin-1 (the encoding of the GroupLens files), with a warning naming its first non-UTF-8 byte.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tears_bench.data.interactions import Catalog, Interactions, normalise_genre
from tears_bench.data.parsing import dense_index, read_table, text_encoding
from tears_bench.errors import TearsBenchError

TITLE_FIELDS = ("movie_title", "title", "book_title", "item_name", "name")
GENRE_FIELDS = ("genre", "genres", "class", "categories", "category")
YEAR_FIELDS = ("release_year", "year", "publication_year")
AUTHOR_FIELDS = ("authors", "author", "book_author")
BOOK_HINTS = ("book", "goodreads", "goodbooks", "amazon-books")


def find_inter(folder: Path) -> Path:
    if not folder.is_dir():
        raise TearsBenchError(f"dataset folder not found: {folder}")
    files = sorted(folder.glob("*.inter"))
    if not files:
        raise TearsBenchError(f"no RecBole .inter file in {folder} (expected NAME.inter, and optionally NAME.item)")
    if len(files) > 1:
        preferred = [f for f in files if f.stem == folder.name]
        if len(preferred) != 1:
            raise TearsBenchError(f"several .inter files in {folder}: {', '.join(f.name for f in files)}")
        files = preferred
    return files[0]


def _header(path: Path, encoding: str = "utf-8") -> list[str]:
    with open(path, encoding=encoding) as handle:
        first = handle.readline().rstrip("\n\r")
    fields = [f.split(":")[0] for f in first.split("\t")]
    if not all(":" in f for f in first.split("\t")):
        raise TearsBenchError(f"{path}, line 1: expected a RecBole header of tab-separated 'name:type' fields, "
                              f"got {first[:80]!r}")
    return fields


def load_recbole(folder: Path, min_ratings: int | None = None) -> Interactions:
    """Load NAME.inter/NAME.item; users need more than `min_ratings` ratings (default: 10 for rated
    data as for MovieLens, none for positives-only data)."""
    folder = Path(folder)
    inter = find_inter(folder)
    encoding = text_encoding(inter)
    fields = _header(inter, encoding)
    for required in ("user_id", "item_id"):
        if required not in fields:
            raise TearsBenchError(f"{inter}, line 1: no '{required}' field in the header ({', '.join(fields)})")
    has_rating, has_time = "rating" in fields, "timestamp" in fields
    numeric = tuple(f for f in ("rating", "timestamp") if f in fields)
    frame = read_table(inter, "\t", fields, header=True, numeric=numeric, encoding=encoding)

    user_ids, user = dense_index(frame["user_id"].to_numpy())
    item_ids, item = dense_index(frame["item_id"].to_numpy())
    rating = frame["rating"].to_numpy(np.float32) if has_rating else np.full(len(frame), 5.0, np.float32)
    timestamp = frame["timestamp"].to_numpy(np.float64) if has_time else None
    catalog = _catalog(folder / f"{inter.stem}.item", item_ids)
    name = inter.stem
    kind = "books" if any(h in name.lower() for h in BOOK_HINTS) or any(catalog.authors) else "movies"
    data = Interactions(name=name, kind=kind, user_ids=user_ids.astype(str), catalog=catalog,
                        user=user, item=item, rating=rating, timestamp=timestamp, has_ratings=has_rating)
    if min_ratings is None:
        min_ratings = 10 if has_rating else 0
    return data.filter_users(min_ratings) if min_ratings else data


def _catalog(path: Path, item_ids: np.ndarray) -> Catalog:
    n = len(item_ids)
    catalog = Catalog(ids=item_ids.astype(str), titles=[f"item {i}" for i in item_ids], genres=[()] * n,
                      years=[""] * n, authors=[""] * n)
    if not path.is_file():
        return catalog
    encoding = text_encoding(path)
    fields = _header(path, encoding)
    frame = read_table(path, "\t", fields, header=True, encoding=encoding).drop_duplicates("item_id").set_index("item_id")
    frame = frame.reindex(item_ids.astype(str))
    present = frame.notna().all(axis=1).to_numpy() if len(frame.columns) else np.zeros(n, bool)

    def column(candidates: tuple[str, ...]) -> list[str] | None:
        name = next((c for c in candidates if c in frame.columns), None)
        return None if name is None else [v if ok else "" for v, ok in zip(frame[name].fillna("").tolist(), present)]

    if (titles := column(TITLE_FIELDS)) is not None:
        catalog.titles = [t or default for t, default in zip(titles, catalog.titles)]
    if (genres := column(GENRE_FIELDS)) is not None:
        catalog.genres = [tuple(dict.fromkeys(normalise_genre(g) for g in value.split() if g)) for value in genres]
    if (years := column(YEAR_FIELDS)) is not None:
        catalog.years = years
    if (authors := column(AUTHOR_FIELDS)) is not None:
        catalog.authors = authors
    return catalog

"""MovieLens-100K and MovieLens-1M in the official GroupLens formats (latin-1)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from tears_bench.data.interactions import Catalog, Interactions, normalise_genre
from tears_bench.data.parsing import dense_index, read_table

ML100K_GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
                 "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
                 "Romance", "Sci-Fi", "Thriller", "War", "Western"]
_YEAR = re.compile(r"^(.*?)\s*\((\d{4})\)\s*$")
MIN_RATINGS = 10  # protocol: users with more than 10 ratings


def split_title(raw: str) -> tuple[str, str]:
    """'Toy Story (1995)' -> ('Toy Story', '1995')."""
    match = _YEAR.match(raw)
    return (match.group(1), match.group(2)) if match else (raw.strip(), "")


def _interactions(name: str, frame, catalog_frame, genres_of) -> Interactions:
    user_ids, user = dense_index(frame["user"].to_numpy())
    item_ids, item = dense_index(frame["item"].to_numpy())
    items = catalog_frame.drop_duplicates("item").set_index("item").reindex(item_ids)
    titles, years = zip(*(split_title(t) if isinstance(t, str) else (f"item {i}", "")
                          for t, i in zip(items["title"].tolist(), item_ids)))
    catalog = Catalog(ids=item_ids.astype(str), titles=list(titles), years=list(years),
                      genres=genres_of(items), authors=[""] * len(item_ids))
    data = Interactions(name=name, kind="movies", user_ids=user_ids.astype(str), catalog=catalog,
                        user=user, item=item, rating=frame["rating"].to_numpy(np.float32),
                        timestamp=frame["timestamp"].to_numpy(np.float64))
    return data.filter_users(MIN_RATINGS)


def load_ml100k(folder: Path) -> Interactions:
    ratings = read_table(folder / "u.data", "\t", ["user", "item", "rating", "timestamp"],
                         numeric=("rating", "timestamp"))
    items = read_table(folder / "u.item", "|", ["item", "title", "date", "video", "url", *ML100K_GENRES],
                       encoding="latin-1")

    def genres_of(frame) -> list[tuple[str, ...]]:
        flags = frame[ML100K_GENRES].fillna("0").to_numpy() == "1"
        names = [normalise_genre(g) for g in ML100K_GENRES]
        return [tuple(n for n, f in zip(names, row) if f) for row in flags]

    return _interactions("ml-100k", ratings, items, genres_of)


def load_ml1m(folder: Path) -> Interactions:
    ratings = read_table(folder / "ratings.dat", "::", ["user", "item", "rating", "timestamp"],
                         encoding="latin-1", numeric=("rating", "timestamp"))
    items = read_table(folder / "movies.dat", "::", ["item", "title", "genres"], encoding="latin-1")

    def genres_of(frame) -> list[tuple[str, ...]]:
        return [tuple(normalise_genre(g) for g in str(v).split("|") if g) if isinstance(v, str) else ()
                for v in frame["genres"].tolist()]

    return _interactions("ml-1m", ratings, items, genres_of)

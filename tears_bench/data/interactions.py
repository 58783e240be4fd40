"""The in-memory form of a loaded dataset, before any split."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def normalise_genre(name: str) -> str:
    """Genres are lower-cased with '-' and '_' replaced by a space (protocol section 2)."""
    return " ".join(name.strip().lower().replace("-", " ").replace("_", " ").split())


@dataclass
class Catalog:
    """Every item of a dataset, indexed 0..n-1: original id, title, genres, year, authors."""

    ids: np.ndarray  # original item ids, as strings
    titles: list[str]
    genres: list[tuple[str, ...]]
    years: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)  # books only

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Interactions:
    """Ratings as parallel arrays over catalog items and users.

    `rating` is 1-5; positives-only data has rating 5 everywhere and `has_ratings` False.
    `timestamp` is None when the source carries no time (then order is a seeded permutation).
    """

    name: str
    kind: str  # "movies" or "books": wording of prompts and guided tasks
    user_ids: np.ndarray  # original user ids (strings), index = user
    catalog: Catalog
    user: np.ndarray  # int64 user index per rating
    item: np.ndarray  # int64 catalog index per rating
    rating: np.ndarray  # float32
    timestamp: np.ndarray | None
    has_ratings: bool = True

    @property
    def n_ratings(self) -> int:
        return len(self.user)

    @property
    def positive(self) -> np.ndarray:
        """A rating > 3 is a like; positives-only data is all likes."""
        return self.rating > 3

    def filter_users(self, min_ratings_exclusive: int) -> "Interactions":
        """Keep users with more than `min_ratings_exclusive` ratings."""
        counts = np.bincount(self.user, minlength=len(self.user_ids))
        return self.keep_users(counts > min_ratings_exclusive)

    def keep_users(self, keep: np.ndarray) -> "Interactions":
        """Keep the users where the boolean mask is true, re-indexed densely."""
        new_index = np.full(len(self.user_ids), -1, dtype=np.int64)
        new_index[keep] = np.arange(int(keep.sum()))
        rows = keep[self.user]
        return Interactions(
            name=self.name, kind=self.kind, user_ids=self.user_ids[keep], catalog=self.catalog,
            user=new_index[self.user[rows]], item=self.item[rows], rating=self.rating[rows],
            timestamp=None if self.timestamp is None else self.timestamp[rows],
            has_ratings=self.has_ratings,
        )

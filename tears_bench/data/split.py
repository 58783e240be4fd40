"""The strong-generalization split of protocol.md section 2, as one cached object."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from tears_bench.data.interactions import Catalog, Interactions
from tears_bench.storage import hash_arrays

SPLIT_VERSION = 1
SUMMARY_WINDOW = 52  # the first 52 ratings are looked at for the summary set
SET_ASIDE = 2  # the last two positives of the window become targets, never shown to the summarizer
BIG_DATASET_USERS = 8000  # at or above this, 2,000 held-out users as in the paper


@dataclass
class Split:
    """Everything a model, summarizer or task needs, for one dataset and split seed.

    Users are indexed 0..len(user_ids)-1; matrix columns are the item vocabulary (items with at
    least one positive), `vocab[c]` being column c's index in `catalog`. Matrix rows follow
    `train_users`, `val_users`, `test_users`. Inputs hold raw rating values (see `model_input`),
    targets are binary.
    """

    dataset: str
    kind: str
    user_ids: np.ndarray
    catalog: Catalog
    vocab: np.ndarray
    genres: list[str]  # the genre list, most common first
    train_users: np.ndarray
    val_users: np.ndarray
    test_users: np.ndarray
    train_input: sp.csr_matrix
    train_target: sp.csr_matrix
    val_input: sp.csr_matrix
    val_target: sp.csr_matrix
    test_input: sp.csr_matrix
    test_target: sp.csr_matrix
    # Each user's summary set, oldest first, as a ragged array over catalog items.
    summary_indptr: np.ndarray
    summary_items: np.ndarray
    summary_ratings: np.ndarray
    params: dict = field(default_factory=dict)
    hash: str = ""
    dataset_stats: dict = field(default_factory=dict)

    @property
    def n_items(self) -> int:
        return len(self.vocab)

    @property
    def item_ids(self) -> np.ndarray:
        return self.catalog.ids[self.vocab]

    @property
    def item_titles(self) -> list[str]:
        return [self.catalog.titles[i] for i in self.vocab]

    @property
    def item_genres(self) -> list[tuple[str, ...]]:
        return [self.catalog.genres[i] for i in self.vocab]

    def summary_set(self, user: int) -> list[tuple[int, float]]:
        """(catalog item, rating) pairs of a user's summary set, oldest first."""
        lo, hi = self.summary_indptr[user], self.summary_indptr[user + 1]
        return list(zip(self.summary_items[lo:hi].tolist(), self.summary_ratings[lo:hi].tolist()))

    def genre_matrix(self) -> np.ndarray:
        """Boolean [n_genres, n_items]: whether vocabulary item j carries genre g of the list."""
        index = {g: k for k, g in enumerate(self.genres)}
        matrix = np.zeros((len(self.genres), self.n_items), dtype=bool)
        for column, item_genres in enumerate(self.item_genres):
            for genre in item_genres:
                if genre in index:
                    matrix[index[genre], column] = True
        return matrix

    def part(self, name: str) -> tuple[np.ndarray, sp.csr_matrix, sp.csr_matrix]:
        """(users, input, target) of 'train', 'val' or 'test'."""
        return getattr(self, f"{name}_users"), getattr(self, f"{name}_input"), getattr(self, f"{name}_target")

    def sizes(self) -> dict:
        return {"train": len(self.train_users), "val": len(self.val_users), "test": len(self.test_users),
                "items": self.n_items, "hash": self.hash}


def model_input(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Rating values L2-normalised per user row (protocol 2.6); empty rows stay zero."""
    matrix = matrix.tocsr().astype(np.float32)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms).dot(matrix), dtype=np.float32)


def default_n_heldout(n_users: int) -> int:
    """2,000 for datasets of 8,000 users or more, else min(500, 20% of users)."""
    return 2000 if n_users >= BIG_DATASET_USERS else min(500, int(0.2 * n_users))


def default_genre_min_items(n_items: int) -> int:
    """More than 100 items on real-size catalogues; 1% of items on small ones (< 2,000 items)."""
    return 101 if n_items >= 2000 else max(1, math.ceil(0.01 * n_items))


def chronological_order(data: Interactions, seed: int) -> np.ndarray:
    """Row order: by user, then time (ties by seeded random key); no timestamps: a seeded permutation."""
    tiebreak = np.random.default_rng(seed).random(data.n_ratings)
    if data.timestamp is None:
        return np.lexsort((tiebreak, data.user))
    return np.lexsort((tiebreak, data.timestamp, data.user))


def summary_set_mask(user: np.ndarray, positive: np.ndarray, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """For rows sorted by user then time: (in summary set, user kept) following protocol 2.2."""
    counts = np.bincount(user, minlength=n_users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    position = np.arange(len(user)) - starts[user]
    in_window = position < np.minimum(counts, SUMMARY_WINDOW)[user]
    window_pos = positive & in_window
    # Positives of the window counted from its end: 1 for the last one, 2 for the one before it.
    total = np.bincount(user, weights=window_pos, minlength=n_users).astype(np.int64)
    running = np.cumsum(window_pos) - np.concatenate([[0], np.cumsum(window_pos)])[starts][user]
    from_end = total[user] - running + window_pos
    set_aside = window_pos & (from_end <= SET_ASIDE)
    return in_window & ~set_aside, total >= SET_ASIDE


def build_split(
    data: Interactions,
    seed: int = 42,
    n_heldout: int | None = None,
    genre_min_items: int | None = None,
) -> Split:
    order = chronological_order(data, seed)
    user, item = data.user[order], data.item[order]
    rating, positive = data.rating[order], data.positive[order]
    in_summary, kept = summary_set_mask(user, positive, len(data.user_ids))

    # Drop users without two positives in their window, re-index densely.
    new_user = np.full(len(data.user_ids), -1, dtype=np.int64)
    new_user[kept] = np.arange(int(kept.sum()))
    rows = kept[user]
    user, item, rating, positive, in_summary = (
        new_user[user[rows]], item[rows], rating[rows], positive[rows], in_summary[rows])
    user_ids = data.user_ids[kept]
    n_users = len(user_ids)

    vocab = np.unique(item[positive])
    column = np.full(len(data.catalog), -1, dtype=np.int64)
    column[vocab] = np.arange(len(vocab))

    def matrix(mask: np.ndarray, values: np.ndarray) -> sp.csr_matrix:
        mask = mask & (column[item] >= 0)
        return sp.csr_matrix((values[mask], (user[mask], column[item[mask]])),
                             shape=(n_users, len(vocab)), dtype=np.float32)

    inputs = matrix(in_summary, rating.astype(np.float32))
    all_positives = matrix(positive, np.ones(len(user), dtype=np.float32))
    heldout_targets = matrix(positive & ~in_summary, np.ones(len(user), dtype=np.float32))

    n_heldout = default_n_heldout(n_users) if n_heldout is None else int(n_heldout)
    permutation = np.random.default_rng(seed).permutation(n_users)
    heldout = permutation[:n_heldout]
    has_target = np.diff(heldout_targets.indptr) > 0
    val_users = np.sort(heldout[: n_heldout // 2])
    test_users = np.sort(heldout[n_heldout // 2:])
    val_users, test_users = val_users[has_target[val_users]], test_users[has_target[test_users]]
    train_users = np.sort(permutation[n_heldout:])

    summary_counts = np.bincount(user[in_summary], minlength=n_users)
    genres = genre_list(data.catalog, vocab, genre_min_items)
    split = Split(
        dataset=data.name, kind=data.kind, user_ids=user_ids, catalog=data.catalog, vocab=vocab,
        genres=genres, train_users=train_users, val_users=val_users, test_users=test_users,
        train_input=inputs[train_users], train_target=all_positives[train_users],
        val_input=inputs[val_users], val_target=heldout_targets[val_users],
        test_input=inputs[test_users], test_target=heldout_targets[test_users],
        summary_indptr=np.concatenate([[0], np.cumsum(summary_counts)]),
        summary_items=item[in_summary], summary_ratings=rating[in_summary].astype(np.float32),
        params={"seed": seed, "n_heldout": n_heldout, "genre_min_items": genre_min_items,
                "version": SPLIT_VERSION},
    )
    split.hash = split_hash(split)
    return split


def genre_list(catalog: Catalog, vocab: np.ndarray, min_items: int | None) -> list[str]:
    """Genres carried by at least `min_items` vocabulary items, most common first."""
    counts: dict[str, int] = {}
    for i in vocab:
        for genre in catalog.genres[i]:
            counts[genre] = counts.get(genre, 0) + 1
    threshold = default_genre_min_items(len(vocab)) if min_items is None else min_items
    return [g for g, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= threshold]


def split_hash(split: Split) -> str:
    arrays = [split.user_ids.astype(str), split.catalog.ids[split.vocab].astype(str),
              split.train_users, split.val_users, split.test_users,
              split.summary_indptr, split.summary_items, split.summary_ratings]
    for name in ("train_input", "train_target", "val_input", "val_target", "test_input", "test_target"):
        m = getattr(split, name)
        arrays += [m.indptr, m.indices, m.data]
    return hash_arrays(*arrays)

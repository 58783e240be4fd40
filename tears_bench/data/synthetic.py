"""The embedded default dataset: MovieLens-like ratings generated from a seed, no files needed.

Each user has clear favourite and disliked genres; which items they rate follows item popularity
(Zipf-like) tilted towards their tastes, and the rating follows their taste for the item's genres,
so both a CF model and a summary of the user's ratings carry real signal.

A user's rated items are drawn without replacement with probability proportional to
w(item) = popularity(item) * exp(0.9 * affinity(user, item)), the first draw being their first
rating. Two samplers draw from that same distribution:
- small datasets (users x items <= EXACT_CELLS): Gumbel top-k over every item, the original
  generator, so every seed keeps the data (and cached splits) it always had;
- larger ones: the affinity depends only on an item's SET of genres (a few hundred distinct sets),
  so a draw picks a genre set (per user, over sets) then an item within it (by popularity, shared
  by all users); draws with replacement whose repeats are dropped are exactly a sequence drawn
  without replacement. Cost grows with ratings x rounds, not users x items, and memory is bounded
  by a chunk of SAMPLE_CHUNK_USERS users: 500,000 users x 20,000 items build in about a minute.
"""
from __future__ import annotations

import numpy as np

from tears_bench.data.interactions import Catalog, Interactions, normalise_genre
from tears_bench.errors import TearsBenchError
from tears_bench.memory import require

MOVIELENS_GENRES = [
    "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War",
    "Western",
]
# Relative frequency of each genre among items, roughly as in MovieLens-1M.
GENRE_WEIGHTS = np.array([5, 3, 1.2, 2, 11, 2, 1, 15, 1, 0.6, 3, 1.1, 1.1, 4.5, 2.5, 4.5, 1.4, 0.7])

_ADJECTIVES = ["Silent", "Last", "Golden", "Broken", "Hidden", "Crimson", "Distant", "Wild", "Frozen",
               "Secret", "Lonely", "Burning", "Lost", "Midnight", "Electric", "Velvet", "Savage", "Quiet"]
_NOUNS = ["River", "City", "Promise", "Empire", "Garden", "Stranger", "Harbor", "Storm", "Mirror",
          "Frontier", "Kingdom", "Shadow", "Journey", "Island", "Letter", "Machine", "Heart", "Road"]
_PATTERNS = ["The {a} {n}", "{a} {n}", "Return to the {n}", "A {n} in the {a} {n2}", "{n} of {n2}s",
             "The {n}'s {n2}"]


# A split needs validation and test users (20% of users are held out, half each) and every user
# rates between 20 and items/3 items.
MIN_USERS, MIN_ITEMS = 10, 60
# The Gumbel top-k sampler (the original stream) up to this many (user, item) cells: 33.5 million,
# about 1.3 GB at its peak and a few seconds; beyond it the genre-set sampler.
EXACT_CELLS = 1 << 25
# Peak bytes per (user, item) cell of the Gumbel sampler: the float64 affinity, Gumbel noise, keys
# (and a temporary) and the int64 argsort are alive together; measured 32.1-32.3 with tracemalloc.
BYTES_PER_CELL = 40
# Peak bytes per rating of the genre-set sampler and what follows it (user, item, affinity, noise,
# rating, gaps and their cumulative sums, timestamps); measured 50 with tracemalloc (100,000 x 20,000).
BYTES_PER_RATING = 64
SAMPLE_CHUNK_USERS = 4096  # users sampled together: fixed, so the data never depends on memory
AFFINITY_WEIGHT = 0.9


def check_params(spec: str, params: dict) -> dict:
    """Typed, validated generator parameters, or a one-sentence TearsBenchError naming the bad one."""
    checked = {}
    for key, value in params.items():
        minimum = {"users": MIN_USERS, "items": MIN_ITEMS, "seed": 0}.get(key)
        if key == "mean_ratings":
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = float("nan")
            if not number > 0 or number == float("inf"):
                raise TearsBenchError(f"dataset {spec!r}: mean_ratings={value} must be a positive number")
            checked[key] = number
            continue
        number = value if isinstance(value, int) and not isinstance(value, bool) else None
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            number = int(value)
        reason = {"users": "a split needs validation and test users",
                  "items": "each user rates between 20 and items/3 items", "seed": "a random seed"}[key]
        if number is None or number < minimum:
            raise TearsBenchError(f"dataset {spec!r}: {key}={value} must be an integer of at least {minimum} "
                                  f"({reason})")
        checked[key] = number
    return checked


def uses_exact_sampler(users: int, items: int) -> bool:
    return float(users) * float(items) <= EXACT_CELLS


def expected_ratings(users: int, items: int, mean_ratings: float = 70.0) -> float:
    """Mean number of ratings: users x E[lognormal(log mean, 0.6)] (clipped to [20, items/3])."""
    return float(users) * min(max(mean_ratings * np.exp(0.6 ** 2 / 2), 20.0), items // 3)


def peak_bytes(users: int, items: int, mean_ratings: float = 70.0) -> float:
    """The generator's peak memory, estimated before anything is allocated."""
    if uses_exact_sampler(users, items):
        return BYTES_PER_CELL * float(users) * float(items)
    return BYTES_PER_RATING * expected_ratings(users, items, mean_ratings)


def check_memory(users: int, items: int, mean_ratings: float = 70.0) -> None:
    require(peak_bytes(users, items, mean_ratings), f"the synthetic dataset of {users:,} users x {items:,} items",
            "ask for fewer users or items")


def generate(users: int = 1000, items: int = 1500, seed: int = 0, mean_ratings: float = 70.0) -> Interactions:
    check_memory(users, items, mean_ratings)
    exact = uses_exact_sampler(users, items)
    rng = np.random.default_rng(seed)
    n_genres = len(MOVIELENS_GENRES)
    item_genres = _item_genres(rng, items)

    # Zipf-like popularity over a random permutation of items.
    popularity = 1.0 / np.arange(1, items + 1) ** 0.9
    popularity = popularity[rng.permutation(items)]

    taste = (_user_tastes if exact else _user_tastes_vectorised)(rng, users, n_genres)  # [users, genres]
    counts = np.clip(rng.lognormal(np.log(mean_ratings), 0.6, users).astype(int), 20, items // 3)
    sample = _sample_gumbel_top_k if exact else _sample_by_genre_set
    item, affinity = sample(rng, taste, item_genres, popularity, counts)
    user = np.repeat(np.arange(users), counts)

    noise = rng.normal(0, 0.6, len(user))
    rating = np.clip(np.rint(3.3 + 1.1 * affinity + noise), 1, 5).astype(np.float32)
    del affinity, noise

    start = rng.uniform(9.5e8, 1.0e9, users)
    gaps = rng.exponential(3600 * 24, len(user))
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    within = np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[first] - gaps[first], counts)
    timestamp = start[user] + within
    del gaps, within

    catalog = Catalog(
        ids=np.array([str(j + 1) for j in range(items)]),
        titles=_titles(rng, items),
        genres=[tuple(normalise_genre(MOVIELENS_GENRES[g]) for g in gs) for gs in item_genres],
        years=[str(y) for y in rng.integers(1950, 2001, items)],
    )
    return Interactions(
        name="synthetic", kind="movies", user_ids=np.array([str(u + 1) for u in range(users)]),
        catalog=catalog, user=user.astype(np.int64), item=item.astype(np.int64), rating=rating,
        timestamp=timestamp, has_ratings=True,
    )


def _genre_of_item(item_genres: list[list[int]], n_genres: int) -> np.ndarray:
    """[items, genres] float32: 1/len(genres) on each of an item's genres."""
    matrix = np.zeros((len(item_genres), n_genres), dtype=np.float32)
    for j, gs in enumerate(item_genres):
        matrix[j, gs] = 1.0 / len(gs)
    return matrix


def _sample_gumbel_top_k(rng, taste, item_genres, popularity, counts) -> tuple[np.ndarray, np.ndarray]:
    """(items, their affinity) of every user, user by user, best key first: Gumbel top-k over a
    dense [users, items] key matrix (the original generator's exact random stream)."""
    affinity = taste @ _genre_of_item(item_genres, taste.shape[1]).T  # [users, items], about -2..2
    keys = np.log(popularity)[None, :] + AFFINITY_WEIGHT * affinity + rng.gumbel(size=affinity.shape)
    ranked = np.argsort(-keys, axis=1)
    del keys
    taken = np.arange(ranked.shape[1])[None, :] < counts[:, None]  # row-major: user by user, best first
    item = ranked[taken]
    return item, affinity[np.repeat(np.arange(len(counts)), counts), item]


def _genre_sets(item_genres: list[list[int]], n_genres: int) -> tuple[np.ndarray, np.ndarray]:
    """(set index of each item, [sets, genres] float32 genre vectors of the distinct genre sets)."""
    index: dict[tuple, int] = {}
    item_set = np.array([index.setdefault(tuple(gs), len(index)) for gs in item_genres], dtype=np.int64)
    return item_set, _genre_of_item([list(gs) for gs in index], n_genres)


def _sample_by_genre_set(rng, taste, item_genres, popularity, counts) -> tuple[np.ndarray, np.ndarray]:
    """The distribution of `_sample_gumbel_top_k` (see the module docstring), a chunk of users at a time."""
    item_set, set_vectors = _genre_sets(item_genres, taste.shape[1])
    within = _ItemsWithinSets(item_set, popularity)
    items, affinities = [], []
    for start in range(0, len(counts), SAMPLE_CHUNK_USERS):
        chunk = slice(start, start + SAMPLE_CHUNK_USERS)
        set_affinity = taste[chunk] @ set_vectors.T  # [users, sets]
        item, local_user = _distinct_draws(rng, set_affinity, within, counts[chunk])
        items.append(item)
        affinities.append(set_affinity[local_user, item_set[item]])
    return np.concatenate(items), np.concatenate(affinities)


class _ItemsWithinSets:
    """Draws an item of a given genre set with probability proportional to its popularity."""

    def __init__(self, item_set: np.ndarray, popularity: np.ndarray):
        self.order = np.argsort(item_set, kind="stable")  # items grouped by set
        sizes = np.bincount(item_set)
        self.set_popularity = np.bincount(item_set, weights=popularity)
        cumulative = np.cumsum(popularity[self.order])
        ends = np.cumsum(sizes) - 1
        before = np.repeat(np.concatenate([[0.0], cumulative[ends[:-1]]]), sizes)
        fraction = (cumulative - before) / np.repeat(self.set_popularity, sizes)
        fraction[ends] = 1.0
        # One sorted array for all sets: set s occupies (s, s + 1], so a search needs no per-set slices.
        self.keys = fraction + np.repeat(np.arange(len(sizes)), sizes)

    def draw(self, rng: np.random.Generator, sets: np.ndarray) -> np.ndarray:
        position = np.searchsorted(self.keys, rng.random(len(sets)) + sets, side="right")
        return self.order[np.minimum(position, len(self.order) - 1)]


def _distinct_draws(rng, set_affinity: np.ndarray, within: _ItemsWithinSets, counts: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(items, local user of each) for a chunk of users: each user's first `counts[u]` distinct items
    of an i.i.d. sequence of draws, user by user, in draw order. Users short of distinct items after
    a round draw again (at least as many as they have drawn so far, so rounds stay few)."""
    n_users, n_sets = set_affinity.shape
    logits = np.log(within.set_popularity)[None, :] + AFFINITY_WEIGHT * set_affinity
    cdf = np.cumsum(np.exp(logits - logits.max(axis=1, keepdims=True)), axis=1)
    cdf /= cdf[:, -1:]
    cdf_keys = (cdf + np.arange(n_users)[:, None]).ravel()  # row u occupies (u, u + 1]
    users, items = np.zeros(0, np.int64), np.zeros(0, np.int64)
    pending, drawn = np.arange(n_users), np.zeros(n_users, np.int64)
    wanted = np.ceil(1.25 * counts).astype(np.int64) + 8
    while len(pending):
        who = np.repeat(pending, wanted[pending])
        sets = np.searchsorted(cdf_keys, rng.random(len(who)) + who, side="right") - who * n_sets
        users = np.concatenate([users, who])
        items = np.concatenate([items, within.draw(rng, np.clip(sets, 0, n_sets - 1))])
        drawn[pending] += wanted[pending]
        # First occurrence of each (user, item) in draw order (np.unique's indices are the first).
        _, first = np.unique(users * len(within.order) + items, return_index=True)
        first.sort()
        distinct = np.bincount(users[first], minlength=n_users)
        pending = np.flatnonzero(distinct < counts)
        wanted[pending] = np.maximum(2 * (counts - distinct)[pending], drawn[pending]) + 8
    first = first[np.argsort(users[first], kind="stable")]  # user by user, draw order kept
    user_of = users[first]
    starts = np.concatenate([[0], np.cumsum(np.bincount(user_of, minlength=n_users))[:-1]])
    keep = np.arange(len(first)) - starts[user_of] < counts[user_of]
    return items[first[keep]], user_of[keep]


def _item_genres(rng: np.random.Generator, items: int) -> list[list[int]]:
    prior = GENRE_WEIGHTS / GENRE_WEIGHTS.sum()
    sizes = rng.choice([1, 2, 3], size=items, p=[0.45, 0.35, 0.2])
    return [sorted(rng.choice(len(prior), size=k, replace=False, p=prior).tolist()) for k in sizes]


def _user_tastes(rng: np.random.Generator, users: int, n_genres: int) -> np.ndarray:
    """Two favourite genres (+2, +1.5), one or two disliked (-2), the rest mild noise."""
    prior = GENRE_WEIGHTS ** 0.5 / (GENRE_WEIGHTS ** 0.5).sum()
    taste = rng.normal(0, 0.3, (users, n_genres))
    for u in range(users):
        picks = rng.choice(n_genres, size=4, replace=False, p=prior)
        taste[u, picks[0]], taste[u, picks[1]] = 2.0, 1.5
        taste[u, picks[2]] = -2.0
        if rng.random() < 0.5:
            taste[u, picks[3]] = -1.5
    return taste


def _user_tastes_vectorised(rng: np.random.Generator, users: int, n_genres: int) -> np.ndarray:
    """`_user_tastes`' distribution without a loop over users: the four picks, drawn without
    replacement in proportion to the prior, are a Gumbel top-4."""
    prior = GENRE_WEIGHTS ** 0.5 / (GENRE_WEIGHTS ** 0.5).sum()
    taste = rng.normal(0, 0.3, (users, n_genres))
    picks = np.argsort(-(np.log(prior)[None, :] + rng.gumbel(size=(users, n_genres))), axis=1)[:, :4]
    rows = np.arange(users)
    taste[rows, picks[:, 0]], taste[rows, picks[:, 1]], taste[rows, picks[:, 2]] = 2.0, 1.5, -2.0
    second = rng.random(users) < 0.5
    taste[rows[second], picks[second, 3]] = -1.5
    return taste


def _titles(rng: np.random.Generator, items: int) -> list[str]:
    titles, seen, used = [], set(), set()
    for _ in range(items):
        while True:
            pattern = _PATTERNS[rng.integers(len(_PATTERNS))]
            title = pattern.format(a=rng.choice(_ADJECTIVES), n=rng.choice(_NOUNS), n2=rng.choice(_NOUNS))
            if title not in seen or len(seen) > 5000:
                break
        seen.add(title)
        title = title if title not in used else f"{title} {len(titles)}"
        used.add(title)  # a set: `title in titles` made 20,000 titles take seconds
        titles.append(title)
    return titles

"""The embedded default dataset: MovieLens-like ratings generated from a seed, no files needed.

Each user has clear favourite and disliked genres; which items they rate follows item popularity
(Zipf-like) tilted towards their tastes, and the rating follows their taste for the item's genres,
so both a CF model and a summary of the user's ratings carry real signal.
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
# Peak bytes per (user, item) cell: the float64 affinity, Gumbel noise, keys (and a temporary)
# and the int64 argsort are alive together; measured 32.1-32.3 with tracemalloc.
BYTES_PER_CELL = 40


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


def check_memory(users: int, items: int) -> None:
    require(BYTES_PER_CELL * float(users) * float(items),
            f"the synthetic dataset of {users:,} users x {items:,} items",
            "ask for fewer users or items")


def generate(users: int = 1000, items: int = 1500, seed: int = 0, mean_ratings: float = 70.0) -> Interactions:
    check_memory(users, items)
    rng = np.random.default_rng(seed)
    n_genres = len(MOVIELENS_GENRES)
    item_genres = _item_genres(rng, items)
    genre_of_item = np.zeros((items, n_genres), dtype=np.float32)
    for j, gs in enumerate(item_genres):
        genre_of_item[j, gs] = 1.0 / len(gs)

    # Zipf-like popularity over a random permutation of items.
    popularity = 1.0 / np.arange(1, items + 1) ** 0.9
    popularity = popularity[rng.permutation(items)]

    taste = _user_tastes(rng, users, n_genres)  # [users, genres]
    affinity = taste @ genre_of_item.T  # [users, items], about -2..2

    counts = np.clip(rng.lognormal(np.log(mean_ratings), 0.6, users).astype(int), 20, items // 3)
    # Gumbel top-k: sample each user's items without replacement, prob ~ popularity * exp(affinity).
    keys = np.log(popularity)[None, :] + 0.9 * affinity + rng.gumbel(size=(users, items))
    ranked = np.argsort(-keys, axis=1)
    user = np.repeat(np.arange(users), counts)
    item = np.concatenate([ranked[u, : counts[u]] for u in range(users)])

    noise = rng.normal(0, 0.6, len(user))
    rating = np.clip(np.rint(3.3 + 1.1 * affinity[user, item] + noise), 1, 5).astype(np.float32)

    start = rng.uniform(9.5e8, 1.0e9, users)
    gaps = rng.exponential(3600 * 24, len(user))
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    within = np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[first] - gaps[first], counts)
    timestamp = start[user] + within

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


def _titles(rng: np.random.Generator, items: int) -> list[str]:
    titles, seen = [], set()
    for _ in range(items):
        while True:
            pattern = _PATTERNS[rng.integers(len(_PATTERNS))]
            title = pattern.format(a=rng.choice(_ADJECTIVES), n=rng.choice(_NOUNS), n2=rng.choice(_NOUNS))
            if title not in seen or len(seen) > 5000:
                break
        seen.add(title)
        titles.append(title if title not in titles else f"{title} {len(titles)}")
    return titles

"""The Netflix Prize data (Kaggle mirror `netflix-inc/netflix-prize-data`) plus a movieId,genres CSV.

Files in the folder (docs/datasets-netflix-goodbooks.md says where to get them):
  combined_data_1.txt .. combined_data_4.txt  any non-empty subset; a line `MovieID:` starts a
                                              movie, then lines `CustomerID,Rating,YYYY-MM-DD`
  movie_titles.csv                            `MovieID,YearOfRelease,Title`, latin-1, no quoting
                                              (titles may contain commas), year may be NULL
  netflix_genres.csv                          header `movieId,genres`, genres pipe-separated

Protocol filter (protocol.md section 2): seed 2024, sample 50,000 users uniformly; keep items and
users with >= 100 ratings, repeated until nothing changes; then a seeded sample of about 10,000
users. Item counts are not re-thresholded after that last trim (it would undo the fixed point
filter's purpose of keeping dense users and drop items for a sampling accident).
"""
from __future__ import annotations

import csv
import mmap
import re
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd

from tears_bench.data.interactions import Catalog, Interactions, normalise_genre
from tears_bench.data.parsing import dense_index
from tears_bench.errors import TearsBenchError

RATING_FILES = tuple(f"combined_data_{i}.txt" for i in range(1, 5))
TITLES_FILE = "movie_titles.csv"
GENRES_FILE = "netflix_genres.csv"
DOCS = "docs/datasets-netflix-goodbooks.md"
_WHERE = {
    "combined_data": "the Kaggle dataset netflix-inc/netflix-prize-data",
    TITLES_FILE: "the Kaggle dataset netflix-inc/netflix-prize-data",
    GENRES_FILE: "a movieId,genres CSV you build from a genre source",
}
_RATING_LINE_FORMAT = "expected 'MovieID:' or 'CustomerID,Rating,YYYY-MM-DD'"
# What a good line of combined_data_*.txt looks like; used only to locate a bad line after the fast
# parser has failed, never on the fast path.
_GOOD_RATING_LINE = re.compile(rb"\s*(\d+:|\d+,[1-5],\d{4}-\d\d-\d\d)\s*$")
_NO_GENRES = {"(no genres listed)", "no genres listed", ""}
_NO_DAY = np.iinfo(np.int32).min  # day of a missing or invalid date


def load_netflix(data_dir: Path, seed: int = 2024, sample_users: int = 50_000, min_count: int = 100,
                 target_users: int = 10_000) -> Interactions:
    """Netflix Prize ratings filtered as protocol.md section 2 says; timestamps are the rating days
    (seconds since 1970, so ties within a day are broken by the split's seeded key)."""
    data_dir = Path(data_dir)
    movie, user, rating, day = read_ratings(data_dir)
    rng = np.random.default_rng(seed)
    rows = np.flatnonzero(sample_user_rows(user, sample_users, rng))
    movie, user, rating, day = movie[rows], user[rows], rating[rows], day[rows]
    keep = fixed_point_filter(user, movie, min_count)
    keep &= sample_user_rows(np.where(keep, user, -1), target_users, rng, ignore=-1)
    if not keep.any():
        raise TearsBenchError(f"no Netflix ratings in {data_dir} survive the filters (users and movies with "
                              f">= {min_count} ratings among {sample_users} sampled users)")
    user_ids, user_index = dense_index(user[keep])
    item_ids, item_index = dense_index(movie[keep])
    catalog = _catalog(data_dir, item_ids)
    return Interactions(
        name="netflix", kind="movies", user_ids=user_ids.astype(str), catalog=catalog,
        user=user_index, item=item_index, rating=rating[keep].astype(np.float32),
        timestamp=day[keep].astype(np.float64) * 86_400.0, has_ratings=True,
    )


# ----------------------------------------------------------------------------- filters

def sample_user_rows(user: np.ndarray, n: int, rng: np.random.Generator,
                     ignore: int | None = None) -> np.ndarray:
    """Row mask of `n` users drawn uniformly without replacement (all users when there are fewer).

    Users are drawn from their sorted ids, so the sample depends on the seed and the set of users,
    not on the order of the files. Rows whose user is `ignore` are never kept."""
    codes, uniques = pd.factorize(user, sort=True)
    chosen = np.ones(len(uniques), dtype=bool)
    if ignore is not None:
        chosen &= uniques != ignore
    candidates = np.flatnonzero(chosen)
    if len(candidates) > n:
        chosen[:] = False
        chosen[rng.choice(candidates, size=n, replace=False)] = True
    return chosen[codes]


def fixed_point_filter(user: np.ndarray, item: np.ndarray, min_count: int) -> np.ndarray:
    """Row mask keeping items and users with >= min_count ratings, repeated until a pass removes
    nothing: dropping an item can push a user below the threshold and vice versa."""
    user_codes = pd.factorize(user)[0]
    item_codes = pd.factorize(item)[0]
    keep = np.ones(len(user), dtype=bool)
    while True:
        kept_before = int(keep.sum())
        item_counts = np.bincount(item_codes[keep], minlength=item_codes.max(initial=-1) + 1)
        keep &= item_counts[item_codes] >= min_count
        user_counts = np.bincount(user_codes[keep], minlength=user_codes.max(initial=-1) + 1)
        keep &= user_counts[user_codes] >= min_count
        if int(keep.sum()) == kept_before:
            return keep


# ----------------------------------------------------------------------------- ratings

def read_ratings(data_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(movie id, customer id, rating, day since 1970) over every combined_data_*.txt present."""
    paths = [data_dir / name for name in RATING_FILES if (data_dir / name).is_file()]
    if not paths:
        raise _missing(data_dir, "combined_data_1.txt (to combined_data_4.txt)", "combined_data")
    parts = [read_rating_file(path) for path in paths]
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(4))  # type: ignore[return-value]


def read_rating_file(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One combined_data file, parsed by pandas' C reader in one pass.

    `decimal=':'` makes the reader take `123:` as the number 123, so movie lines and customer ids
    share one float column and no Python code runs per line; movie lines are the rows without a
    rating, and their id is carried forward onto the ratings below them. skip_blank_lines=False
    keeps row i on line i + 1, so a bad row names its line."""
    try:
        frame = pd.read_csv(
            path, header=None, names=["user", "rating", "date"], decimal=":", engine="c",
            dtype={"user": "float64", "rating": "float64", "date": "category"},
            skip_blank_lines=False, quoting=csv.QUOTE_NONE, encoding="latin-1",
        )
    except pd.errors.EmptyDataError:
        raise TearsBenchError(f"{path} is empty; {_RATING_LINE_FORMAT} lines") from None
    except pd.errors.ParserError as error:  # too many fields: pandas names the line
        found = re.search(r"line (\d+)", str(error))
        line = int(found.group(1)) if found else _first_bad_line(path)
        raise _bad_line(path, line, f"too many fields ({_RATING_LINE_FORMAT})") from None
    except ValueError:  # a field that is not a number: find it the slow way, once
        reason = f"not a number where one is expected ({_RATING_LINE_FORMAT})"
        raise _bad_line(path, _first_bad_line(path), reason) from None
    return _rating_arrays(path, frame)


def _rating_arrays(path: Path, frame: pd.DataFrame) -> tuple[np.ndarray, ...]:
    user = frame["user"].to_numpy()
    rating = frame["rating"].to_numpy()
    day = _days(frame["date"])
    has_date = frame["date"].notna().to_numpy()
    blank = np.isnan(user) & np.isnan(rating) & ~has_date
    is_movie = ~np.isnan(user) & np.isnan(rating) & ~has_date
    is_rating = ~blank & ~is_movie
    # int32 ids halve the memory of 100 million rows; the real ids are below 2.7 million.
    whole = ~np.isnan(user) & (user > 0) & (user < 2**31) & (np.mod(user, 1) == 0)
    checks = [  # (bad rows, reason), in the order a reader would want them reported
        (is_movie & ~whole, "a movie id must be a positive whole number below 2^31"),
        (is_rating & ~whole, "a customer id must be a positive whole number below 2^31"),
        (is_rating & np.isnan(rating), "the rating is missing"),
        (is_rating & ~np.isin(rating, [1, 2, 3, 4, 5]) & ~np.isnan(rating), "the rating must be 1-5"),
        (is_rating & ~has_date, "the date is missing"),
        (is_rating & has_date & (day == _NO_DAY), "the date is not YYYY-MM-DD"),
    ]
    first_line = [(int(np.argmax(bad)) + 1, reason) for bad, reason in checks if bad.any()]
    movie_lines = np.flatnonzero(is_movie) + 1
    colon_line = _first_colon_mismatch(path, movie_lines)
    if colon_line is not None:
        first_line.append((colon_line, "a movie line must end with ':' and a rating line must not hold one"))
    content = np.flatnonzero(~blank)
    if len(content) and not is_movie[content[0]]:
        first_line.append((int(content[0]) + 1, "ratings before the first 'MovieID:' line"))
    if first_line:
        line, reason = min(first_line)
        raise _bad_line(path, line, f"{reason} ({_RATING_LINE_FORMAT})")
    # Each rating row belongs to the movie line above it: forward-fill the movie ids.
    movie = pd.Series(np.where(is_movie, user, np.nan)).ffill().to_numpy()
    return (movie[is_rating].astype(np.int32), user[is_rating].astype(np.int32),
            rating[is_rating].astype(np.int8), day[is_rating])


def _days(dates: pd.Series) -> np.ndarray:
    """Days since 1970 per row (_NO_DAY where the date is missing or invalid), parsing each distinct
    date once: the real files hold about 2,200 distinct dates for 100 million rows."""
    categories = dates.cat.categories
    parsed = pd.to_datetime(pd.Series(categories.astype(str)), format="%Y-%m-%d", errors="coerce")
    per_category = (parsed - pd.Timestamp("1970-01-01")) // pd.Timedelta(days=1)
    per_category = per_category.fillna(_NO_DAY).to_numpy(np.int64)
    codes = dates.cat.codes.to_numpy()
    return np.where(codes >= 0, per_category[codes], _NO_DAY).astype(np.int32)


def _first_colon_mismatch(path: Path, movie_lines: np.ndarray) -> int | None:
    """The first line where a ':' and a parsed movie line disagree, or None.

    With decimal=':' pandas reads `13:` and a bare `13` alike; the colons settle it. One C-speed
    find per movie line (about 17,770 in all), and the scan stops at the first disagreement."""
    if path.stat().st_size == 0:
        return None
    line, last, k = 1, 0, 0
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        position = data.find(b":")
        while position != -1:
            line += data[last:position].count(b"\n")
            last = position
            if k < len(movie_lines) and movie_lines[k] == line:
                k += 1
            elif k == 0 or movie_lines[k - 1] != line:  # a ':' on a line that is not a movie line
                return min(line, int(movie_lines[k])) if k < len(movie_lines) else line
            position = data.find(b":", position + 1)
    return int(movie_lines[k]) if k < len(movie_lines) else None


def _first_bad_line(path: Path) -> int:
    """The first line that is not a movie line, a rating line or blank (error path only)."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.strip() and not _GOOD_RATING_LINE.match(raw):
                return number
    return 0


# ----------------------------------------------------------------------------- catalog

def _catalog(data_dir: Path, item_ids: np.ndarray) -> Catalog:
    titles = read_titles(data_dir / TITLES_FILE)
    genres = read_genres(data_dir / GENRES_FILE)
    wanted = [int(i) for i in item_ids]
    missing = [i for i in wanted if i not in titles]
    if missing:
        raise TearsBenchError(f"{data_dir / TITLES_FILE} has no title for {len(missing)} rated movie(s), "
                              f"e.g. MovieID {missing[0]}; it does not match the combined_data files")
    return Catalog(
        ids=np.array([str(i) for i in wanted]),
        titles=[titles[i][1] for i in wanted],
        years=[titles[i][0] for i in wanted],
        genres=[genres.get(i, ()) for i in wanted],
    )


def read_titles(path: Path) -> dict[int, tuple[str, str]]:
    """MovieID -> (year or '', title). Titles hold unquoted commas, so split each line on its first
    two commas only (pandas' CSV reader would see extra fields)."""
    if not path.is_file():
        raise _missing(path.parent, path.name, TITLES_FILE)
    lines = pd.Series(path.read_text(encoding="latin-1").splitlines(), dtype="str")
    numbers = np.arange(1, len(lines) + 1)
    keep = lines.str.strip().ne("").to_numpy()
    if len(lines) and lines.iloc[0].strip().lower().startswith("movieid"):  # an optional header line
        keep[0] = False
    lines, numbers = lines[keep].reset_index(drop=True), numbers[keep]
    parts = lines.str.split(",", n=2, expand=True).reindex(columns=[0, 1, 2])
    movie_id, year, title = (parts[c].fillna("").str.strip() for c in (0, 1, 2))
    year = year.mask(year.str.upper() == "NULL", "")
    checks = [
        (~movie_id.str.fullmatch(r"\d+"), "the MovieID is not a whole number"),
        (~year.str.fullmatch(r"\d{4}|"), "the year is neither a year nor NULL"),
        (title.eq(""), "the title is missing"),
    ]
    for bad, reason in checks:
        if bad.any():
            line = int(numbers[int(np.argmax(bad.to_numpy()))])
            raise _bad_line(path, line, f"{reason} (expected 'MovieID,YearOfRelease,Title')")
    return dict(zip(movie_id.astype(int), zip(year, title)))


def read_genres(path: Path) -> dict[int, tuple[str, ...]]:
    """movieId -> normalised genres, from a CSV with header `movieId,genres` (pipe-separated).
    A movie listed twice keeps its first row."""
    if not path.is_file():
        raise _missing(path.parent, path.name, GENRES_FILE)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8", skip_blank_lines=True)
    except pd.errors.ParserError as error:
        raise TearsBenchError(f"{path}: malformed line ({str(error).strip().splitlines()[-1]})") from None
    except UnicodeDecodeError:
        raise TearsBenchError(f"{path} is not UTF-8 text; save it as UTF-8") from None
    except pd.errors.EmptyDataError:
        raise TearsBenchError(f"{path} is empty; expected a header 'movieId,genres'") from None
    if not {"movieId", "genres"} <= set(frame.columns):
        raise TearsBenchError(f"{path}, line 1: expected a header with columns movieId,genres, "
                              f"got {','.join(frame.columns)!r}")
    ids = frame["movieId"].str.strip()
    bad = ~ids.str.fullmatch(r"\d+")
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        raise _bad_line(path, row + 2, "the movieId is not a whole number (expected 'movieId,genres')")
    frame = frame.assign(movieId=ids.astype(int)).drop_duplicates("movieId")
    return {movie: _split_genres(value) for movie, value in zip(frame["movieId"], frame["genres"])}


def _split_genres(value: str) -> tuple[str, ...]:
    genres = (normalise_genre(g) for g in value.split("|"))
    return tuple(dict.fromkeys(g for g in genres if g not in _NO_GENRES))


# ----------------------------------------------------------------------------- errors

def _missing(folder: Path, name: str, kind: str) -> TearsBenchError:
    return TearsBenchError(f"{name} not found in {folder}; get it from {_WHERE[kind]} (see {DOCS}) "
                           f"and pass that folder with --data-dir")


def _bad_line(path: Path, line: int, reason: str) -> TearsBenchError:
    if line <= 0:
        return TearsBenchError(f"{path}: {reason}, but the line could not be located")
    return TearsBenchError(f"{path}, line {line}: {reason}: {_line_text(path, line)!r}")


def _line_text(path: Path, line: int) -> str:
    with open(path, "rb") as handle:
        text = next(islice(handle, line - 1, line), b"")
    return text.decode("latin-1").rstrip("\r\n")[:80]

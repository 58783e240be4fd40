"""goodbooks-10k (github.com/zygmuntz/goodbooks-10k): ratings.csv, books.csv, book_tags.csv, tags.csv.

Protocol filter (protocol.md section 2): English books; users with >= 20 ratings (on English
books); seed 2024: sample 10,000 users; books with >= 20 ratings within the sample. The data has no
timestamps, so the split orders each user's ratings by a seeded permutation.

English: language_code 'en', 'eng' or 'en-*' (en-US, en-GB, en-CA). 'enm' (Middle English) is not
English for this purpose. About a tenth of the books have no language_code; they are kept by default
(`keep_unknown_language`), because goodbooks-10k is the 10,000 most popular books on an
English-language site and the books without a code are, by inspection, nearly all in English.

Genres come from the users' shelves (book_tags.csv): tag names are mapped onto BOOK_GENRES by
their aliases, each book's counts are summed per genre, and a book carries the genres holding at
least MIN_GENRE_SHARE of its genre-tag count, at most MAX_GENRES of them, largest first.
"""
from __future__ import annotations

import re
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd

from tears_bench.data.interactions import Catalog, Interactions, normalise_genre
from tears_bench.data.parsing import dense_index
from tears_bench.errors import TearsBenchError

DOCS = "docs/datasets-netflix-goodbooks.md"
SOURCE = "github.com/zygmuntz/goodbooks-10k"
MIN_GENRE_SHARE = 0.10
MAX_GENRES = 3

# Genre -> shelf names that mean it, in normalise_genre form ('sci-fi' -> 'sci fi'). A shelf may mean
# two genres ('paranormal romance'). Broad or personal shelves ('fiction', 'to read', 'favorites')
# are deliberately absent: they say nothing about what a book is.
BOOK_GENRES: dict[str, tuple[str, ...]] = {
    "fantasy": ("fantasy", "high fantasy", "epic fantasy", "urban fantasy", "fantasy fiction",
                "sci fi fantasy", "science fiction fantasy", "ya fantasy"),
    "science fiction": ("science fiction", "sci fi", "scifi", "sf", "sci fi fantasy",
                        "science fiction fantasy", "space opera"),
    "romance": ("romance", "romantic", "contemporary romance", "historical romance",
                "paranormal romance", "chick lit", "chicklit"),
    "mystery": ("mystery", "mysteries", "mystery thriller", "cozy mystery", "detective", "whodunit"),
    "thriller": ("thriller", "thrillers", "suspense", "mystery thriller", "psychological thriller"),
    "crime": ("crime", "crime fiction", "noir"),
    "horror": ("horror", "horror fiction"),
    "historical fiction": ("historical fiction", "historical", "historical novels", "historical novel",
                           "hf"),
    "young adult": ("young adult", "ya", "ya fiction", "young adult fiction", "teen", "teen fiction",
                    "ya fantasy"),
    "children's": ("children's", "childrens", "children", "kids", "children's books", "childrens books",
                   "juvenile", "middle grade", "picture books"),
    "classics": ("classics", "classic", "classic literature", "classic fiction"),
    "literary fiction": ("literary fiction", "literature", "lit fic"),
    "contemporary": ("contemporary", "contemporary fiction", "realistic fiction"),
    "non fiction": ("non fiction", "nonfiction", "non fic"),
    "biography": ("biography", "biographies", "memoir", "memoirs", "autobiography", "biography memoir"),
    "history": ("history", "world history", "american history"),
    "poetry": ("poetry", "poems"),
    "comics": ("comics", "comic", "comic books", "graphic novels", "graphic novel", "manga"),
    "paranormal": ("paranormal", "supernatural", "vampires", "vampire", "werewolves",
                   "paranormal romance"),
    "humor": ("humor", "humour", "funny", "comedy"),
    "christian": ("christian", "christian fiction", "christianity", "inspirational"),
    "dystopian": ("dystopia", "dystopian", "post apocalyptic"),
    "philosophy": ("philosophy",),
    "self help": ("self help", "personal development", "self improvement"),
    "science": ("science", "popular science"),
}


def load_goodbooks(data_dir: Path, seed: int = 2024, min_user_ratings: int = 20, sample_users: int = 10_000,
                   min_item_ratings: int = 20, keep_unknown_language: bool = True) -> Interactions:
    """goodbooks-10k filtered as protocol.md section 2 says (no timestamps)."""
    data_dir = Path(data_dir)
    ratings = read_ratings(data_dir / "ratings.csv")
    books = read_books(data_dir / "books.csv")
    english = books.loc[is_english(books["language_code"], _flag(keep_unknown_language)), "book_id"]
    # Books missing from books.csv have no language (and no title): they cannot pass the filter.
    ratings = ratings[ratings["book_id"].isin(english)]
    ratings = _users_with_at_least(ratings, min_user_ratings)
    ratings = _sample_users(ratings, sample_users, np.random.default_rng(seed))
    ratings = _books_with_at_least(ratings, min_item_ratings)
    if ratings.empty:
        raise TearsBenchError(f"no goodbooks ratings in {data_dir} survive the filters (English books, users "
                              f"with >= {min_user_ratings} ratings, books with >= {min_item_ratings})")
    user_ids, user = dense_index(ratings["user_id"].to_numpy())
    item_ids, item = dense_index(ratings["book_id"].to_numpy())
    genres = book_genres(data_dir, books)
    catalog = _catalog(books, item_ids, genres)
    return Interactions(
        name="goodbooks", kind="books", user_ids=user_ids.astype(str), catalog=catalog, user=user,
        item=item, rating=ratings["rating"].to_numpy(np.float32), timestamp=None, has_ratings=True,
    )


# ----------------------------------------------------------------------------- filters

def is_english(codes: pd.Series, keep_unknown: bool = True) -> np.ndarray:
    """'en', 'eng', 'en-US', 'en-GB', ... are English; a missing code counts as `keep_unknown`."""
    code = codes.fillna("").astype(str).str.strip().str.lower()
    english = code.isin(["en", "eng"]) | code.str.startswith("en-")
    return (english | (code.eq("") & keep_unknown)).to_numpy(bool)


def _flag(value: bool | int | str) -> bool:
    """A boolean that may arrive from a dataset spec ('goodbooks:keep_unknown_language=0')."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _users_with_at_least(ratings: pd.DataFrame, n: int) -> pd.DataFrame:
    counts = ratings.groupby("user_id")["user_id"].transform("size")
    return ratings[counts.to_numpy() >= n]


def _books_with_at_least(ratings: pd.DataFrame, n: int) -> pd.DataFrame:
    counts = ratings.groupby("book_id")["book_id"].transform("size")
    return ratings[counts.to_numpy() >= n]


def _sample_users(ratings: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Ratings of `n` users drawn uniformly from the sorted user ids (all users when fewer)."""
    users = np.unique(ratings["user_id"].to_numpy())
    if len(users) <= n:
        return ratings
    chosen = rng.choice(users, size=n, replace=False)
    return ratings[ratings["user_id"].isin(chosen)]


# ----------------------------------------------------------------------------- genres

def genre_of_tag(tag_names: pd.Series) -> pd.DataFrame:
    """(tag row, genre) pairs: each tag name, normalised, matched against BOOK_GENRES' aliases."""
    alias_to_genres = pd.DataFrame(
        [(alias, genre) for genre, aliases in BOOK_GENRES.items() for alias in aliases],
        columns=["alias", "genre"],
    )
    names = pd.DataFrame({"row": np.arange(len(tag_names)),
                          "alias": [normalise_genre(str(t)) for t in tag_names.fillna("")]})
    return names.merge(alias_to_genres, on="alias")[["row", "genre"]]


def book_genres(data_dir: Path, books: pd.DataFrame) -> dict[int, tuple[str, ...]]:
    """book_id -> genres from the shelves, by the share rule in the module docstring."""
    tags = read_csv_checked(data_dir / "tags.csv", {"tag_id": True, "tag_name": False})
    book_tags = read_csv_checked(data_dir / "book_tags.csv",
                                 {"goodreads_book_id": True, "tag_id": True, "count": True})
    pairs = genre_of_tag(tags["tag_name"])
    tag_genre = pd.DataFrame({"tag_id": tags["tag_id"].to_numpy()[pairs["row"]], "genre": pairs["genre"]})
    to_book = books.drop_duplicates("goodreads_book_id").set_index("goodreads_book_id")["book_id"]
    shelved = book_tags.merge(tag_genre, on="tag_id")
    shelved = shelved.assign(book_id=shelved["goodreads_book_id"].map(to_book),
                             count=shelved["count"].clip(lower=0))  # a few counts in the data are negative
    return pick_genres(shelved.dropna(subset=["book_id"]))


def pick_genres(shelved: pd.DataFrame, min_share: float = MIN_GENRE_SHARE,
                max_genres: int = MAX_GENRES) -> dict[int, tuple[str, ...]]:
    """From (book_id, genre, count) rows: per book, the genres with at least `min_share` of its
    genre-tag count, largest first (ties in BOOK_GENRES order), at most `max_genres`."""
    order = {genre: i for i, genre in enumerate(BOOK_GENRES)}
    per_genre = shelved.groupby(["book_id", "genre"], as_index=False)["count"].sum()
    total = per_genre.groupby("book_id")["count"].transform("sum")
    per_genre = per_genre[(total > 0) & (per_genre["count"] >= min_share * total)]
    per_genre = per_genre.assign(order=per_genre["genre"].map(order))
    per_genre = per_genre.sort_values(["book_id", "count", "order"], ascending=[True, False, True])
    per_genre = per_genre.groupby("book_id").head(max_genres)
    return {int(book): tuple(group) for book, group in per_genre.groupby("book_id")["genre"]}


# ----------------------------------------------------------------------------- files

def read_ratings(path: Path) -> pd.DataFrame:
    """user_id, book_id, rating (1-5); a repeated (user, book) pair keeps its last row."""
    ratings = read_csv_checked(path, {"user_id": True, "book_id": True, "rating": True})
    bad = ~ratings["rating"].isin([1, 2, 3, 4, 5]).to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raise _bad_line(path, int(ratings.index[row]) + 2, f"rating {ratings['rating'].iloc[row]} is not 1-5")
    return ratings[["user_id", "book_id", "rating"]].drop_duplicates(["user_id", "book_id"], keep="last")


def read_books(path: Path) -> pd.DataFrame:
    books = read_csv_checked(path, {"book_id": True, "goodreads_book_id": True, "authors": False,
                                    "title": False, "original_title": False, "language_code": False,
                                    "original_publication_year": False})
    return books.drop_duplicates("book_id")


def read_csv_checked(path: Path, columns: dict[str, bool]) -> pd.DataFrame:
    """A CSV with a header holding `columns` (name -> must be a whole number on every line).

    pandas' C reader parses the whole file; only when a numeric column comes back non-numeric do
    we look for the first offending row (row i of the frame is line i + 2: skip_blank_lines=False
    keeps blank lines as empty rows, which are then dropped)."""
    if not path.is_file():
        raise TearsBenchError(f"{path.name} not found in {path.parent}; get it from {SOURCE} "
                              f"(see {DOCS}) and pass that folder with --data-dir")
    text_columns = {name: str for name, numeric in columns.items() if not numeric}
    try:
        frame = pd.read_csv(path, dtype=text_columns, skip_blank_lines=False, encoding="utf-8")
    except pd.errors.ParserError as error:
        found = re.search(r"line (\d+)", str(error))
        if found:
            raise _bad_line(path, int(found.group(1)), "too many fields") from None
        raise TearsBenchError(f"{path}: malformed CSV ({str(error).strip().splitlines()[-1]})") from None
    except UnicodeDecodeError:
        raise TearsBenchError(f"{path} is not UTF-8 text") from None
    except pd.errors.EmptyDataError:
        raise TearsBenchError(f"{path} is empty; expected a header with {','.join(columns)}") from None
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise TearsBenchError(f"{path}, line 1: the header lacks {', '.join(missing)} "
                              f"(expected columns {','.join(columns)})")
    frame = frame[~frame.isna().all(axis=1)]
    for name, numeric in columns.items():
        if numeric:
            frame[name] = _whole_numbers(path, frame, name)
    return frame


def _whole_numbers(path: Path, frame: pd.DataFrame, name: str) -> np.ndarray:
    column = frame[name]
    if pd.api.types.is_integer_dtype(column.dtype):  # the fast, usual case
        return column.to_numpy(np.int64)
    values = pd.to_numeric(column, errors="coerce").to_numpy(np.float64)
    bad = np.isnan(values) | (np.mod(values, 1) != 0)
    if bad.any():
        row = int(np.argmax(bad))
        value = column.iloc[row]
        what = "is missing" if pd.isna(value) else f"{str(value)[:40]!r} is not a whole number"
        raise _bad_line(path, int(frame.index[row]) + 2, f"{name} {what}")
    return values.astype(np.int64)


def _bad_line(path: Path, line: int, reason: str) -> TearsBenchError:
    with open(path, "rb") as handle:
        text = next(islice(handle, line - 1, line), b"").decode("utf-8", "replace").rstrip("\r\n")[:80]
    return TearsBenchError(f"{path}, line {line}: {reason}: {text!r}")


# ----------------------------------------------------------------------------- catalog

def _catalog(books: pd.DataFrame, item_ids: np.ndarray, genres: dict[int, tuple[str, ...]]) -> Catalog:
    rows = books.set_index("book_id").loc[item_ids]
    # `title` carries the series ("(Harry Potter, #1)"), which helps a summarizer; original_title is
    # the fallback because it is often empty.
    titles = rows["title"].fillna(rows["original_title"]).fillna("").map(_squeeze)
    years = pd.to_numeric(rows["original_publication_year"], errors="coerce")
    return Catalog(
        ids=np.array([str(int(i)) for i in item_ids]),
        titles=[t or f"book {i}" for t, i in zip(titles, item_ids)],
        genres=[genres.get(int(i), ()) for i in item_ids],
        years=["" if np.isnan(y) else str(int(y)) for y in years],
        authors=rows["authors"].fillna("").map(_squeeze).tolist(),
    )


def _squeeze(text: str) -> str:
    """Runs of spaces occur in the metadata ('Robert           Jackson'); prompts want one."""
    return " ".join(str(text).split())

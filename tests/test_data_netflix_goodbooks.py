"""Netflix Prize and goodbooks-10k loaders on small hand-made files (thresholds lowered)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tears_bench.data.goodbooks import genre_of_tag, load_goodbooks
from tears_bench.data.netflix import fixed_point_filter, load_netflix, sample_user_rows
from tears_bench.errors import TearsBenchError

# ----------------------------------------------------------------------------- Netflix fixture
# min_count=3. Item 4 has 2 ratings -> dropped in pass 1, which leaves users 14 and 15 with < 3;
# without them item 3 falls to 2 ratings (pass 2), which leaves user 13 with 2 (pass 2); a single
# pass would have kept item 3 and user 13. Fixed point: users 10, 11, 12 x items 1, 2, 5.
NETFLIX = {
    1: [(10, 5, "2005-01-02"), (11, 4, "2005-01-03"), (12, 3, "2005-01-04"), (13, 2, "2005-01-05"),
        (15, 1, "2005-01-06")],
    2: [(10, 4, "2004-06-01"), (11, 4, "2004-06-02"), (12, 2, "2004-06-03"), (13, 5, "2004-06-04"),
        (15, 3, "2004-06-05")],
    3: [(12, 4, "2003-03-03"), (13, 4, "2003-03-04"), (14, 4, "2003-03-05")],
    4: [(14, 2, "2002-02-02"), (15, 5, "2002-02-03")],
    5: [(10, 1, "2001-01-01"), (11, 2, "2001-01-02"), (12, 5, "2001-01-03")],
}
TITLES = ("1,2003,Dinosaur Planet\n2,NULL,Am\u00e9lie\n3,1997,Character\n4,1994,Get Up & Dance\n"
          "5,2004,Lord of the Rings, The: Extended, Edition\n")
GENRES = "movieId,genres\n1,Action|Sci-Fi\n2,Comedy|Film_Noir\n3,Drama\n4,(no genres listed)\n"


def _combined(movies: dict) -> str:
    return "".join(f"{m}:\n" + "".join(f"{u},{r},{d}\n" for u, r, d in rows) for m, rows in movies.items())


def _netflix_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "netflix"
    folder.mkdir()
    # Two of the four files, so the loader must take whichever exist.
    (folder / "combined_data_1.txt").write_text(_combined({m: NETFLIX[m] for m in (1, 2)}))
    (folder / "combined_data_3.txt").write_text(_combined({m: NETFLIX[m] for m in (3, 4, 5)}))
    (folder / "movie_titles.csv").write_bytes(TITLES.encode("latin-1"))
    (folder / "netflix_genres.csv").write_text(GENRES)
    return folder


def _load_netflix(folder: Path, **kwargs):
    return load_netflix(folder, **{"min_count": 3, "sample_users": 100, "target_users": 100, **kwargs})


def test_netflix_fixed_point_counts_titles_genres(tmp_path):
    data = _load_netflix(_netflix_dir(tmp_path))
    assert (data.name, data.kind, data.has_ratings) == ("netflix", "movies", True)
    assert data.user_ids.tolist() == ["10", "11", "12"]
    assert data.catalog.ids.tolist() == ["1", "2", "5"]
    assert data.n_ratings == 9
    assert data.catalog.titles == ["Dinosaur Planet", "Am\u00e9lie", "Lord of the Rings, The: Extended, Edition"]
    assert data.catalog.years == ["2003", "", "2004"]
    assert data.catalog.genres == [("action", "sci fi"), ("comedy", "film noir"), ()]
    pairs = {(data.user_ids[u], data.catalog.ids[i], r) for u, i, r in zip(data.user, data.item, data.rating)}
    assert ("12", "5", 5.0) in pairs and ("10", "1", 5.0) in pairs
    row = int(np.flatnonzero((data.user_ids[data.user] == "10") & (data.catalog.ids[data.item] == "1"))[0])
    assert data.timestamp[row] == pd.Timestamp("2005-01-02").timestamp()


def test_fixed_point_filter_needs_more_than_one_pass():
    user = np.array([u for rows in NETFLIX.values() for u, _, _ in rows])
    item = np.array([m for m, rows in NETFLIX.items() for _ in rows])
    keep = fixed_point_filter(user, item, 3)
    assert sorted(set(user[keep])) == [10, 11, 12] and sorted(set(item[keep])) == [1, 2, 5]


def test_fixed_point_filter_random_case_is_stable():
    rng = np.random.default_rng(0)
    user, item = rng.integers(0, 300, 5000), rng.zipf(1.6, 5000) % 200
    keep = fixed_point_filter(user, item, 15)
    assert keep.any()
    assert np.bincount(user[keep]).max() >= 15 and np.bincount(user[keep])[np.unique(user[keep])].min() >= 15
    assert np.bincount(item[keep])[np.unique(item[keep])].min() >= 15
    assert fixed_point_filter(user[keep], item[keep], 15).all()


def test_netflix_sampling_is_seeded(tmp_path):
    folder = _netflix_dir(tmp_path)
    first = _load_netflix(folder, target_users=2)
    assert len(first.user_ids) == 2 and set(first.user_ids) <= {"10", "11", "12"}
    assert _load_netflix(folder, target_users=2).user_ids.tolist() == first.user_ids.tolist()
    mask = sample_user_rows(np.array([5, 5, 7, 9, 9, 9]), 2, np.random.default_rng(1))
    assert len(set(np.array([5, 5, 7, 9, 9, 9])[mask])) == 2


@pytest.mark.parametrize("bad, reason", [
    ("11;3;2005-01-01", "number"),        # wrong separator
    ("11,3", "date is missing"),          # missing field
    ("11,x,2005-01-01", "number"),        # non-numeric rating
    ("11,3,2005-01-01,7", "too many"),    # extra field
    ("11", "':'"),                        # a rating line that lost two fields (or a movie line its colon)
    ("11,9,2005-01-01", "1-5"),
    ("11,3,2005-31-12", "YYYY-MM-DD"),
    ("11,3:,2005-01-01", "':'"),
])
def test_netflix_malformed_line_names_file_and_line(tmp_path, bad, reason):
    folder = _netflix_dir(tmp_path)
    (folder / "combined_data_1.txt").write_text(f"1:\n10,3,2005-01-01\n\n2:\n{bad}\n12,4,2005-01-01\n")
    with pytest.raises(TearsBenchError) as error:
        _load_netflix(folder)
    message = str(error.value)
    assert "combined_data_1.txt, line 5" in message and reason in message


def test_netflix_rating_before_movie_line(tmp_path):
    folder = _netflix_dir(tmp_path)
    (folder / "combined_data_1.txt").write_text("10,3,2005-01-01\n1:\n")
    with pytest.raises(TearsBenchError, match=r"combined_data_1.txt, line 1: ratings before"):
        _load_netflix(folder)


def test_netflix_missing_files(tmp_path):
    folder = _netflix_dir(tmp_path)
    for name in ("netflix_genres.csv", "movie_titles.csv"):
        (folder / name).unlink()
        with pytest.raises(TearsBenchError) as error:
            _load_netflix(folder)
        assert name in str(error.value) and str(folder) in str(error.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TearsBenchError, match=r"combined_data_1\.txt.*not found in .*empty.*Kaggle"):
        _load_netflix(empty)


def test_netflix_malformed_titles_and_unknown_movie(tmp_path):
    folder = _netflix_dir(tmp_path)
    (folder / "movie_titles.csv").write_text("1,2003,Dinosaur Planet\nx,2004,Oops\n")
    with pytest.raises(TearsBenchError, match=r"movie_titles.csv, line 2: the MovieID"):
        _load_netflix(folder)
    (folder / "movie_titles.csv").write_text("1,2003,Dinosaur Planet\n2,2004,Two\n")
    with pytest.raises(TearsBenchError, match=r"no title for 1 rated movie.*MovieID 5"):
        _load_netflix(folder)


# ----------------------------------------------------------------------------- goodbooks fixture
BOOKS = """book_id,goodreads_book_id,best_book_id,authors,original_publication_year,original_title,title,language_code
1,101,101,"J.K. Rowling, Mary GrandPr\u00e9",1997.0,Harry Potter and the Philosopher's Stone,"Harry Potter and the Sorcerer's Stone (Harry Potter, #1)",eng
2,102,102,Suzanne Collins,2008.0,The Hunger Games,"The Hunger Games (The Hunger Games, #1)",en-US
3,103,103,Victor Hugo,1862.0,Les Mis\u00e9rables,Les Mis\u00e9rables,fre
4,104,104,Frank Herbert,1965.0,Dune,Dune,
5,105,105,Jane Austen,1813.0,,Pride and Prejudice,en-GB
6,106,106,Anonymous,-800.0,Old,Old Text,enm
"""
# min_user_ratings=3 counts English books only (1, 2, 4, 5): user 3 has two, user 5 two.
# Then min_item_ratings=3 drops book 5 (users 1 and 4). User 1 rates book 1 twice: the last row wins.
RATINGS = {1: [(1, 2), (2, 4), (3, 5), (4, 4), (5, 3), (1, 5)], 2: [(1, 4), (2, 4), (4, 2)],
           3: [(1, 5), (2, 5), (3, 5)], 4: [(1, 3), (2, 3), (5, 4), (6, 5)], 5: [(1, 4), (4, 4)],
           6: [(1, 1), (2, 2), (4, 3)]}
TAGS = ("tag_id,tag_name\n0,to-read\n1,fantasy\n2,sci-fi\n3,science-fiction\n4,young-adult\n5,ya\n"
        "6,romance\n7,favorites\n8,classics\n9,paranormal-romance\n")
BOOK_TAGS = """goodreads_book_id,tag_id,count
101,0,1000
101,1,500
101,4,300
101,5,100
101,6,50
101,8,40
102,2,100
102,3,60
102,4,200
102,6,50
102,1,40
104,2,400
104,8,300
104,1,200
104,6,100
104,7,999
105,9,10
"""


def _goodbooks_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "goodbooks"
    folder.mkdir()
    ratings = "".join(f"{u},{b},{r}\n" for u, rows in RATINGS.items() for b, r in rows)
    (folder / "ratings.csv").write_text("user_id,book_id,rating\n" + ratings)
    (folder / "books.csv").write_text(BOOKS, encoding="utf-8")
    (folder / "tags.csv").write_text(TAGS)
    (folder / "book_tags.csv").write_text(BOOK_TAGS)
    return folder


def _load_goodbooks(folder: Path, **kwargs):
    return load_goodbooks(folder, **{"min_user_ratings": 3, "sample_users": 100, "min_item_ratings": 3, **kwargs})


def test_goodbooks_filters_counts_and_catalog(tmp_path):
    data = _load_goodbooks(_goodbooks_dir(tmp_path))
    assert (data.name, data.kind, data.timestamp) == ("goodbooks", "books", None)
    assert data.user_ids.tolist() == ["1", "2", "4", "6"]
    assert data.catalog.ids.tolist() == ["1", "2", "4"]
    assert data.n_ratings == 11  # user 4 keeps 2 ratings: users are not re-filtered after the book filter
    assert data.catalog.titles[0] == "Harry Potter and the Sorcerer's Stone (Harry Potter, #1)"
    assert data.catalog.authors[0] == "J.K. Rowling, Mary GrandPr\u00e9"
    assert data.catalog.years == ["1997", "2008", "1965"]
    user1_book1 = (data.user_ids[data.user] == "1") & (data.catalog.ids[data.item] == "1")
    assert data.rating[user1_book1].tolist() == [5.0]


def test_goodbooks_genres_from_shelves(tmp_path):
    data = _load_goodbooks(_goodbooks_dir(tmp_path))
    assert data.catalog.genres == [
        ("fantasy", "young adult"),                      # romance 5% and classics 4% fall under 10%
        ("young adult", "science fiction", "romance"),   # sci-fi + science-fiction summed; fantasy 8.9%
        ("science fiction", "classics", "fantasy"),      # four qualify, at most three kept
    ]


def test_goodbooks_english_filter(tmp_path):
    folder = _goodbooks_dir(tmp_path)
    data = _load_goodbooks(folder, min_item_ratings=2)
    assert "3" not in data.catalog.ids and "6" not in data.catalog.ids  # fre, enm
    assert "4" in data.catalog.ids  # missing language code: kept by default
    strict = _load_goodbooks(folder, min_item_ratings=2, keep_unknown_language=False)
    assert strict.catalog.ids.tolist() == ["1", "2", "5"] and strict.user_ids.tolist() == ["1", "4"]
    assert strict.catalog.titles[2] == "Pride and Prejudice"
    assert strict.catalog.genres[2] == ("romance", "paranormal")


def test_goodbooks_tag_names_map_to_genres():
    names = pd.Series(["Sci-Fi", "science_fiction", "scifi", "YA", "young-adult", "fiction", "to-read",
                       "paranormal-romance", "Children's"])
    pairs = genre_of_tag(names)
    mapped = pairs.groupby("row")["genre"].apply(set).to_dict()
    assert mapped == {0: {"science fiction"}, 1: {"science fiction"}, 2: {"science fiction"},
                      3: {"young adult"}, 4: {"young adult"}, 7: {"romance", "paranormal"},
                      8: {"children's"}}


@pytest.mark.parametrize("bad, reason", [
    ("3;2;5", "user_id '3;2;5' is not a whole number"),
    ("3,2", "rating is missing"),
    ("3,2,x", "rating 'x' is not a whole number"),
    ("3,2,5,9", "too many fields"),
    ("3,2,7", "not 1-5"),
])
def test_goodbooks_malformed_ratings_line(tmp_path, bad, reason):
    folder = _goodbooks_dir(tmp_path)
    (folder / "ratings.csv").write_text(f"user_id,book_id,rating\n1,1,5\n2,1,4\n{bad}\n4,1,3\n")
    with pytest.raises(TearsBenchError) as error:
        _load_goodbooks(folder)
    message = str(error.value)
    assert "ratings.csv, line 4" in message and reason in message


def test_goodbooks_missing_file_and_header(tmp_path):
    folder = _goodbooks_dir(tmp_path)
    (folder / "book_tags.csv").unlink()
    with pytest.raises(TearsBenchError, match=r"book_tags.csv not found in .*goodbooks.*zygmuntz/goodbooks-10k"):
        _load_goodbooks(folder)
    (folder / "ratings.csv").write_text("user,book,rating\n1,1,5\n")
    with pytest.raises(TearsBenchError, match=r"ratings.csv, line 1: the header lacks user_id, book_id"):
        _load_goodbooks(folder)


def test_registry_loads_both_with_spec_parameters(tmp_path):
    from tears_bench.data.registry import load_dataset

    _netflix_dir(tmp_path), _goodbooks_dir(tmp_path)
    netflix = load_dataset("netflix:min_count=3,sample_users=100,target_users=100", str(tmp_path))
    assert netflix.n_ratings == 9
    books = load_dataset("goodbooks:min_user_ratings=3,min_item_ratings=3,keep_unknown_language=1", str(tmp_path))
    assert books.n_ratings == 11


def test_nothing_left_after_filters_is_a_clear_error(tmp_path):
    with pytest.raises(TearsBenchError, match="no Netflix ratings .* survive the filters"):
        _load_netflix(_netflix_dir(tmp_path), min_count=50)
    with pytest.raises(TearsBenchError, match="no goodbooks ratings .* survive the filters"):
        _load_goodbooks(_goodbooks_dir(tmp_path), min_user_ratings=50)

import http.server
import io
import json
import threading
import zipfile
from pathlib import Path

import pytest

from tears_bench.cli import main
from tears_bench.data import download, get_split, load_dataset
from tears_bench.errors import TearsBenchError

GENRE_FLAGS = ["0"] * 19


def write(path: Path, text: str, encoding="utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=encoding)
    return path


def ratings_rows(n_users=3, n_items=14, sep="\t"):
    """Each user rates every item (14 > 10 ratings); user 3 only 5 items (dropped by the filter)."""
    rows = []
    for u in range(1, n_users + 1):
        for i in range(1, (n_items if u < n_users else 6)):
            rows.append(sep.join([str(u), str(i), str(1 + (u + i) % 5), str(1000 * u + i)]))
    return rows


def ml100k_folder(tmp_path):
    folder = tmp_path / "ml100k"
    write(folder / "u.data", "\n".join(ratings_rows()) + "\n")
    items = []
    for i in range(1, 14):
        flags = GENRE_FLAGS.copy()
        flags[1 + i % 3] = "1"  # Action / Adventure / Animation
        items.append("|".join([str(i), f"Film {i} (199{i % 10})", "01-Jan-1995", "", "http://x"] + flags))
    items[0] = items[0].replace("Film 1 (1991)", "Amélie, Part One (1991)")
    write(folder / "u.item", "\n".join(items) + "\n", encoding="latin-1")
    return folder


def test_ml100k_grouplens_files(tmp_path):
    data = load_dataset("ml-100k", str(ml100k_folder(tmp_path)))
    assert len(data.user_ids) == 2  # user 3 has 5 ratings (<= 10): filtered
    assert data.n_ratings == 26
    index = list(data.catalog.ids).index("1")
    assert data.catalog.titles[index] == "Amélie, Part One" and data.catalog.years[index] == "1991"
    assert data.catalog.genres[list(data.catalog.ids).index("2")] == ("animation",)


def test_ml1m_grouplens_files(tmp_path):
    folder = tmp_path / "ml-1m"
    write(folder / "ratings.dat", "\n".join(ratings_rows(sep="::")) + "\n", encoding="latin-1")
    write(folder / "movies.dat", "\n".join(f"{i}::Movie {i} (1999)::Sci-Fi|Film-Noir" for i in range(1, 14)) + "\n",
          encoding="latin-1")
    # The data dir may also be the parent of the unzipped ml-1m folder.
    data = load_dataset("ml-1m", str(tmp_path))
    assert data.name == "ml-1m" and len(data.user_ids) == 2 and data.n_ratings == 26
    assert data.catalog.genres[0] == ("sci fi", "film noir")
    assert int(data.positive.sum()) == sum(1 for r in ratings_rows(sep="::")[:26] if int(r.split("::")[2]) > 3)


def test_recbole_with_and_without_ratings(tmp_path):
    rated = tmp_path / "rated"
    header = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    write(rated / "rated.inter", header + "\n".join(ratings_rows()) + "\n")
    write(rated / "rated.item", "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
          + "\n".join(f"{i}\tFilm {i}\t1990\tChildren's Sci-Fi" for i in range(1, 14)) + "\n")
    data = load_dataset(str(rated))
    assert data.has_ratings and len(data.user_ids) == 2
    assert data.catalog.genres[0] == ("children's", "sci fi") and data.catalog.titles[0] == "Film 1"

    positives = tmp_path / "pos"
    write(positives / "pos.inter", "user_id:token\titem_id:token\n"
          + "\n".join(f"{u}\t{i}" for u in (1, 2) for i in range(1, 5)) + "\n")
    data = load_dataset(str(positives))
    assert not data.has_ratings and data.timestamp is None
    assert data.positive.all() and data.n_ratings == 8 and len(data.user_ids) == 2  # no >10 filter


@pytest.mark.parametrize("line, message", [
    ("1,2,3,4", "line 3"),            # wrong separator: a missing field
    ("1\t2\tfive\t4", "line 3: rating 'five' is not a number"),
])
def test_malformed_lines_name_file_and_line(tmp_path, line, message):
    folder = tmp_path / "bad"
    write(folder / "bad.inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
          "1\t1\t5\t1\n" + line + "\n")
    with pytest.raises(TearsBenchError, match=message) as error:
        load_dataset(str(folder))
    assert "bad.inter" in str(error.value)


def test_missing_files_and_unknown_names(tmp_path):
    with pytest.raises(TearsBenchError, match="unknown dataset 'nope'"):
        load_dataset("nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TearsBenchError, match="no RecBole .inter file"):
        load_dataset(str(empty))
    with pytest.raises(TearsBenchError, match="u.data, u.item"):
        load_dataset("ml-100k", str(empty))
    partial = tmp_path / "partial"
    write(partial / "ratings.dat", "1::1::5::1\n")
    with pytest.raises(TearsBenchError, match="movies.dat"):
        load_dataset("ml-1m", str(partial))


def test_cli_reports_errors_in_one_line(tmp_path, capsys):
    assert main(["data", "show", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tears-bench: error: unknown dataset") and "Traceback" not in err
    with pytest.raises(TearsBenchError):
        main(["--debug", "data", "show", "nope"])


def test_cli_data_show_json(capsys):
    assert main(["data", "show", "synthetic:users=200,items=300,seed=1", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["users"] == 200 and info["items"] == 300
    assert info["split"]["val"] == info["split"]["test"] == 20
    assert set(info) >= {"users", "items", "interactions", "positives", "genres", "split"}
    assert len(info["split"]["hash"]) == 16


def test_split_is_cached_on_disk(isolated_home):
    first = get_split("synthetic:users=150,items=200")
    files = list((isolated_home / "splits").glob("*.pkl"))
    assert len(files) == 1
    assert get_split("synthetic:users=150,items=200").hash == first.hash


def test_synthetic_has_clear_tastes():
    import numpy as np
    data = load_dataset("synthetic:users=300,items=400,seed=2")
    assert len(data.catalog.ids) == 400 and len(data.user_ids) == 300
    assert all(1 <= len(g) <= 3 for g in data.catalog.genres)
    assert set(np.unique(data.rating)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    big = load_dataset("synthetic:users=300,items=1500,seed=2")
    counts = np.bincount(big.item, minlength=1500)
    assert counts.max() > 10 * np.median(counts)  # long-tailed popularity
    # Each user's best genre is rated well above their worst genre.
    genre_names = sorted({g for gs in data.catalog.genres for g in gs})
    gaps = []
    for u in range(50):
        rows = data.user == u
        means = {g: data.rating[rows][[g in data.catalog.genres[i] for i in data.item[rows]]].mean()
                 for g in genre_names if any(g in data.catalog.genres[i] for i in data.item[rows])}
        gaps.append(max(means.values()) - min(means.values()))
    assert np.median(gaps) > 1.5


class ZipServer(http.server.BaseHTTPRequestHandler):
    payload = b""
    hits = 0

    def do_GET(self):  # noqa: N802
        type(self).hits += 1
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload)

    def log_message(self, *args):
        pass


def test_grouplens_download_verifies_and_caches(tmp_path, monkeypatch):
    source = ml100k_folder(tmp_path)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name in ("u.data", "u.item"):
            bundle.write(source / name, f"ml-100k/{name}")
    ZipServer.payload = buffer.getvalue()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ZipServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("TEARS_BENCH_GROUPLENS_URL", f"http://127.0.0.1:{server.server_port}")
        with pytest.raises(TearsBenchError, match="md5"):
            load_dataset("ml-100k")  # the test zip is not GroupLens' file
        import hashlib
        monkeypatch.setitem(download.GROUPLENS_MD5, "ml-100k", hashlib.md5(ZipServer.payload).hexdigest())
        data = load_dataset("ml-100k")
        assert len(data.user_ids) == 2
        hits = ZipServer.hits
        load_dataset("ml-100k")
        assert ZipServer.hits == hits  # served from the cache folder
    finally:
        server.shutdown()


def test_offline_without_files_says_what_to_put_where(monkeypatch):
    monkeypatch.setenv("TEARS_BENCH_GROUPLENS_URL", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(TearsBenchError, match="put ratings.dat, movies.dat in a folder and pass --data-dir"):
        load_dataset("ml-1m")

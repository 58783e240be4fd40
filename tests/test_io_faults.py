"""Input and output faults: unwritable or full output folders, file modes, non-UTF-8 RecBole files,
bad synthetic parameters and sizes beyond memory. Each is one sentence (exit 2), found before any
work, and loses nothing already cached.

Tests run as root, which ignores permission bits, so read-only and full folders are simulated:
a path under a regular file (NotADirectoryError), or os.open / os.fsync raising EROFS / ENOSPC for
paths inside the folder under test only.
"""
from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest

from tears_bench import cli, storage
from tears_bench.data import parsing, recbole, synthetic
from tears_bench.data.registry import get_split, load_dataset
from tears_bench.errors import TearsBenchError

SMALL = "synthetic:users=300,items=200"


def _fd_path(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


def _fail_inside(monkeypatch, folder: Path, name: str, code: int) -> None:
    """os.<name> raises OSError(code) for paths (or fds of files) inside `folder`, else works."""
    real = getattr(os, name)
    folder = str(Path(folder).resolve())

    def fake(target, *args, **kwargs):
        path = _fd_path(target) if isinstance(target, int) else os.path.abspath(os.fspath(target))
        if path.startswith(folder + os.sep):
            raise OSError(code, os.strerror(code), path)
        return real(target, *args, **kwargs)

    monkeypatch.setattr(os, name, fake)


def _error_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


# ----------------------------------------------------------------------- output folder checks
def test_output_under_a_file_fails_before_any_work(tmp_path, isolated_home, capsys):
    blocker = tmp_path / "results-file"
    blocker.write_text("not a folder")
    rc = cli.main(["run", "--task", "uniqueness", "--dataset", SMALL, "--output", str(blocker / "run")])
    lines = _error_lines(capsys)
    assert rc == 2
    assert lines == [f"tears-bench: error: --output {blocker / 'run'}: {blocker} is a file, not a folder"]
    assert not (isolated_home / "splits").exists()  # nothing was computed


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC, errno.EACCES])
def test_unwritable_output_fails_before_any_work(tmp_path, isolated_home, monkeypatch, capsys, code):
    out = tmp_path / "ro"
    out.mkdir()
    _fail_inside(monkeypatch, out, "open", code)
    rc = cli.main(["run", "--task", "uniqueness", "--dataset", SMALL, "--output", str(out / "run")])
    assert rc == 2
    assert _error_lines(capsys) == [f"tears-bench: error: --output {out / 'run'}: cannot write in {out} "
                                    f"({os.strerror(code)})"]
    assert not (isolated_home / "splits").exists()
    assert list(out.iterdir()) == []  # no folder, no probe file left behind


def test_default_results_folder_is_probed(tmp_path, isolated_home, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").write_text("a file where the results folder should be")
    rc = cli.main(["run", "--task", "uniqueness", "--dataset", SMALL])
    assert rc == 2
    [line] = _error_lines(capsys)
    assert line.startswith("tears-bench: error: results folder results/") and "is a file, not a folder" in line
    assert not (isolated_home / "splits").exists()


@pytest.mark.parametrize("argv", [
    ["train", "--model", "pop", "--dataset", SMALL],
    ["compare", "--summaries", "template,file:x.json", "--dataset", SMALL],
])
def test_train_and_compare_probe_their_output_first(tmp_path, isolated_home, capsys, argv):
    blocker = tmp_path / "f"
    blocker.write_text("")
    assert cli.main(argv + ["--output", str(blocker / "out")]) == 2
    assert _error_lines(capsys) == [f"tears-bench: error: --output {blocker / 'out'}: {blocker} is a file, "
                                    f"not a folder"]
    assert not (isolated_home / "splits").exists()


def test_check_writable_dir_accepts_new_and_existing_folders(tmp_path):
    assert storage.check_writable_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()  # probing creates nothing
    storage.check_writable_dir(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_cache_home_is_one_sentence(tmp_path, monkeypatch):
    blocker = tmp_path / "home-file"
    blocker.write_text("")
    monkeypatch.setenv("TEARS_BENCH_HOME", str(blocker / "cache"))
    with pytest.raises(TearsBenchError) as caught:
        storage.cache_dir("splits")
    assert str(caught.value) == (f"cannot create the cache folder {blocker / 'cache' / 'splits'}: Not a directory "
                                 f"(set TEARS_BENCH_HOME to a writable folder)")


# ----------------------------------------------------------------------------- full disk
def test_atomic_write_on_a_full_disk_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "cache" / "metrics.json"
    storage.atomic_write_json(path, {"ndcg": 0.5})
    _fail_inside(monkeypatch, tmp_path, "fsync", errno.ENOSPC)
    with pytest.raises(storage.WriteError) as caught:
        storage.atomic_write_json(path, {"ndcg": 0.25})
    error = caught.value
    assert str(error) == f"cannot write {path}: No space left on device"
    assert isinstance(error, OSError) and isinstance(error, TearsBenchError) and error.errno == errno.ENOSPC
    assert json.loads(path.read_text()) == {"ndcg": 0.5}  # the old version is intact
    assert sorted(p.name for p in path.parent.iterdir()) == ["metrics.json"]  # no temporary file left


def test_full_disk_while_writing_results_loses_no_cache(tmp_path, isolated_home, monkeypatch, capsys):
    out = tmp_path / "run"
    _fail_inside(monkeypatch, out, "fsync", errno.ENOSPC)
    rc = cli.main(["run", "--task", "uniqueness", "--dataset", SMALL, "--output", str(out)])
    lines = _error_lines(capsys)
    assert rc == 2
    assert len(lines) == 1 and lines[0].startswith(f"tears-bench: error: cannot write {out}/")
    assert lines[0].endswith(": No space left on device")
    assert not [p for p in out.rglob("*") if p.is_file()]  # no half-written or temporary file
    cached = sorted(p.relative_to(isolated_home) for p in isolated_home.rglob("*") if p.is_file())
    assert any(p.parts[0] == "splits" for p in cached) and any(p.parts[0] == "summaries" for p in cached)
    stamps = {p: (isolated_home / p).stat().st_mtime_ns for p in cached}

    monkeypatch.undo()
    monkeypatch.setenv("TEARS_BENCH_HOME", str(isolated_home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert cli.main(["run", "--task", "uniqueness", "--dataset", SMALL, "--output", str(out)]) == 0
    assert json.loads((out / "results.json").read_text())["tasks"]["uniqueness"]
    assert {p: (isolated_home / p).stat().st_mtime_ns for p in cached} == stamps  # reused, not rebuilt


def test_cli_reports_write_errors_from_other_writers_in_one_sentence(monkeypatch, capsys):
    def figure_on_a_full_disk(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/r/figures/.flip.tmp.png")

    monkeypatch.setattr("tears_bench.commands.ls.run", figure_on_a_full_disk)
    assert cli.main(["ls"]) == 2
    assert _error_lines(capsys) == ["tears-bench: error: cannot write /r/figures/.flip.tmp.png: "
                                    "No space left on device"]


# ------------------------------------------------------------------------------ file modes
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        storage.atomic_write_json(tmp_path / "results.json", {"a": 1})
        storage.atomic_pickle(tmp_path / "cache" / "split.pkl", [1, 2])
    finally:
        os.umask(old)
    assert (tmp_path / "results.json").stat().st_mode & 0o777 == mode
    assert (tmp_path / "cache" / "split.pkl").stat().st_mode & 0o777 == mode


# ---------------------------------------------------------------------- non-UTF-8 RecBole
def _recbole_folder(root: Path, item_bytes: bytes) -> Path:
    folder = root / "tiny"
    folder.mkdir()
    rows = ["user_id:token\titem_id:token"]
    rows += [f"{u}\t{i}" for u in range(1, 5) for i in range(1, 5)]
    (folder / "tiny.inter").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (folder / "tiny.item").write_bytes(item_bytes)
    return folder


def test_latin1_item_file_is_read_as_latin1_with_a_warning(tmp_path, capsys):
    header = b"item_id:token\tmovie_title:token_seq\n"
    body = b"1\tCaf\xe9 Society\n2\tAm\xe9lie\n3\tHeat\n4\tAlien\n"  # latin-1 e-acute
    folder = _recbole_folder(tmp_path, header + body)
    data = recbole.load_recbole(folder)
    assert data.catalog.titles == ["Café Society", "Amélie", "Heat", "Alien"]
    offset = len(header) + len(b"1\tCaf")  # the first \xe9, on line 2
    assert capsys.readouterr().err.splitlines() == [
        f"tears-bench: warning: {folder / 'tiny.item'} is not UTF-8 (line 2, byte offset {offset}); "
        f"reading it as latin-1"]


def test_utf8_with_bom_is_read_without_a_warning(tmp_path, capsys):
    folder = _recbole_folder(tmp_path, parsing.UTF8_BOM + "item_id:token\tmovie_title:token_seq\n1\tCafé\n"
                             .encode("utf-8"))
    assert recbole.load_recbole(folder).catalog.titles[0] == "Café"
    assert capsys.readouterr().err == ""


def test_first_non_utf8_across_chunk_boundaries(tmp_path, monkeypatch):
    monkeypatch.setattr(parsing, "_SCAN_CHUNK", 3)  # every multi-byte character straddles a chunk
    path = tmp_path / "f"
    path.write_bytes("ab\néé€\n😀x\n".encode("utf-8"))
    assert parsing.first_non_utf8(path) is None
    path.write_bytes("ab\néé€\n".encode("utf-8") + b"\xff\n")
    assert parsing.first_non_utf8(path) == (len("ab\néé€\n".encode("utf-8")), 3)
    path.write_bytes(b"abc\n\xe2\x82")  # a character cut off by the end of the file
    assert parsing.first_non_utf8(path) == (4, 2)


# ------------------------------------------------------------------- synthetic parameters
@pytest.mark.parametrize("spec, message", [
    ("synthetic:users=0", "users=0 must be an integer of at least 10"),
    ("synthetic:users=-5", "users=-5 must be an integer of at least 10"),
    ("synthetic:users=abc", "users=abc must be an integer of at least 10"),
    ("synthetic:users=2.5", "users=2.5 must be an integer of at least 10"),
    ("synthetic:items=0", "items=0 must be an integer of at least 60"),
    ("synthetic:items=1", "items=1 must be an integer of at least 60"),
    ("synthetic:seed=-1", "seed=-1 must be an integer of at least 0"),
    ("synthetic:mean_ratings=0", "mean_ratings=0 must be a positive number"),
    ("synthetic:mean_ratings=abc", "mean_ratings=abc must be a positive number"),
])
def test_bad_synthetic_parameters(spec, message, isolated_home):
    with pytest.raises(TearsBenchError) as caught:
        get_split(spec)
    assert str(caught.value).startswith(f"dataset {spec!r}: {message}")
    assert not (isolated_home / "splits").exists()


def test_bad_synthetic_parameter_on_the_command_line(tmp_path, isolated_home, capsys):
    rc = cli.main(["run", "--task", "flip", "--dataset", "synthetic:users=0", "--output", str(tmp_path / "r")])
    assert rc == 2
    assert _error_lines(capsys) == ["tears-bench: error: dataset 'synthetic:users=0': users=0 must be an integer "
                                    "of at least 10 (a split needs validation and test users)"]
    assert not (tmp_path / "r").exists() and not (isolated_home / "splits").exists()


def test_smallest_synthetic_sizes_work_and_mean_ratings_takes_decimals():
    data = load_dataset("synthetic:users=10,items=60,mean_ratings=25.5")
    assert len(data.user_ids) == 10 and len(data.catalog) == 60
    counts = np.bincount(data.user, minlength=10)
    assert counts.min() >= 20 and counts.max() <= 60 // 3


def test_synthetic_size_beyond_memory_is_refused_before_allocating(monkeypatch):
    from tears_bench import memory

    monkeypatch.setattr(memory, "available_bytes", lambda: 8 << 30)
    monkeypatch.setattr(synthetic, "_item_genres", lambda *a: pytest.fail("generation started"))
    with pytest.raises(TearsBenchError) as caught:
        load_dataset("synthetic:users=100000000,items=50000")
    # Above 2^25 cells, memory follows the ratings: 64 bytes x 1e8 users x 70 e^0.18 ratings = 499.5 GiB
    assert str(caught.value) == ("the synthetic dataset of 100,000,000 users x 50,000 items would need about "
                                 "499.5 GiB of memory but 8.0 GiB is available; ask for fewer users or items")
    monkeypatch.setattr(memory, "available_bytes", lambda: 1 << 20)
    with pytest.raises(TearsBenchError) as caught:
        load_dataset("synthetic:users=1000,items=1500")
    # Small sizes keep the dense Gumbel sampler: 40 bytes x 1,000 x 1,500 = 57.2 MiB
    assert "1,000 users x 1,500 items would need about 57.2 MiB of memory but 1.0 MiB" in str(caught.value)


def test_memory_require_and_format():
    from tears_bench import memory

    assert memory.format_bytes(512) == "512 B"
    assert memory.format_bytes(3 * 1024 ** 3) == "3.0 GiB"
    memory.require(1, "one byte")  # never refused
    available = memory.available_bytes()
    assert available is None or available > 0

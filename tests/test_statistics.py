"""Never a silent degenerate statistic: uniqueness over the users the sources share (and a minimum
of them), n on every table, thin cells marked and never bold, the one-line skip summary, and the
refusal of a summaries file that covers a small share of the split."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tears_bench.tasks.uniqueness import MIN_SHARED_USERS, run_uniqueness, sample_pairs
from tears_bench.report import run_folder as results
from tears_bench.cli import main
from tears_bench.errors import TearsBenchError
from tears_bench.report.accuracy import controllability_table
from tears_bench.report.flip import flip_tables
from tears_bench.report.runs import Run
from tears_bench.report.table import MIN_CELL_USERS, THIN_MARK, THIN_NOTE, source_label

WORDS = "the user enjoys loves dislikes avoids drama comedy action horror films quiet endings loud chases".split()


def texts(users, salt: int = 0) -> dict[str, str]:
    """A different, deterministic text per user."""
    return {str(u): " ".join(WORDS[(u * 7 + k * (3 + salt)) % len(WORDS)] for k in range(12 + u % 5)) for u in users}


def write(path: Path, mapping: dict) -> str:
    path.write_text(json.dumps(mapping))
    return f"file:{path}"


# --- uniqueness --------------------------------------------------------------------------------


def test_pairs_are_distinct_ordered_pairs_of_distinct_shared_users():
    a = texts(range(0, 40))            # 40 users
    b = texts(range(10, 60), salt=1)   # 50 users, 30 of them shared with a (10..39)
    result, rows = run_uniqueness(sources={"a": a, "b": b}, pairs=2000, seed=3)
    assert result["n_users"] == 30 and result["between_users"]["n_users"] == 30
    # 30 users have 30 * 29 = 870 ordered pairs: all of them, each once, never (u, u).
    pairs = [tuple(r["users"]) for r in rows if r["kind"] == "between"]
    assert result["between_users"]["pairs"] == 870 == len(pairs) == len(set(pairs))
    assert all(x != y for x, y in pairs)
    assert {u for p in pairs for u in p} == {str(u) for u in range(10, 40)}
    assert result["length"]["a"]["n"] == result["length"]["b"]["n"] == 30
    assert result["within_user"]["pairs"] == 30
    assert result["meta"]["users_shared"] == 30 and result["meta"]["pairs_possible"] == 870
    # Fewer pairs asked than possible: that many, still distinct.
    first, second = sample_pairs(100, 500, seed=1)
    assert len(set(zip(first.tolist(), second.tolist()))) == 500 and (first != second).all()


def test_too_few_shared_users_is_refused():
    few = {"a": texts(range(3)), "b": texts(range(3), salt=1)}
    with pytest.raises(TearsBenchError, match=f"at least {MIN_SHARED_USERS} users shared by every source, got 3"):
        run_uniqueness(sources=few, pairs=2000, min_users=MIN_SHARED_USERS)


def test_uniqueness_run_on_files_reads_no_dataset_and_uses_every_shared_user(tmp_path, capsys):
    a = write(tmp_path / "a.json", texts(range(0, 40)))
    b = write(tmp_path / "b.json", texts(range(15, 70), salt=1))
    out = tmp_path / "run"
    # The dataset does not exist: a uniqueness run of summary files must not need it.
    assert main(["run", "--task", "uniqueness", "--summaries", f"{a},{b}", "--dataset", str(tmp_path / "none"),
                 "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    document = json.loads((out / "results.json").read_text())
    unique = document["tasks"]["uniqueness"]
    assert unique["n_users"] == 25 and unique["between_users"]["pairs"] == 25 * 24 == 600
    assert unique["sources"] == ["file:a.json", "file:b.json"]
    assert document["manifest"]["dataset"] is None and document["caveats"] == []
    # Labels are file names, not absolute paths; n is shown, and 25 < 30 users is marked thin.
    table = (out / "tables" / "uniqueness.md").read_text()
    assert str(tmp_path) not in table and str(tmp_path / "a.json") not in printed
    assert "| between users | file:a.json | 25 | 600 |" in table
    assert THIN_MARK in table and THIN_NOTE in table
    assert (out / "figures" / "uniqueness.png").stat().st_size > 10_000


def test_uniqueness_run_with_three_shared_users_fails_and_leaves_no_folder(tmp_path, capsys):
    a = write(tmp_path / "a.json", texts(range(0, 40)))
    b = write(tmp_path / "b.json", texts(range(37, 90), salt=1))  # 3 shared users
    out = tmp_path / "results" / "run"
    assert main(["run", "--task", "uniqueness", "--summaries", f"{a},{b}", "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"uniqueness needs at least {MIN_SHARED_USERS} users shared by every source, got 3" in err
    assert "Traceback" not in err and err.strip().count("\n") == 0
    assert not out.exists()


# --- n, thin cells, bold --------------------------------------------------------------------------


def flip_entry(delta_up: float, n: int) -> dict:
    return {"delta_up": delta_up, "delta_down": delta_up / 2, "delta_up_ci": [delta_up, delta_up],
            "delta_down_ci": [delta_up / 2, delta_up / 2], "flip_ratio": 1.0, "n_users": n}


def test_thin_flip_cells_are_marked_with_n_and_a_footnote():
    result = {"thin-model": {"1.0": flip_entry(0.032, 1)}, "big-model": {"1.0": flip_entry(0.01, 250)},
              "meta": {"skipped": {"editor could not find two genres": 249}}}
    table = flip_tables(result)[0]
    text, markdown = table.text(), table.markdown()
    thin_row = next(line for line in markdown.splitlines() if line.startswith("| thin-model"))
    big_row = next(line for line in markdown.splitlines() if line.startswith("| big-model"))
    assert f"0.0320{THIN_MARK}" in thin_row and f"[0.032, 0.032]{THIN_MARK}" in thin_row
    assert thin_row.endswith("| 1 |") and big_row.endswith("| 250 |")  # n per row
    assert THIN_MARK not in big_row
    assert f"fewer than {MIN_CELL_USERS} users" in text and f"fewer than {MIN_CELL_USERS} users" in markdown
    # CSV keeps plain numbers, with the n column.
    assert "thin-model,1.0,0.032,\"[0.032, 0.032]\",0.016,\"[0.016, 0.016]\",1.0,1" in table.csv()


def test_a_thin_cell_is_never_bold():
    document = {"config": {"summaries": ["template"]}, "manifest": {}, "models": {},
                "tasks": {"flip": {"thin-model": {"1.0": flip_entry(0.5, 1)},
                                   "big-model": {"1.0": flip_entry(0.1, 250)},
                                   "third": {"1.0": flip_entry(0.05, 40)}}}}
    table = controllability_table([Run(Path("r"), document)])
    delta_up = table.columns.index("Δ-up")
    rows = {row[0]: r for r, row in enumerate(table.rows)}
    assert table.rows[rows["thin-model"]][table.columns.index("flip n")] == 1
    best = table.best_cells()
    assert (rows["big-model"], delta_up) in best and (rows["thin-model"], delta_up) not in best
    markdown = table.markdown()
    assert "**0.1000**" in markdown and f"0.5000{THIN_MARK}" in markdown and "**0.5000" not in markdown
    latex = table.latex()
    assert "\\textbf{0.1000}" in latex and "0.5000$^\\dagger$" in latex


def test_a_run_that_skips_most_users_says_why_in_one_line():
    done = {"flip": {"result": {"meta": {"n_test_users": 250, "n_users": 1,
                                         "skipped": {"editor could not find two genres": 249}}}},
            "rank": {"result": {"meta": {"n_test_users": 250, "skipped": {"no summary": 20}}}}}
    assert results.skip_lines(done, "offline") == [
        "flip: 249 of 250 test users skipped: the offline editor found no liked and disliked genre pair in the "
        "summary (it needs summaries that state dislikes)"]


def test_source_labels_are_file_names():
    assert source_label("file:/work/shared/data/summaries/tears-gpt4-ml-1m.json") == "file:tears-gpt4-ml-1m.json"
    assert source_label("template") == "template" and source_label("openai:gpt-4o") == "openai:gpt-4o"


# --- coverage of a summaries file --------------------------------------------------------------------


def test_a_file_covering_few_of_the_split_users_is_refused_unless_allowed(tmp_path, capsys):
    from tears_bench.data import get_split
    from tears_bench.summaries.registry import check_coverage, get_summaries

    dataset = "synthetic:users=300,items=200,seed=2"
    split = get_split(dataset)
    ids = [str(u) for u in split.user_ids.tolist()]
    n = len(ids)
    few = write(tmp_path / "few.json", {u: f"Summary: user {u} enjoys drama." for u in ids[:100]})
    summaries = get_summaries(split, few)
    with pytest.raises(TearsBenchError) as error:
        check_coverage(split, summaries, few)
    message = str(error.value)
    assert f"covers 100 of {n} users" in message and "--allow-partial" in message and "file:few.json" in message
    check_coverage(split, summaries, few, allow_partial=True)
    enough = write(tmp_path / "enough.json", {u: f"Summary: user {u} enjoys drama." for u in ids[: -(-9 * n // 10)]})
    check_coverage(split, get_summaries(split, enough), enough)  # exactly 90%: accepted

    out = tmp_path / "run"
    assert main(["run", "--task", "flip", "--dataset", dataset, "--summaries", few, "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"covers 100 of {n} users" in err and "Traceback" not in err
    assert not out.exists()  # refused before any work: no empty run folder


def test_real_partial_file_is_refused_and_the_authors_file_passes(shared_data):
    from tears_bench.data import get_split
    from tears_bench.summaries.registry import check_coverage, get_summaries

    split = get_split(str(shared_data / "ml-1m-positives"))
    ml100k = f"file:{shared_data / 'summaries' / 'tears-gpt35-ml-100k.json'}"
    with pytest.raises(TearsBenchError, match="covers 940 of 6,034 users of ml-1m-positives"):
        check_coverage(split, get_summaries(split, ml100k), ml100k)
    gpt4 = f"file:{shared_data / 'summaries' / 'tears-gpt4-ml-1m.json'}"
    summaries = get_summaries(split, gpt4)
    assert len(summaries) == 6014
    check_coverage(split, summaries, gpt4)

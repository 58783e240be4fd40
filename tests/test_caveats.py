"""Results on a dataset without timestamps carry the caveat that its held-out targets are a random
sample (so summaries written from the earliest ratings may have seen them): in results.json, the
printed tables, the report and the figures' captions; synthetic data (with timestamps) has none."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tears_bench.report import run_folder as results
from tears_bench.cli import main
from tests.tiny_encoders import build_tiny_encoders


def positives_recbole(folder: Path) -> Path:
    """A positives-only RecBole dataset (no rating, no timestamp) from the synthetic generator."""
    from tears_bench.data import synthetic

    data = synthetic.generate(users=200, items=200, seed=5)
    keep = data.positive
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["user_id:token\titem_id:token"]
    lines += [f"u{u}\t{data.catalog.ids[i]}" for u, i in zip(data.user[keep], data.item[keep])]
    (folder / "tiny-positives.inter").write_text("\n".join(lines) + "\n")
    items = ["item_id:token\tmovie_title:token_seq\tgenre:token_seq"]
    items += [f"{data.catalog.ids[i]}\t{data.catalog.titles[i]}\t{' '.join(g.replace(' ', '-') for g in data.catalog.genres[i])}"
              for i in np.unique(data.item)]
    (folder / "tiny-positives.item").write_text("\n".join(items) + "\n")
    return folder


def dataset_manifest(spec: str) -> dict:
    from tears_bench.data import get_split

    split = get_split(spec)
    return {"name": split.dataset, "stats": split.dataset_stats}


def test_caveat_only_on_data_without_timestamps(tmp_path):
    positives = dataset_manifest(str(positives_recbole(tmp_path / "data")))
    assert positives["stats"]["has_timestamps"] is False
    [caveat] = results.caveats(positives)
    assert caveat.startswith("tiny-positives has no timestamps") and "held-out targets" in caveat
    assert "first 50" in caveat
    synthetic = dataset_manifest("synthetic:users=200,items=200,seed=5")
    assert synthetic["stats"]["has_timestamps"] is True and results.caveats(synthetic) == []
    assert results.caveats(None) == []  # uniqueness of summary files: no dataset, nothing to say


def test_caption_carries_the_caveat_and_the_thin_note():
    import matplotlib.pyplot as plt

    from tears_bench.report.figures import caption
    from tears_bench.report.table import THIN_NOTE

    fig = plt.figure(figsize=(8, 4))
    height = caption(fig, {"meta": {"caveats": ["X has no timestamps."]}}, thin=True)
    shown = " ".join(t.get_text() for t in fig.texts)
    assert 0 < height < 0.5 and THIN_NOTE in shown and "Caveat: X has no timestamps." in shown
    assert caption(plt.figure(), {"meta": {}}, thin=False) == 0.0
    plt.close("all")


def test_a_run_on_positives_only_data_carries_the_caveat_everywhere(tmp_path, capsys, monkeypatch):
    from tears_bench.models.tears_trainer import DEFAULTS

    monkeypatch.setitem(DEFAULTS, "cf_config", {"epochs": 2})
    folder = positives_recbole(tmp_path / "data")
    encoder = build_tiny_encoders(tmp_path / "tiny")["bert"]
    out = tmp_path / "run"
    assert main(["run", "--task", "flip", "--dataset", str(folder), "--encoder", encoder, "--epochs", "1",
                 "--alphas", "0,1", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    document = json.loads((out / "results.json").read_text())
    [caveat] = document["caveats"]
    assert "tiny-positives has no timestamps" in caveat
    assert document["tasks"]["flip"]["meta"]["caveats"] == [caveat]
    assert f"Caveat: {caveat}" in printed
    assert f"Caveat: {caveat}" in (out / "tables" / "flip.md").read_text()

    from tears_bench.report import write_report

    written = write_report([out], output=tmp_path / "report")
    report = written["report"].read_text()
    assert "## Caveats" in report and caveat in report
    # The figures' captions in report.md carry it too.
    assert report.count(caveat) >= 1 + len(written["figures"])
    assert caveat in (tmp_path / "report" / "tables" / "controllability.md").read_text()

"""Real MovieLens data from ../shared/data; skipped when absent."""
import json

import pytest

from tears_bench.cli import main


def test_ml1m_positives(shared_data, capsys):
    assert main(["data", "show", str(shared_data / "ml-1m-positives"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["users"], info["items"], info["positives"]) == (6034, 3459, 575174)
    assert (info["split"]["val"], info["split"]["test"]) == (250, 250)


def test_ml100k_recbole(shared_data, capsys):
    assert main(["data", "show", "ml-100k", "--data-dir", str(shared_data / "ml-100k"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["users"], info["items"], info["interactions"]) == (943, 1682, 100000)
    assert (info["split"]["val"], info["split"]["test"]) == (94, 94)


@pytest.mark.slow
def test_baselines_beat_popularity_on_ml100k(shared_data):
    from tears_bench.models.trainer import get_trained
    from tears_bench.data import get_split

    split = get_split("ml-100k", str(shared_data / "ml-100k"))
    pop = get_trained(split, "pop", verbose=False).metrics["test"]["ndcg@20"]
    for name in ("multvae", "ease"):
        assert get_trained(split, name, verbose=False).metrics["test"]["ndcg@20"] > pop + 0.03


@pytest.mark.slow
def test_flip_runs_end_to_end_on_ml100k(shared_data, tmp_path, tmp_path_factory):
    from tests.tiny_encoders import build_tiny_encoders

    encoder = build_tiny_encoders(tmp_path_factory.mktemp("tiny"))["bert"]
    out = tmp_path / "run"
    assert main(["run", "--task", "flip,uniqueness", "--dataset", "ml-100k", "--data-dir",
                 str(shared_data / "ml-100k"), "--encoder", encoder, "--epochs", "3", "--alphas", "0,1",
                 "--output", str(out)]) == 0
    document = json.loads((out / "results.json").read_text())
    flip = document["tasks"]["flip"]["tears-multvae"]
    assert flip["0.0"]["delta_up"] == 0 and flip["1.0"]["n_users"] > 50
    assert document["manifest"]["dataset"]["split_hash"] == "9566f001ed13998f"

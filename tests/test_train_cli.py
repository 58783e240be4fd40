"""`tears-bench train`: the table, metrics.json, the checkpoint, and reuse of the trained model."""
from __future__ import annotations

import json

import pytest
import torch

import tears_bench.models.trainer as trainer
from tears_bench.cli import main

DATASET = "synthetic:users=300,items=200,seed=2"
SMALL = ["--set", "hidden=64", "--set", "latent=16", "--set", "batch_size=64"]


pytestmark = pytest.mark.usefixtures("one_thread")


def test_train_writes_metrics_and_reuses_the_trained_model(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    argv = ["train", "--model", "multvae", "--dataset", DATASET, "--epochs", "3", "--output", str(out),
            "--device", "cpu", "--quiet", *SMALL]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "ndcg@20" in printed and "recall@50" in printed and "\ntest " in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == "multvae" and metrics["dataset"] == "synthetic"
    assert len(metrics["split"]["hash"]) == 16
    assert set(metrics["test"]) >= {"ndcg@10", "ndcg@20", "ndcg@50", "ndcg@100", "recall@20", "recall@50"}
    assert "ndcg@20" in metrics["val"] and 0 < metrics["test"]["ndcg@20"] <= 1
    assert metrics["training"]["epochs"] == 3 and metrics["cache"]["reused"] is False
    config = json.loads((out / "config.json").read_text())
    assert config["latent"] == 16 and config["epochs"] == 3
    state = torch.load(out / "model.pt", weights_only=True)
    assert state["encoder_out.weight"].shape == (32, 64)

    monkeypatch.setattr(trainer, "train_model", lambda *a, **k: pytest.fail("retrained instead of reusing"))
    assert main(argv) == 0
    again = json.loads((out / "metrics.json").read_text())
    assert again["cache"]["reused"] is True and again["test"] == metrics["test"]
    assert "reusing trained multvae" not in capsys.readouterr().out  # --quiet


def test_closed_form_models_and_bad_input(tmp_path, capsys):
    for model in ("pop", "ease"):
        assert main(["train", "--model", model, "--dataset", DATASET, "--output", str(tmp_path / model)]) == 0
    pop = json.loads((tmp_path / "pop" / "metrics.json").read_text())
    ease = json.loads((tmp_path / "ease" / "metrics.json").read_text())
    assert ease["test"]["ndcg@20"] > pop["test"]["ndcg@20"]
    assert ease["training"]["selected_lambda"] in ease["config"]["lambdas"]
    capsys.readouterr()
    assert main(["train", "--model", "multvae", "--dataset", DATASET, "--set", "width=3"]) == 2
    assert "unknown config key 'width'" in capsys.readouterr().err

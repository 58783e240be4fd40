"""Same inputs, same numbers: results never depend on cache history, global RNG state or interruptions.

Every scenario is compared with one uninterrupted run from an empty cache: the metric blocks must be
bit-identical (==). Interruptions are a KeyboardInterrupt raised right after an epoch's checkpoint is
written (mid-stage) or at a stage boundary; the rerun resumes.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

import tears_bench.models.trainer as trainer
from tears_bench.models.tears_trainer import DEFAULTS, train_tears
from tears_bench.data import get_split
from tests.tiny_encoders import CF_FAST

DATASET = "synthetic:users=200,items=300,seed=4"

pytestmark = pytest.mark.usefixtures("one_thread", "fast_cf")



@pytest.fixture
def fresh_home(tmp_path, monkeypatch):
    """Switch to a new, empty TEARS_BENCH_HOME (a different machine's cache)."""
    counter = iter(range(100))

    def switch():
        home = tmp_path / f"home{next(counter)}"
        monkeypatch.setenv("TEARS_BENCH_HOME", str(home))
        return home
    return switch


def interrupt_after_checkpoint(monkeypatch, n: int, stage: str = ""):
    """Raise KeyboardInterrupt right after the n-th checkpoint written into a model folder whose name
    starts with `stage` (CF folders are bare keys, TEARS ones 'tears-...'); once only."""
    original, seen = trainer._save_checkpoint, []

    def save(path, state):
        original(path, state)
        if path.parent.name.startswith(stage) and not (stage == "" and path.parent.name.startswith("tears-")):
            seen.append(path)
            if len(seen) == n:
                raise KeyboardInterrupt
    monkeypatch.setattr(trainer, "_save_checkpoint", save)


def consume_global_rng():
    torch.manual_seed(12345)
    torch.rand(777)
    np.random.seed(99)
    np.random.rand(55)
    import random
    random.seed(7)


def models_dir():
    from tears_bench.storage import cache_dir
    return cache_dir("models")


# ------------------------------------------------------------------------------------ the CF stage


@pytest.mark.parametrize("name", ["multvae", "recvae"])
def test_cf_training_resumes_from_its_checkpoint_bit_identically(name, fresh_home, monkeypatch):
    config = {"epochs": 4, "patience": 4, "batch_size": 64, "hidden": 32, "latent": 16}
    fresh_home()
    split = get_split(DATASET)
    whole = trainer.get_trained(split, name, config=config, device="cpu", verbose=False)
    assert not (whole.path / trainer.CHECKPOINT_NAME).exists()  # deleted once the model is cached

    fresh_home()
    consume_global_rng()
    interrupt_after_checkpoint(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        trainer.get_trained(split, name, config=config, device="cpu", verbose=False)
    saved = torch.load(models_dir() / whole.key / trainer.CHECKPOINT_NAME, weights_only=True)
    assert saved["epoch"] == 2 and len(saved["history"]) == 2 and not saved["stopped"]
    consume_global_rng()
    resumed = trainer.get_trained(split, name, config=config, device="cpu", verbose=False)
    assert resumed.key == whole.key
    assert resumed.metrics["test"] == whole.metrics["test"] and resumed.metrics["val"] == whole.metrics["val"]
    assert resumed.metrics["training"]["best_epoch"] == whole.metrics["training"]["best_epoch"]
    assert resumed.metrics["training"]["updates"] == whole.metrics["training"]["updates"]
    for (k, a), (_, b) in zip(whole.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), k


def test_cf_training_ignores_the_global_rng(fresh_home):
    split = get_split(DATASET)
    results = []
    for draw in (0, 1000):
        fresh_home()
        torch.manual_seed(draw)
        torch.rand(draw + 1)
        results.append(trainer.get_trained(split, "multvae", config={"epochs": 2, "hidden": 32, "latent": 16},
                                           device="cpu", verbose=False).metrics["test"])
    state = torch.get_rng_state()
    trainer.get_trained(split, "multvae", config={"epochs": 2, "hidden": 32, "latent": 16, "lr": 2e-3},
                        device="cpu", verbose=False)
    assert results[0] == results[1]
    assert torch.equal(state, torch.get_rng_state())  # a stage leaves the caller's RNG alone


# ------------------------------------------------------------------------------------ `run`


def run_config(tiny, out, tasks=("flip",)):
    from tears_bench.harness import RunConfig
    return RunConfig(tasks=list(tasks), dataset=DATASET, encoder=tiny, epochs=3, alphas=[0.0, 0.5, 1.0],
                     limit=20, pairs=100, output=str(out), device="cpu")


def run_blocks(out) -> dict:
    """The numbers of a run: its models' metric blocks and its tasks' results."""
    document = json.loads((out / "results.json").read_text())
    return {"models": document["models"], "tasks": document["tasks"]}


@pytest.fixture
def reference_run(tiny, tmp_path, fresh_home):
    """One uninterrupted `run` (flip, then uniqueness) from an empty cache."""
    from tears_bench.harness import run_benchmark
    fresh_home()
    return run_blocks(run_benchmark(run_config(tiny, tmp_path / "reference", ("flip", "uniqueness"))))


def test_run_does_not_depend_on_cache_history(tiny, tmp_path, fresh_home, monkeypatch, reference_run):
    from tears_bench import harness
    from tears_bench.harness import run_benchmark

    def rerun(name):
        return run_blocks(run_benchmark(run_config(tiny, tmp_path / name, ("flip", "uniqueness"))))

    # (a) the TEARS model removed, the CF model (and embeddings) cached: the case
    for folder in models_dir().glob("tears-*"):
        shutil.rmtree(folder)
    assert rerun("tears-removed") == reference_run

    # (b) a fresh cache, the global RNG consumed differently before the call
    fresh_home()
    consume_global_rng()
    assert rerun("global-rng") == reference_run

    # (c) killed mid-stage: after CF epoch 2, then (rerun) after TEARS epoch 2; each rerun resumes
    fresh_home()
    for stage in ("", "tears-"):
        with monkeypatch.context() as patch:
            interrupt_after_checkpoint(patch, 2, stage)
            with pytest.raises(KeyboardInterrupt):
                rerun("mid-stage")
        assert list(models_dir().glob(f"{stage}*/{trainer.CHECKPOINT_NAME}"))
    assert rerun("mid-stage") == reference_run
    assert not list(models_dir().glob(f"*/{trainer.CHECKPOINT_NAME}"))

    # (d) killed at each stage boundary: after the split, after CF, after TEARS, after the first task
    import tears_bench.models.tears_trainer as tears_trainer
    import tears_bench.summaries.registry as summaries_registry
    fresh_home()
    boundaries = [(summaries_registry, "get_summaries"), (tears_trainer, "_Trainer"), (harness, "run_task")]
    for module, attribute in boundaries:
        with monkeypatch.context() as patch:
            patch.setattr(module, attribute, _raise_keyboard_interrupt)
            with pytest.raises(KeyboardInterrupt):
                rerun("boundaries")
    original_run_task = harness.run_task
    with monkeypatch.context() as patch:
        patch.setattr(harness, "run_task", lambda task, *a: original_run_task(task, *a) if task == "flip"
                      else _raise_keyboard_interrupt())
        with pytest.raises(KeyboardInterrupt):
            rerun("boundaries")
    assert (tmp_path / "boundaries" / "tasks" / "flip.json").is_file()
    assert rerun("boundaries") == reference_run


def _raise_keyboard_interrupt(*args, **kwargs):
    raise KeyboardInterrupt


# ------------------------------------------------------------------------------------ `compare` and `train`


def test_compare_does_not_depend_on_cache_history(tiny, tmp_path, fresh_home, monkeypatch):
    from tears_bench.compare import run_compare
    from tears_bench.harness import RunConfig

    fresh_home()
    source = tmp_path / "plain.json"
    split = get_split(DATASET)
    source.write_text(json.dumps({uid: "summary : the user loves drama movies ." for uid in split.user_ids}))

    def compare(name):
        config = RunConfig(summaries=["template", f"file:{source}"], dataset=DATASET, encoder=tiny, epochs=3,
                           limit=10, pairs=50, device="cpu", output=str(tmp_path / name))
        document = json.loads((run_compare(config) / "results.json").read_text())
        return {spec: {k: v for k, v in s.items() if k != "summarizer"} for spec, s in document["sources"].items()}

    reference = compare("reference")
    for folder in models_dir().glob("tears-*"):  # the CF model cached, TEARS removed
        shutil.rmtree(folder)
    consume_global_rng()
    assert compare("tears-removed") == reference
    fresh_home()
    interrupt_after_checkpoint(monkeypatch, 3, "tears-")  # the first source's TEARS, mid-training
    with pytest.raises(KeyboardInterrupt):
        compare("interrupted")
    monkeypatch.undo()
    monkeypatch.setitem(DEFAULTS, "cf_config", CF_FAST)
    monkeypatch.setenv("TEARS_BENCH_HOME", str(tmp_path / "home1"))
    assert compare("interrupted") == reference


def test_train_does_not_depend_on_cache_history(tiny, tmp_path, fresh_home, monkeypatch):
    from tears_bench.cli import main

    def train(name, code=0):
        out = tmp_path / name
        assert main(["train", "--model", "tears-multvae", "--dataset", DATASET, "--encoder", tiny, "--epochs", "3",
                     "--device", "cpu", "--quiet", "--output", str(out)]) == code
        if code:
            return None
        metrics = json.loads((out / "metrics.json").read_text())
        history = [{k: v for k, v in h.items() if k != "seconds"} for h in metrics["history"]]
        return {k: metrics[k] for k in ("test", "val", "by_alpha", "best_alpha", "baseline")}, history

    fresh_home()
    reference = train("reference")
    for folder in models_dir().glob("tears-*"):
        shutil.rmtree(folder)
    assert train("tears-removed") == reference
    fresh_home()
    consume_global_rng()
    with monkeypatch.context() as patch:
        interrupt_after_checkpoint(patch, 1, "tears-")
        train("interrupted", code=130)  # the CLI's Ctrl-C exit
    assert list(models_dir().glob(f"tears-*/{trainer.CHECKPOINT_NAME}"))
    assert train("interrupted") == reference


# ------------------------------------------------------------------------------------ corrupt cache files


def small_tears(tiny):
    return {"encoder": tiny, "epochs": 3, "patience": 3, "batch_size": 64}


def _truncate(path):
    path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 3)])


def _garbage(path):
    path.write_bytes(b"<html>502 Bad Gateway</html>")


def _wrong_config(path):
    path.write_text('{"hidden": "wide"}')


@pytest.mark.parametrize("tears_file, tears_damage, cf_file, cf_damage", [
    ("model.pt", _truncate, "metrics.json", _garbage), ("metrics.json", _truncate, "config.json", _truncate),
    ("model.pt", _garbage, "model.pt", _truncate), ("metrics.json", _garbage, "config.json", _wrong_config),
])
def test_a_corrupt_cached_model_is_quarantined_and_retrained(tiny, tears_file, tears_damage, cf_file, cf_damage,
                                                             capsys):
    split = get_split(DATASET)
    summaries = {u: "summary : the user loves drama movies ." for u in range(len(split.user_ids))}
    first = train_tears(split, "tears-multvae", summaries, config=small_tears(tiny), device="cpu", verbose=False)
    cf_folder = models_dir() / first.metrics["baseline"]["key"]
    cf_test = json.loads((cf_folder / "metrics.json").read_text())["test"]
    damaged = [first.path / tears_file, cf_folder / cf_file]
    tears_damage(damaged[0])
    cf_damage(damaged[1])
    capsys.readouterr()
    again = train_tears(split, "tears-multvae", summaries, config=small_tears(tiny), device="cpu", verbose=False)
    err = capsys.readouterr().err
    for path in damaged:
        assert f"{path} is corrupt" in err
        assert len(list(path.parent.glob(f"{path.name}.corrupt-*"))) == 1
    # Both retrained, to the same weights: the CF model's key (and so the TEARS key) is unchanged.
    assert not again.from_cache and again.key == first.key
    assert again.metrics["test"] == first.metrics["test"] and again.metrics["by_alpha"] == first.metrics["by_alpha"]
    assert trainer.load_trained(cf_folder, split).metrics["test"] == cf_test
    third = train_tears(split, "tears-multvae", summaries, config=small_tears(tiny), device="cpu", verbose=False)
    assert third.from_cache and third.metrics["test"] == first.metrics["test"]


@pytest.mark.parametrize("damage", [_truncate, _garbage])
def test_a_corrupt_checkpoint_is_quarantined_and_training_restarts(tiny, damage, monkeypatch, capsys):
    split = get_split(DATASET)
    summaries = {u: "summary : the user loves drama movies ." for u in range(len(split.user_ids))}
    with monkeypatch.context() as patch:
        interrupt_after_checkpoint(patch, 2, "tears-")
        with pytest.raises(KeyboardInterrupt):
            train_tears(split, "tears-multvae", summaries, config=small_tears(tiny), device="cpu", verbose=False)
    [checkpoint] = models_dir().glob(f"tears-*/{trainer.CHECKPOINT_NAME}")
    damage(checkpoint)
    capsys.readouterr()
    trained = train_tears(split, "tears-multvae", summaries, config=small_tears(tiny), device="cpu", verbose=False)
    err = capsys.readouterr().err
    assert str(checkpoint) in err and "corrupt" in err
    assert len(trained.metrics["history"]) == 3 and not checkpoint.exists()
    shutil.rmtree(trained.path)
    fresh = train_tears(split, "tears-multvae", summaries, config=small_tears(tiny), device="cpu", verbose=False)
    assert fresh.metrics["by_alpha"] == trained.metrics["by_alpha"]


# ------------------------------------------------------------------------------------ epoch progress


class _Terminal:
    """A stand-in for stderr on a terminal (tqdm's disable=None draws only when isatty())."""

    def __init__(self, tty: bool):
        self.tty, self.text = tty, []

    def isatty(self):
        return self.tty

    def write(self, text):
        self.text.append(text)

    def flush(self):
        pass


@pytest.mark.parametrize("tty, verbose, progress, bar, lines", [
    (True, True, None, True, False),    # a terminal: the bar replaces the per-epoch lines
    (False, True, None, False, True),   # a log file: lines, no bar
    (True, False, None, False, False),  # quiet
    (True, False, True, True, False),   # `run`: quiet but a bar on a terminal
    (False, False, True, False, False),
])
def test_epoch_progress_bar_shows_the_validation_metric_on_a_terminal_only(tty, verbose, progress, bar, lines,
                                                                           monkeypatch, capsys):
    from tears_bench.models.registry import build_model
    split = get_split(DATASET)
    terminal = _Terminal(tty)
    monkeypatch.setattr("sys.stderr", terminal)
    model = build_model("multvae", split.n_items, {"hidden": 16, "latent": 8})
    trainer.fit(model, split, {"epochs": 2, "batch_size": 64}, verbose=verbose, progress=progress, desc="multvae")
    drawn = "".join(terminal.text)
    assert ("multvae" in drawn and "/2 " in drawn and "ndcg@50=0." in drawn and "best=0." in drawn) == bar
    printed = capsys.readouterr().out
    assert (printed.count("epoch ") == 2 and "ndcg@50 0." in printed) == lines
    assert printed.count("epoch ") in (0, 2)

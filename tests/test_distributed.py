"""Training under torchrun (tears_bench.distributed, docs/distributed.md): 2 gloo processes against one.

In this process: how a global batch is shared, the noise drawn for the global batch, and the
weighted share gradients that add up to the global batch's gradient. With 2 processes
(torch.multiprocessing, gloo): metrics gathered as sums, the collectives, an interrupted training
resumed; MultVAE through `torchrun ... tears-bench train`, and TEARS (a frozen encoder, and LoRA)
against one process: validation NDCG within TOLERANCE, the same files in the cache, one table printed.
"""
from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import tears_bench.models.trainer as trainer
from tears_bench import distributed
from tears_bench.errors import TearsBenchError
from tests.tiny_encoders import word_summaries

DATASET = "synthetic:users=300,items=200,seed=3"
# batch_size 45 over the 240 training users: 5 batches shared 23/22 and a last one of 15, shared 8/7.
CF = {"hidden": 64, "latent": 32, "epochs": 5, "patience": 5, "batch_size": 45}
# Two processes against one, on the same global batches: the float sums run in another order (each
# rank sums its rows, then the ranks are added), so weights differ in the last bits (measured: at
# most 1.2e-6 after 5 epochs) and a metric moves only if a near-tie of scores flips.
TOLERANCE = 1e-4
EARLY = {**CF, "lr": 0.03, "epochs": 30, "patience": 2}  # stops early: both ranks must stop together
WEIGHT_TOLERANCE = 1e-5

pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------------------------------------
# In this process


def test_shares_cover_each_batch_once_in_order():
    for world in (1, 2, 3, 4):
        for n in range(0, 9):
            bounds = [distributed.share_bounds(n, r, world) for r in range(world)]
            assert [i for lo, hi in bounds for i in range(lo, hi)] == list(range(n))
            sizes = [hi - lo for lo, hi in bounds]
            assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def _matrices(n_users=7, n_items=12, seed=0):
    rng = np.random.default_rng(seed)
    inputs = sp.random(n_users, n_items, density=0.4, random_state=rng, format="csr", dtype=np.float32)
    inputs.data[:] = rng.integers(1, 6, size=inputs.nnz)
    targets = (sp.random(n_users, n_items, density=0.3, random_state=rng, format="csr") > 0).astype(np.float32)
    return inputs, targets


def test_a_share_draws_its_rows_of_the_global_draw():
    from tears_bench.models.shard_noise import Share, drawing_for, normal_like, uniform_like_values

    torch.manual_seed(3)
    rows, values = torch.randn(5, 4), torch.rand(11)
    for share in (Share(slice(0, 3), 5, slice(0, 7), 11), Share(slice(3, 5), 5, slice(7, 11), 11)):
        torch.manual_seed(3)
        with drawing_for(share):
            mine_rows = normal_like(torch.empty(share.rows.stop - share.rows.start, 4))
            mine_values = uniform_like_values(torch.empty(share.values.stop - share.values.start))
        assert torch.equal(mine_rows, rows[share.rows]) and torch.equal(mine_values, values[share.values])
    torch.manual_seed(3)
    assert torch.equal(normal_like(torch.empty(5, 4)), rows)  # outside a share: torch.randn_like


@pytest.mark.parametrize("name, config", [("multvae", {"hidden": 16, "latent": 8}),
                                          ("macridvae", {"hidden": 16, "dfac": 8})])
@pytest.mark.parametrize("world", [3, 9])  # 9 ranks for 7 rows: two ranks hold no row (weight 0)
def test_weighted_share_gradients_add_up_to_the_global_gradient(name, config, world):
    """What sum_gradients does over ranks, done here rank after rank: each share's mean loss times
    its share of the batch, with noise drawn for the global batch, sums to the global batch's
    gradient (dropout, reparameterisation and MacridVAE's Gumbel sample included)."""
    from tears_bench.models.registry import build_model, resolve_config
    from tears_bench.models.shard_noise import drawing_for

    inputs, targets = _matrices()
    torch.manual_seed(0)
    model = build_model(name, inputs.shape[1], resolve_config(name, config)).train()

    def gradients(batch) -> list[torch.Tensor]:
        torch.manual_seed(11)  # every rank's generator in the same state, as in training
        model.zero_grad(set_to_none=True)
        with drawing_for(batch.noise):
            loss, _ = model.loss(batch.x, batch.target, 0.2)
        (loss * batch.share if batch.noise is not None else loss).backward()
        return [p.grad.clone() for p in model.parameters()]

    [whole] = trainer.batches(inputs, targets, 7, np.random.default_rng(5), "cpu")
    expected = gradients(whole)
    shares = [next(trainer.batches(inputs, targets, 7, np.random.default_rng(5), "cpu", r, world))
              for r in range(world)]
    assert sum(b.share for b in shares) == pytest.approx(1.0)
    assert [r for b in shares if b.share for r in b.rows] == list(whole.rows)
    summed = [sum(parts) for parts in zip(*(gradients(b) for b in shares))]
    for got, want in zip(summed, expected):  # float32 sums in another order: 1e-5 of the largest entry
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * float(want.abs().max()))


def test_one_process_is_left_alone(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not distributed.launched() and distributed.setup("cpu") is None and not distributed.active()
    assert distributed.nanmeans({"x": np.array([1.0, np.nan, 0.0])}) == {"x": 0.5}
    with distributed.main_first():
        distributed.barrier()  # no-ops
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(TearsBenchError, match="RANK is not"):
        distributed.setup("cpu")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    with pytest.raises(TearsBenchError, match="--device cuda:1 under torchrun"):
        distributed.setup("cuda:1")


def test_other_commands_refuse_torchrun(monkeypatch, capsys):
    from tears_bench.cli import main

    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["report", "results"]) == 2
    assert "tears-bench report runs as one process; under torchrun only train and run do" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Two processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, out: Path, function, args) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port), HF_HUB_OFFLINE="1", OMP_WAIT_POLICY="PASSIVE")
    torch.set_num_threads(1)  # two processes on a small machine
    with distributed.session("cpu"):
        result = function(*args)
    (out / f"rank{rank}.pkl").write_bytes(pickle.dumps(result))


def two_processes(out: Path, function, *args) -> list:
    """function(*args) in 2 processes joined by gloo; their results (rank 0's first)."""
    import torch.multiprocessing as mp

    out.mkdir(parents=True, exist_ok=True)
    mp.spawn(_worker, args=(_free_port(), out, function, args), nprocs=2, join=True)
    return [pickle.loads((out / f"rank{r}.pkl").read_bytes()) for r in range(2)]


def cache_files(home: Path) -> list[str]:
    """The files under a cache home; an embedding part's name (time, process id, random) made generic."""
    names = (p.relative_to(home).as_posix() for p in Path(home).rglob("*") if p.is_file())
    return sorted(re.sub(r"part-[^/]+\.npz$", "part-*.npz", n) for n in names)


def _state(module: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((float((a[k].float() - b[k].float()).abs().max()) for k in a), default=0.0)


def _split(home: Path):
    from tears_bench.data.registry import get_split

    os.environ["TEARS_BENCH_HOME"] = str(home)
    with distributed.main_first():  # as the commands do: rank 0 writes the split, rank 1 reads it
        return get_split(DATASET, verbose=False)


def _collectives_and_resume(homes: list[Path]) -> dict:
    from tears_bench.models.evaluate import evaluate
    from tears_bench.models.registry import resolve_config

    rank, out = distributed.rank(), {}
    # Rank 0 holds three users at 1, rank 1 one at 0 and one without targets (NaN).
    values = np.array([1.0, 1.0, 1.0]) if rank == 0 else np.array([0.0, np.nan])
    out["nanmeans"] = distributed.nanmeans({"ndcg@20": values})
    inputs, targets = _matrices(n_users=9)
    # Users 1 and 2 lose their targets: rank 0's share of 5 users keeps 3 with targets, rank 1's 4 of 4.
    targets = sp.csr_matrix(sp.diags([0.0 if u in (1, 2) else 1.0 for u in range(9)]) @ targets)
    targets.eliminate_zeros()
    scores = torch.from_numpy(np.random.default_rng(1).random((9, 12)))
    score_fn = lambda x, rows: scores[rows]  # noqa: E731
    out["shared"] = trainer.evaluate_shared(score_fn, inputs, targets, batch_size=2)
    out["alone"] = evaluate(score_fn, inputs, targets)
    grad, none = torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2))
    grad.grad = torch.full((3,), rank + 1.0)
    distributed.sum_gradients([grad, none])
    out["grad"], out["no_grad"] = grad.grad.tolist(), none.grad
    out["from_main"] = distributed.from_main(10.0 + rank)
    made = []
    out["object"] = distributed.from_main_object(lambda: made.append(rank) or {"made by": rank})
    out["made"] = made
    try:
        distributed.agree(rank, "the rank")
    except TearsBenchError as error:
        out["disagree"] = str(error)

    whole = trainer.get_trained(_split(homes[0]), "multvae", config=CF, device="cpu", verbose=False)
    out["whole"] = {"metrics": whole.metrics, "state": _state(whole.model)}
    in_memory, _ = trainer.train_model(_split(homes[0]), "multvae", resolve_config("multvae", CF), device="cpu",
                                       verbose=False)
    out["in_memory"] = _state(in_memory)  # each rank's own model, not one read from rank 0's files
    early = trainer.get_trained(_split(homes[0]), "multvae", config=EARLY, device="cpu", verbose=False)
    out["early"] = early.metrics["training"]
    out["resume"] = _interrupt_and_resume(_split(homes[1]), homes[2])
    return out


def _interrupt_and_resume(split, copy_to: Path) -> dict:
    """MultVAE stopped by an interruption during epoch 3 (the checkpoint holds epoch 2), then trained
    again: it goes on from the checkpoint. Rank 0 copies the interrupted cache to `copy_to` first."""
    real_evaluate, real_epoch, calls = trainer.evaluate_shared, trainer._train_epoch, {"eval": 0, "epochs": 0}

    def interrupted(*args, **kwargs):
        calls["eval"] += 1
        if calls["eval"] == 3:
            raise KeyboardInterrupt
        return real_evaluate(*args, **kwargs)

    def counted(*args, **kwargs):
        calls["epochs"] += 1
        return real_epoch(*args, **kwargs)

    trainer.evaluate_shared = interrupted
    try:
        trainer.get_trained(split, "multvae", config=CF, device="cpu", verbose=False)
    except KeyboardInterrupt:
        pass
    finally:
        trainer.evaluate_shared = real_evaluate
    from tears_bench.models.model_cache import CHECKPOINT_NAME
    from tears_bench.storage import cache_dir

    [checkpoint] = cache_dir("models").glob(f"*/{CHECKPOINT_NAME}")
    saved_epoch = torch.load(checkpoint, weights_only=True)["epoch"]
    if distributed.is_main():
        shutil.copytree(os.environ["TEARS_BENCH_HOME"], copy_to)
    distributed.barrier()  # copied before the resumed run removes the checkpoint
    trainer._train_epoch = counted
    try:
        resumed = trainer.get_trained(split, "multvae", config=CF, device="cpu", verbose=False)
    finally:
        trainer._train_epoch = real_epoch
    return {"checkpoint_epoch": saved_epoch, "epochs_after": calls["epochs"], "metrics": resumed.metrics,
            "state": _state(resumed.model)}


def test_two_processes_gather_sums_and_train_and_resume_as_one(tmp_path, isolated_home, monkeypatch):
    homes = [tmp_path / "home-whole", tmp_path / "home-resumed", tmp_path / "home-interrupted"]
    rank0, rank1 = two_processes(tmp_path / "out", _collectives_and_resume, homes)

    # Metrics are sums over every rank's users: 3 / 4, not the mean of the ranks' means (1 + 0) / 2.
    assert rank0["nanmeans"] == rank1["nanmeans"] == {"ndcg@20": 0.75}
    for name, value in rank0["alone"].items():
        assert rank0["shared"][name] == pytest.approx(value, abs=1e-12)
        assert rank1["shared"][name] == rank0["shared"][name]
    assert rank0["shared"]["users"] == 7
    assert rank0["grad"] == rank1["grad"] == [3.0, 3.0, 3.0] and rank0["no_grad"] is None
    assert rank0["from_main"] == rank1["from_main"] == 10.0
    assert rank0["object"] == rank1["object"] == {"made by": 0} and rank0["made"] == [0] and rank1["made"] == []
    assert "disagree on the rank" in rank0["disagree"] and "disagree on the rank" in rank1["disagree"]

    # Two processes train what one process trains, and both ranks hold the same model.
    split = _split(isolated_home)
    one = trainer.get_trained(split, "multvae", config=CF, device="cpu", verbose=False)
    two = rank0["whole"]
    difference = abs(two["metrics"]["val"]["ndcg@50"] - one.metrics["val"]["ndcg@50"])
    weights = _max_difference(two["state"], _state(one.model))
    print(f"MultVAE, 2 processes vs 1: |val NDCG@50 difference| {difference:.2e}, "
          f"max |weight difference| {weights:.2e}")
    assert difference <= TOLERANCE, f"val NDCG@50: 2 processes {two['metrics']['val']['ndcg@50']}, 1 process " \
                                    f"{one.metrics['val']['ndcg@50']}, difference {difference:.3e} > {TOLERANCE}"
    assert weights <= WEIGHT_TOLERANCE, f"max weight difference {weights:.3e}"
    assert _max_difference(two["state"], rank1["whole"]["state"]) == 0.0
    assert _max_difference(rank0["in_memory"], rank1["in_memory"]) == 0.0  # the ranks trained one model
    assert _max_difference(rank0["in_memory"], two["state"]) == 0.0
    # Early stopping: the ranks stopped after the same epoch (else one would wait forever), as one process did.
    early = trainer.get_trained(split, "multvae", config=EARLY, device="cpu", verbose=False).metrics["training"]
    print(f"early stopping: 2 processes stopped after epoch {rank0['early']['epochs']} (best "
          f"{rank0['early']['best_epoch']}), 1 process after {early['epochs']} (best {early['best_epoch']})")
    assert rank0["early"]["epochs"] == rank1["early"]["epochs"] == early["epochs"] < EARLY["epochs"]
    assert rank0["early"]["best_epoch"] == early["best_epoch"]
    assert two["metrics"]["training"]["processes"] == 2
    history = [(h["epoch"], h["ndcg@50"], h["loss"]) for h in two["metrics"]["training"]["history"]]
    for (epoch, ndcg, loss), h in zip(history, one.metrics["training"]["history"], strict=True):
        assert epoch == h["epoch"] and abs(ndcg - h["ndcg@50"]) <= TOLERANCE
        assert loss == pytest.approx(h["loss"], rel=1e-5)

    # Interrupted in epoch 3 and restarted: it goes on after epoch 2, to the same weights, bit for bit.
    resumed = rank0["resume"]
    assert resumed["checkpoint_epoch"] == 2 and resumed["epochs_after"] == CF["epochs"] - 2
    assert _max_difference(resumed["state"], two["state"]) == 0.0
    assert resumed["metrics"]["val"] == two["metrics"]["val"]
    # The checkpoint of 2 processes resumed in one process: 3 more epochs, and one process's model.
    monkeypatch.setenv("TEARS_BENCH_HOME", str(homes[2]))
    epochs, real_epoch = [], trainer._train_epoch
    monkeypatch.setattr(trainer, "_train_epoch", lambda *a, **k: epochs.append(1) or real_epoch(*a, **k))
    alone = trainer.get_trained(split, "multvae", config=CF, device="cpu", verbose=False)
    assert len(epochs) == CF["epochs"] - 2 and len(alone.metrics["training"]["history"]) == CF["epochs"]
    assert _max_difference(_state(alone.model), _state(one.model)) <= WEIGHT_TOLERANCE
    assert abs(alone.metrics["val"]["ndcg@50"] - one.metrics["val"]["ndcg@50"]) <= TOLERANCE
    monkeypatch.setattr(trainer, "_train_epoch", real_epoch)

    # Rank 0 alone wrote: each home holds the files of one process's run (the checkpoint is gone).
    files = cache_files(isolated_home)
    assert files == cache_files(homes[0]) and len(files) == 7, files  # the split and two models
    assert cache_files(homes[1]) == [f for f in files if not f.startswith("models/") or f.split("/")[1] in
                                     (two["metrics"]["key"],)], cache_files(homes[1])


# ---------------------------------------------------------------------------------------------
# TEARS under two processes




def tears_runs(encoders: dict) -> dict:
    """tears-multvae on a frozen encoder, and tears-base with LoRA adapters on an encoder without
    dropout (so that no noise is drawn per rank; docs/distributed.md)."""
    return {
        "tears-multvae": {"encoder": encoders["frozen"], "cf_config": CF, "epochs": 3, "patience": 3,
                          "batch_size": 45},
        "tears-base": {"encoder": encoders["lora"], "encoder_mode": "lora", "lora_r": 4, "lora_dropout": 0.0,
                       "epochs": 2, "patience": 2, "batch_size": 45},
    }


def _train_tears_models(home: Path, encoders: dict) -> dict:
    from tears_bench.models.tears_trainer import train_tears

    split = _split(home)
    out = {}
    for name, config in tears_runs(encoders).items():
        trained = train_tears(split, name, word_summaries(split), config=config, device="cpu", verbose=False)
        out[name] = {"metrics": trained.metrics, "state": _state(trained.recommender.net),
                     "encoder": {k: v.detach().clone() for k, v in trained.recommender.encoder.named_parameters()
                                 if v.requires_grad}}
    return out


@pytest.fixture(scope="module")
def encoders(tiny_models, tmp_path_factory) -> dict:
    """The tiny BERT, and a copy of it without dropout for LoRA."""
    bert = Path(tiny_models["bert"].removeprefix("hf:"))
    quiet = tmp_path_factory.mktemp("bert-no-dropout") / "bert"
    shutil.copytree(bert, quiet)
    config = json.loads((quiet / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (quiet / "config.json").write_text(json.dumps(config))
    return {"frozen": tiny_models["bert"], "lora": f"hf:{quiet}"}


def test_tears_trains_in_two_processes_as_in_one(tmp_path, isolated_home, encoders):
    rank0, rank1 = two_processes(tmp_path / "out", _train_tears_models, tmp_path / "home-two", encoders)
    one = _train_tears_models(isolated_home, encoders)
    for name in tears_runs(encoders):
        two, alone = rank0[name], one[name]
        difference = abs(two["metrics"]["val"]["ndcg@50"] - alone["metrics"]["val"]["ndcg@50"])
        weights = max(_max_difference(two["state"], alone["state"]), _max_difference(two["encoder"], alone["encoder"]))
        print(f"{name}, 2 processes vs 1: |val NDCG@50 difference| {difference:.2e}, "
              f"max |weight difference| {weights:.2e}")
        assert difference <= TOLERANCE, f"{name} val NDCG@50: 2 processes {two['metrics']['val']['ndcg@50']}, " \
                                        f"1 process {alone['metrics']['val']['ndcg@50']}, difference {difference:.3e}"
        assert weights <= WEIGHT_TOLERANCE, f"{name}: max weight difference {weights:.3e}"
        assert two["metrics"]["best_alpha"] == alone["metrics"]["best_alpha"]
        for alpha, parts in alone["metrics"]["by_alpha"].items():
            for part in ("val", "test"):
                assert parts[part]["n_users"] == two["metrics"]["by_alpha"][alpha][part]["n_users"]
                assert abs(parts[part]["ndcg@20"] - two["metrics"]["by_alpha"][alpha][part]["ndcg@20"]) <= TOLERANCE
        assert _max_difference(two["state"], rank1[name]["state"]) == 0.0  # ranks hold rank 0's model
        for block in ("val", "test", "by_alpha"):  # rank 1 read what rank 0 wrote
            assert rank1[name]["metrics"][block] == two["metrics"][block]
    assert two["metrics"]["processes"] == 2
    # Rank 0 alone embedded the summaries and wrote: the same files as one process (one embedding part).
    assert cache_files(tmp_path / "home-two") == cache_files(isolated_home)


# ---------------------------------------------------------------------------------------------
# The command line under torchrun


def torchrun(args: list[str], home: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TEARS_BENCH_HOME": str(home), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "tears_bench", *args]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_torchrun_train_matches_one_process_and_prints_once(tmp_path, isolated_home, capsys):
    from tears_bench.cli import main

    options = ["--model", "multvae", "--dataset", DATASET, "--device", "cpu", "--quiet"] + \
        [part for key, value in CF.items() for part in ("--set", f"{key}={value}")]
    done = torchrun(["train", *options, "--output", str(tmp_path / "two")], tmp_path / "home-two", tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("wrote ") == 1 and done.stdout.count("multvae on synthetic") == 1, done.stdout
    assert main(["train", *options, "--output", str(tmp_path / "one")]) == 0
    two, one = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("two", "one"))
    for part in ("val", "test"):
        difference = abs(two[part]["ndcg@50"] - one[part]["ndcg@50"])
        print(f"torchrun train multvae, {part} NDCG@50: 2 processes {two[part]['ndcg@50']:.6f}, "
              f"1 process {one[part]['ndcg@50']:.6f}, difference {difference:.2e}")
        assert difference <= TOLERANCE, f"{part} NDCG@50 difference {difference:.3e}"
    assert two["training"]["processes"] == 2 and "processes" not in one["training"]
    assert two["cache"]["key"] == one["cache"]["key"]  # the same cache entry as one process's
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["config.json", "metrics.json", "model.pt"]
    assert cache_files(tmp_path / "home-two") == cache_files(isolated_home)


@pytest.mark.slow
def test_torchrun_run_trains_together_and_rank_0_runs_the_task(tmp_path, tiny_models):
    """`tears-bench run` under torchrun: one run folder, one table, the model trained by both ranks."""
    args = ["run", "--task", "flip", "--dataset", DATASET, "--models", "tears-multvae", "--encoder",
            tiny_models["bert"], "--epochs", "2", "--alphas", "0,1", "--device", "cpu", "--output",
            str(tmp_path / "run")]
    done = torchrun(args, tmp_path / "home", tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("results: ") == 1 and done.stdout.count("task flip: ") == 1, done.stdout
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["tasks"]["flip"]
    key = results["manifest"]["models"]["tears-multvae"]["key"]
    trained = json.loads((tmp_path / "home" / "models" / f"tears-multvae-{key}" / "metrics.json").read_text())
    assert trained["processes"] == 2


@pytest.mark.slow
def test_torchrun_closed_forms_are_computed_by_rank_0(tmp_path, isolated_home):
    """EASE has no batches to share: rank 0 computes it, rank 1 waits and reads it; one table."""
    from tears_bench.cli import main

    options = ["--model", "ease", "--dataset", DATASET, "--device", "cpu"]
    done = torchrun(["train", *options, "--output", str(tmp_path / "two")], tmp_path / "home-two", tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("ease on synthetic") == 1, done.stdout
    assert main(["train", *options, "--output", str(tmp_path / "one")]) == 0
    two, one = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("two", "one"))
    assert two["val"] == one["val"] and two["test"] == one["test"]
    assert cache_files(tmp_path / "home-two") == cache_files(isolated_home)

"""Training: one loop for every gradient-trained model, and a cache of trained models.

`fit(model, split, config, device)` trains with Adam (or AdamW) on batches of training users
(input: their L2-normalised summary-set ratings; target: all their positives, protocol 2.5),
anneals the KL weight over the whole run (beta = min(beta_cap, updates / total_anneal_steps), passed
to `model.loss(x, target, anneal)`), evaluates `select_metric` (validation NDCG@50) after every
epoch, stops after `patience` epochs without improvement and leaves the model at its best epoch.
A model may define `training_phases()` (RecVAE's alternating encoder/decoder updates): each phase
has its own optimizer over its own parameters, `passes` passes over the data and `before`/`after`
hooks; the others are frozen during it. Other models (TEARS) reuse the loop through `loss_fn`,
`evaluate_fn`, `train_data` and `make_optimizer`.

`get_trained(split, name, config, seed)` returns a trained model from the cache
(cache_dir('models')/<key>/ with model.pt, config.json, metrics.json, written atomically,
metrics.json last) or trains, evaluates (validation and test) and caches one. The key is made of
the dataset, the split hash, the model name, its resolved config and the seed.
"""
from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import scipy.sparse as sp
import torch

from models.evaluate import evaluate, model_score_fn
from models.layers import SparseRows
from models.registry import build_model, get_spec, resolve_config
from tears_bench.data.split import Split, model_input
from tears_bench.errors import TearsBenchError
from tears_bench.storage import atomic_write_bytes, atomic_write_json, cache_dir, stable_hash

MODEL_CACHE_VERSION = 1


@dataclass
class Batch:
    rows: np.ndarray  # positions of the batch's users in the training matrices
    x: SparseRows  # their model input
    target: torch.Tensor  # dense [B, I] binary targets


@dataclass
class FitResult:
    best_score: float
    best_epoch: int
    epochs: int
    history: list[dict]
    train_seconds: float
    eval_seconds: float
    updates: int

    @property
    def seconds_per_epoch(self) -> float:
        return self.train_seconds / max(self.epochs, 1)


@dataclass
class TrainedModel:
    model: torch.nn.Module
    name: str
    config: dict
    seed: int
    metrics: dict
    path: Path
    key: str
    from_cache: bool = False

    def score_fn(self, device=None):
        """A score_fn for models.evaluate.evaluate (inputs: raw rating CSR rows)."""
        tensors = list(self.model.parameters()) + list(self.model.buffers())
        score = model_score_fn(self.model, device or tensors[0].device)
        return lambda x, rows: score(model_input(x), rows)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise TearsBenchError(f"--device {device}: CUDA is not available on this machine")
    return torch.device(device)


def make_adam(params, config: dict) -> torch.optim.Optimizer:
    kind = config.get("optimizer", "adam").lower()
    optimizers = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    if kind not in optimizers:
        raise TearsBenchError(f"unknown optimizer {kind!r}; known: adam, adamw")
    params = list(params)
    # The fused kernel updates each tensor in one pass: several times faster than foreach on CPU.
    fused = all(p.dtype in (torch.float32, torch.float64) and p.device.type in ("cpu", "cuda") for p in params)
    return optimizers[kind](params, lr=config.get("lr", 1e-3), weight_decay=config.get("weight_decay", 0.0),
                            fused=fused or None)


def batches(inputs: sp.csr_matrix, targets: sp.csr_matrix, batch_size: int, rng: np.random.Generator, device):
    order = rng.permutation(inputs.shape[0])
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        yield Batch(rows, SparseRows.from_scipy(inputs[rows], device),
                    torch.from_numpy(targets[rows].toarray()).to(device))


def default_evaluate_fn(split: Split, config: dict, device) -> Callable:
    inputs, targets = model_input(split.val_input), split.val_target
    return lambda model: evaluate(model_score_fn(model, device), inputs, targets,
                                  batch_size=config.get("eval_batch_size"))


def _state_copy(model: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def fit(model: torch.nn.Module, split: Split | None, config: dict, device="cpu", seed: int = 0,
        evaluate_fn: Callable | None = None, loss_fn: Callable | None = None,
        make_optimizer: Callable | None = None, train_data: tuple | None = None,
        verbose: bool = True) -> FitResult:
    """Train `model` in place and leave it at its best epoch (eval mode).

    config: epochs, patience, batch_size, lr, weight_decay, optimizer, beta_cap, total_anneal_steps,
      select_metric (see models.registry.TRAINER_DEFAULTS).
    evaluate_fn(model) -> float or dict holding select_metric (default: validation NDCG@50).
    loss_fn(model, batch, anneal) -> (loss, parts) (default: model.loss(batch.x, batch.target, anneal)).
    make_optimizer(params, config) -> optimizer (default: Adam/AdamW from config).
    train_data: (inputs, targets) CSR (default: the split's training users, inputs L2-normalised).
    """
    device = torch.device(device)
    cfg = {"epochs": 200, "patience": 20, "batch_size": 500, "beta_cap": 0.2, "total_anneal_steps": 2000,
           "select_metric": "ndcg@50", **config}
    inputs, targets = train_data or (model_input(split.train_input), split.train_target)
    evaluate_fn = evaluate_fn or default_evaluate_fn(split, cfg, device)
    loss_fn = loss_fn or (lambda m, b, anneal: m.loss(b.x, b.target, anneal))
    make_optimizer = make_optimizer or make_adam
    rng = np.random.default_rng(seed)
    model.to(device)

    trainable = [p for p in model.parameters() if p.requires_grad]
    phases = model.training_phases() if hasattr(model, "training_phases") else [dict(name="all", params=trainable)]
    optimizers = [make_optimizer(phase["params"], cfg) for phase in phases]
    best_score, best_epoch, best_state, history = -np.inf, 0, _state_copy(model), []
    updates, train_seconds, eval_seconds, epoch = 0, 0.0, 0.0, 0

    for epoch in range(1, int(cfg["epochs"]) + 1):
        started = time.perf_counter()
        model.train()
        sums: dict[str, float] = {}
        n_batches = 0
        for phase, optimizer in zip(phases, optimizers):
            active = {id(p) for p in phase["params"]}
            for p in trainable:
                p.requires_grad_(id(p) in active)
            if phase.get("before"):
                phase["before"]()
            for _ in range(phase.get("passes", 1)):
                for batch in batches(inputs, targets, int(cfg["batch_size"]), rng, device):
                    total = cfg["total_anneal_steps"]
                    anneal = min(cfg["beta_cap"], updates / total) if total else cfg["beta_cap"]
                    loss, parts = loss_fn(model, batch, anneal)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    updates += 1
                    n_batches += 1
                    for name, value in {f"{phase['name']}_loss" if len(phases) > 1 else "loss": loss, **parts}.items():
                        sums[name] = sums.get(name, 0.0) + float(value.detach() if torch.is_tensor(value) else value)
            if phase.get("after"):
                phase["after"]()
        for p in trainable:
            p.requires_grad_(True)
        epoch_seconds = time.perf_counter() - started
        train_seconds += epoch_seconds

        started = time.perf_counter()
        model.eval()
        with torch.no_grad():
            result = evaluate_fn(model)
        score = float(result[cfg["select_metric"]] if isinstance(result, dict) else result)
        eval_seconds += time.perf_counter() - started
        improved = score > best_score
        if improved:
            best_score, best_epoch, best_state = score, epoch, _state_copy(model)
        record = {"epoch": epoch, **{k: v / max(n_batches, 1) for k, v in sums.items()},
                  cfg["select_metric"]: score, "seconds": round(epoch_seconds, 3)}
        history.append(record)
        if verbose:
            parts = "  ".join(f"{k} {v:.4g}" for k, v in record.items() if k not in ("epoch", "seconds"))
            print(f"epoch {epoch:3d}  {parts}  {epoch_seconds:.2f}s{'  *' if improved else ''}", flush=True)
        if epoch - best_epoch >= int(cfg["patience"]):
            break

    model.load_state_dict(best_state)
    model.eval()
    return FitResult(float(best_score), best_epoch, epoch, history, train_seconds, eval_seconds, updates)


# ---------------------------------------------------------------------------------------------
# The cache of trained models


def cache_key(split: Split, name: str, config: dict, seed: int) -> str:
    return stable_hash({"model": name, "dataset": split.dataset, "split": split.hash, "config": config,
                        "seed": seed, "version": MODEL_CACHE_VERSION})


def evaluate_model(model: torch.nn.Module, split: Split, part: str, device, batch_size: int | None = None) -> dict:
    """Full metrics of a trained model on 'val' or 'test'."""
    _, inputs, targets = split.part(part)
    model.eval()
    return evaluate(model_score_fn(model, device), model_input(inputs), targets, batch_size=batch_size)


def train_model(split: Split, name: str, config: dict, seed: int = 0, device="cpu",
                verbose: bool = True) -> tuple[torch.nn.Module, dict]:
    """A freshly trained model of `name` and a summary of its training."""
    spec = get_spec(name)
    torch.manual_seed(seed)
    np.random.seed(seed)
    model = build_model(name, split.n_items, config).to(device)
    started = time.perf_counter()
    if spec.fit == "closed_form":
        curve = model.fit(split.train_target, model_input(split.val_input), split.val_target,
                          evaluate_fn=lambda f, x, y: evaluate(f, x, y))
        model.to(device)
        info = {"fit_seconds": round(time.perf_counter() - started, 3)}
        if curve:
            info["validation_curve"] = {str(k): v for k, v in curve.items()}
            info["selected_lambda"] = float(model.lam)
        return model.eval(), info
    result = fit(model, split, config, device=device, seed=seed, verbose=verbose)
    return model, {"best_epoch": result.best_epoch, "epochs": result.epochs, "updates": result.updates,
                   f"best_val_{config['select_metric']}": result.best_score,
                   "train_seconds": round(result.train_seconds, 3),
                   "seconds_per_epoch": round(result.seconds_per_epoch, 3),
                   "eval_seconds": round(result.eval_seconds, 3), "history": result.history}


def _save_state(path: Path, model: torch.nn.Module) -> None:
    buffer = io.BytesIO()
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_trained(path: Path, split: Split, device="cpu") -> TrainedModel | None:
    """The cached model in `path`, or None when the entry is missing or incomplete."""
    path = Path(path)
    try:
        metrics = json.loads((path / "metrics.json").read_text())
        config = json.loads((path / "config.json").read_text())
        state = torch.load(path / "model.pt", map_location=device, weights_only=True)
    except (OSError, ValueError, RuntimeError, EOFError):
        return None
    model = build_model(metrics["model"], split.n_items, config).to(device)
    model.load_state_dict(state)
    return TrainedModel(model.eval(), metrics["model"], config, metrics["seed"], metrics, path, path.name, True)


def get_trained(split: Split, name: str, config: dict | None = None, seed: int = 0, device="auto",
                epochs: int | None = None, verbose: bool = True) -> TrainedModel:
    """The trained model `name` on `split`: from the cache when this exact training was done before,
    else trained, evaluated on validation and test, and cached."""
    overrides = dict(config or {})
    if epochs is not None and "epochs" in get_spec(name).defaults:  # closed-form models have no epochs
        overrides["epochs"] = int(epochs)
    config = resolve_config(name, overrides)
    device = resolve_device(device)
    key = cache_key(split, name, config, seed)
    path = cache_dir("models") / key
    cached = load_trained(path, split, device)
    if cached is not None:
        if verbose:
            print(f"reusing trained {name} from {path}", flush=True)
        return cached

    model, training = train_model(split, name, config, seed=seed, device=device, verbose=verbose)
    started = time.perf_counter()
    val, test = evaluate_model(model, split, "val", device), evaluate_model(model, split, "test", device)
    training["final_eval_seconds"] = round(time.perf_counter() - started, 3)
    metrics = {"model": name, "dataset": split.dataset, "split": split.sizes(), "seed": seed, "config": config,
               "device": str(device), "torch": torch.__version__, "val": val, "test": test, "training": training,
               "key": key}
    _save_state(path / "model.pt", model)
    atomic_write_json(path / "config.json", config)
    atomic_write_json(path / "metrics.json", metrics)
    return TrainedModel(model, name, config, seed, metrics, path, key, False)

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
(cache_dir('models')/<key>/, in the folder layout of models.model_cache, shared with TEARS) or
trains, evaluates (validation and test) and caches one. The key is made of the dataset, the split
hash, the model name, its resolved config and the seed.

Reproducibility: a stage (building and training one model) draws its random numbers from a seed
derived from its own cache key (`seeded(key)`), inside `torch.random.fork_rng`, so its result never
depends on what ran before it in the process or on which earlier stages came from the cache.
`fit(..., checkpoint=PATH)` saves the training state after every epoch (atomically) and resumes from
it: an interrupted training, rerun, ends with the same weights, bit for bit, as an uninterrupted one.

Under torchrun (tears_bench.distributed, docs/distributed.md) every rank draws the same global batches
and trains on its contiguous share of each; its loss is weighted by its share of the batch and the
gradients are summed over ranks, so each update is the single-process update of the global batch.
Noise is drawn for the global batch (models.shard_noise). Validation and test metrics are sums over
the ranks' users. Rank 0 alone reads a checkpoint first (and quarantines a bad one), writes
checkpoints and the cache entry; the others read them after it.
"""
from __future__ import annotations

import io
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import scipy.sparse as sp
import torch

from tears_bench import distributed as dist
from tears_bench.device import resolve_device
from tears_bench.models.evaluate import evaluate, model_score_fn
from tears_bench.models.layers import SparseRows
from tears_bench.models.model_cache import CHECKPOINT_NAME, read_json, read_tensors, write_entry
from tears_bench.models.registry import build_model, get_spec, resolve_config
from tears_bench.models.shard_noise import Share, drawing_for
from tears_bench.data.split import Split, model_input
from tears_bench.errors import TearsBenchError
from tears_bench.storage import atomic_write_bytes, cache_dir, quarantine, stable_hash

# 2: every stage seeded from its own key (models trained under version 1 depended on the process's history).
MODEL_CACHE_VERSION = 2
CHECKPOINT_VERSION = 1


@dataclass
class Batch:
    rows: np.ndarray  # positions of the batch's users in the training matrices
    x: SparseRows  # their model input
    target: torch.Tensor  # dense [B, I] binary targets
    share: float = 1.0  # this rank's rows / the global batch's rows (1 for one process)
    noise: Share | None = None  # where this rank's rows sit in the global batch (None: one process)


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


def batches(inputs: sp.csr_matrix, targets: sp.csr_matrix, batch_size: int, rng: np.random.Generator, device,
            rank: int = 0, world: int = 1):
    """The global batches of one pass (a permutation from `rng`), or, with world > 1, rank `rank`'s
    contiguous share of each: every rank draws the same permutation, so the shares add up to the
    single-process batches."""
    order = rng.permutation(inputs.shape[0])
    stored = np.diff(inputs.indptr)
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        if world == 1:
            yield Batch(rows, SparseRows.from_scipy(inputs[rows], device),
                        torch.from_numpy(targets[rows].toarray()).to(device))
        else:
            yield _share_of(rows, stored, rank, world, inputs, targets, device)


def _share_of(rows, stored, rank, world, inputs, targets, device) -> Batch:
    lo, hi = dist.share_bounds(len(rows), rank, world)
    # A global batch smaller than the number of ranks leaves some ranks without rows; such a rank
    # still takes part in the gradient sum, with the batch's first row at weight 0.
    share = (hi - lo) / len(rows)
    if hi == lo:
        lo, hi = 0, 1
    offsets = np.concatenate([[0], np.cumsum(stored[rows])])
    noise = Share(slice(lo, hi), len(rows), slice(int(offsets[lo]), int(offsets[hi])), int(offsets[-1]))
    mine = rows[lo:hi]
    return Batch(mine, SparseRows.from_scipy(inputs[mine], device),
                 torch.from_numpy(targets[mine].toarray()).to(device), share, noise)


def default_evaluate_fn(split: Split, config: dict, device) -> Callable:
    inputs, targets = model_input(split.val_input), split.val_target
    return lambda model: evaluate_shared(model_score_fn(model, device), inputs, targets,
                                         batch_size=config.get("eval_batch_size"))


def evaluate_shared(score_fn, inputs, targets, batch_size: int | None = None) -> dict:
    """models.evaluate.evaluate over all users; under torchrun each rank scores its share of them and
    the means are sums over every rank's users divided by their count (one process: `evaluate`)."""
    if not dist.active():
        return evaluate(score_fn, inputs, targets, batch_size=batch_size)
    mine = evaluate(score_fn, inputs, targets, batch_size=batch_size, users_mask=dist.my_rows(inputs.shape[0]),
                    per_user=True)
    result = dist.nanmeans(mine["per_user"])
    result["users"] = int(dist.sum_over_ranks([mine["users"]])[0])
    return result


def stage_seed(key: str) -> int:
    """A 63-bit seed drawn from a stage's cache key (any string naming everything the stage depends on)."""
    return int(stable_hash({"stage-seed": key}), 16) & (2 ** 63 - 1)


@contextmanager
def seeded(key: str, device="cpu"):
    """Run a stage on torch's RNG seeded from `key`; the global RNG state around it is left untouched.

    Yields the stage's seed (for its own numpy Generator)."""
    device = torch.device(device)
    devices = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []
    seed = stage_seed(key)
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield seed


def _persisted_keys(model: torch.nn.Module) -> set[str] | None:
    """The state_dict keys that training can change (None: all); a model that holds large frozen
    parts (TEARS and its text encoder) names them with `checkpoint_keys()`."""
    return set(model.checkpoint_keys()) if hasattr(model, "checkpoint_keys") else None


def _state_copy(model: torch.nn.Module, keys: set[str] | None = None) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items() if keys is None or k in keys}


def _rng_state(rng: np.random.Generator, device: torch.device) -> dict:
    return {"torch": torch.get_rng_state(), "numpy": rng.bit_generator.state,
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def _set_rng_state(rng: np.random.Generator, state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    rng.bit_generator.state = state["numpy"]
    if device.type == "cuda" and state["cuda"] is not None:
        torch.cuda.set_rng_state(state["cuda"], device)


def _save_checkpoint(path: Path, state: dict) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def _read_checkpoint(path: Path, model: torch.nn.Module, keys: set[str] | None, signature: str) -> dict | None:
    """The checkpoint at `path` if it is whole and belongs to this training, else None (a corrupt or
    foreign one is quarantined: training then starts from scratch)."""
    if path is None or not Path(path).is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
            raise ValueError("not a checkpoint of this version")
        if state.get("signature") != signature:
            raise ValueError("written by a different training configuration")
        expected = {k: v.shape for k, v in model.state_dict().items() if keys is None or k in keys}
        for part in ("model", "best_state"):
            shapes = {k: v.shape for k, v in state[part].items()}
            if shapes != expected:
                raise ValueError(f"its {part} does not match the model's parameters")
        for name in ("epoch", "best_score", "best_epoch", "history", "updates", "optimizers", "rng", "stopped"):
            state[name]  # noqa: B018 -- a missing field is a truncated or foreign file
    except Exception as error:  # torch.load raises many kinds on garbage; none may stop a rerun
        quarantine(path, f"unreadable training checkpoint: {type(error).__name__}: {error}"[:300])
        return None
    return state


def _restore(state: dict, model, optimizers, rng, device) -> bool:
    """Apply a checkpoint; on any mismatch leave model and optimizers as they were and say False."""
    initial = _state_copy(model)
    initial_opt = [o.state_dict() for o in optimizers]
    try:
        model.load_state_dict({k: v.to(device) for k, v in state["model"].items()}, strict=False)
        if len(state["optimizers"]) != len(optimizers):
            raise ValueError("optimizer count differs")
        for optimizer, saved in zip(optimizers, state["optimizers"]):
            optimizer.load_state_dict(saved)
        _set_rng_state(rng, state["rng"], device)
    except Exception:
        model.load_state_dict(initial)
        for optimizer, saved in zip(optimizers, initial_opt):
            optimizer.load_state_dict(saved)
        return False
    return True


def _progress_bar(total: int, initial: int, desc: str, show: bool):
    from tqdm import tqdm

    # disable=None: tqdm turns itself off when stderr is not a terminal (logs, pipes, CI).
    return tqdm(total=total, initial=initial, desc=desc, unit="epoch", file=sys.stderr, leave=False,
                disable=None if show else True, dynamic_ncols=True)


def fit(model: torch.nn.Module, split: Split | None, config: dict, device="cpu", seed: int = 0,
        evaluate_fn: Callable | None = None, loss_fn: Callable | None = None,
        make_optimizer: Callable | None = None, train_data: tuple | None = None,
        verbose: bool = True, checkpoint: Path | None = None, progress: bool | None = None,
        desc: str = "training") -> FitResult:
    """Train `model` in place and leave it at its best epoch (eval mode).

    config: epochs, patience, batch_size, lr, weight_decay, optimizer, beta_cap, total_anneal_steps,
      select_metric (see models.registry.TRAINER_DEFAULTS).
    evaluate_fn(model) -> float or dict holding select_metric (default: validation NDCG@50).
    loss_fn(model, batch, anneal) -> (loss, parts) (default: model.loss(batch.x, batch.target, anneal)).
    make_optimizer(params, config) -> optimizer (default: Adam/AdamW from config).
    train_data: (inputs, targets) CSR (default: the split's training users, inputs L2-normalised).
    seed: of the batch order; dropout and sampling use torch's RNG (see `seeded`).
    checkpoint: a file for the state after each epoch; training resumes from it when it exists.
    progress: a bar over epochs on a terminal (default: when verbose); verbose without a bar prints
      a line per epoch.
    """
    device = torch.device(device)
    verbose = verbose and dist.is_main()  # one process prints: rank 0
    progress = progress and dist.is_main() if progress is not None else None
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
    keys = _persisted_keys(model)
    signature = stable_hash({"config": {k: v for k, v in cfg.items() if k != "eval_batch_size"}, "seed": seed,
                             "rows": inputs.shape, "phases": [p["name"] for p in phases]})
    best_score, best_epoch, best_state, history = -np.inf, 0, _state_copy(model, keys), []
    updates, train_seconds, eval_seconds, epoch, stopped = 0, 0.0, 0.0, 0, False
    with dist.main_first():  # rank 0 may quarantine a bad checkpoint before the others look
        saved = _read_checkpoint(checkpoint, model, keys, signature)
        restored = saved is not None and _restore(saved, model, optimizers, rng, device)
        if saved is not None and not restored and checkpoint is not None and dist.is_main():
            quarantine(checkpoint, "its state does not fit this model or its optimizers")
    if restored:
        epoch, best_score, best_epoch = int(saved["epoch"]), float(saved["best_score"]), int(saved["best_epoch"])
        best_state, history, updates = saved["best_state"], list(saved["history"]), int(saved["updates"])
        train_seconds, eval_seconds, stopped = saved["train_seconds"], saved["eval_seconds"], bool(saved["stopped"])
        if verbose:
            print(f"{desc}: resuming after epoch {epoch} from {checkpoint}", flush=True)
    dist.agree(epoch, f"the epoch {desc} resumes after")
    # As DDP does: every rank starts from rank 0's weights (they agree already when seeded alike).
    dist.broadcast_tensors(p for p in model.parameters() if p.requires_grad)

    bar = _progress_bar(int(cfg["epochs"]), epoch, desc, verbose if progress is None else progress)
    lines = verbose and bar.disable  # a bar on a terminal replaces the per-epoch lines
    try:
        while not stopped and epoch < int(cfg["epochs"]):
            epoch += 1
            epoch_seconds, n_batches, sums = _train_epoch(model, phases, optimizers, trainable, loss_fn, inputs,
                                                          targets, cfg, rng, device, updates)
            updates += n_batches
            train_seconds += epoch_seconds
            started = time.perf_counter()
            model.eval()
            with torch.no_grad():
                result = evaluate_fn(model)
            score = float(result[cfg["select_metric"]] if isinstance(result, dict) else result)
            # Gathered over ranks already; rank 0's value, bit for bit, makes every rank stop together.
            score = dist.from_main(score)
            eval_seconds += time.perf_counter() - started
            improved = score > best_score
            if improved:
                best_score, best_epoch, best_state = score, epoch, _state_copy(model, keys)
            record = {"epoch": epoch, **{k: v / max(n_batches, 1) for k, v in sums.items()},
                      cfg["select_metric"]: score, "seconds": round(epoch_seconds, 3)}
            history.append(record)
            stopped = epoch - best_epoch >= int(cfg["patience"]) or epoch >= int(cfg["epochs"])
            if checkpoint is not None and dist.is_main():
                _save_checkpoint(checkpoint, {
                    "version": CHECKPOINT_VERSION, "signature": signature, "epoch": epoch, "stopped": stopped,
                    "model": {k: v.cpu() for k, v in _state_copy(model, keys).items()},
                    "optimizers": [o.state_dict() for o in optimizers], "rng": _rng_state(rng, device),
                    "best_score": best_score, "best_epoch": best_epoch,
                    "best_state": {k: v.cpu() for k, v in best_state.items()}, "history": history,
                    "updates": updates, "train_seconds": train_seconds, "eval_seconds": eval_seconds})
            bar.set_postfix({cfg["select_metric"]: f"{score:.4f}", "best": f"{best_score:.4f}@{best_epoch}"})
            bar.update(1)
            if lines:
                parts = "  ".join(f"{k} {v:.4g}" for k, v in record.items() if k not in ("epoch", "seconds"))
                print(f"epoch {epoch:3d}  {parts}  {epoch_seconds:.2f}s{'  *' if improved else ''}", flush=True)
    finally:
        bar.close()

    model.load_state_dict({k: v.to(device) for k, v in best_state.items()}, strict=keys is None)
    model.eval()
    return FitResult(float(best_score), best_epoch, epoch, history, train_seconds, eval_seconds, updates)


def _train_epoch(model, phases, optimizers, trainable, loss_fn, inputs, targets, cfg, rng, device,
                 updates: int) -> tuple[float, int, dict]:
    """One epoch over every phase; returns its seconds, its number of updates and the summed losses."""
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
            for batch in batches(inputs, targets, int(cfg["batch_size"]), rng, device, dist.rank(), dist.world_size()):
                total = cfg["total_anneal_steps"]
                anneal = min(cfg["beta_cap"], (updates + n_batches) / total) if total else cfg["beta_cap"]
                with drawing_for(batch.noise):
                    loss, parts = loss_fn(model, batch, anneal)
                if batch.noise is not None:
                    # The loss is a mean over this rank's rows: weighted by the rank's share of the
                    # batch, the gradients summed over ranks are those of the global batch's mean.
                    loss = loss * batch.share
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                dist.sum_gradients(phase["params"])
                optimizer.step()
                n_batches += 1
                for name, value in {f"{phase['name']}_loss" if len(phases) > 1 else "loss": loss, **parts}.items():
                    value = float(value.detach() if torch.is_tensor(value) else value)
                    sums[name] = sums.get(name, 0.0) + (value * batch.share if name in parts else value)
        if phase.get("after"):
            phase["after"]()
    for p in trainable:
        p.requires_grad_(True)
    if dist.active():  # each rank holds its share's weighted losses: their sum is the global batch's
        sums = dict(zip(sums, dist.sum_over_ranks(sums.values()).tolist()))
    return time.perf_counter() - started, n_batches, sums


# ---------------------------------------------------------------------------------------------
# The cache of trained models


def cache_key(split: Split, name: str, config: dict, seed: int) -> str:
    return stable_hash({"model": name, "dataset": split.dataset, "split": split.hash, "config": config,
                        "seed": seed, "version": MODEL_CACHE_VERSION})


def evaluate_model(model: torch.nn.Module, split: Split, part: str, device, batch_size: int | None = None,
                   shared: bool = True) -> dict:
    """Full metrics of a trained model on 'val' or 'test'. Under torchrun, `shared`: every rank
    scores its share of the users and the metrics are gathered as sums (every rank must call it);
    not shared: this process scores every user alone."""
    _, inputs, targets = split.part(part)
    model.eval()
    score_fn, inputs = model_score_fn(model, device), model_input(inputs)
    if not shared:
        return evaluate(score_fn, inputs, targets, batch_size=batch_size)
    return evaluate_shared(score_fn, inputs, targets, batch_size=batch_size)


def train_model(split: Split, name: str, config: dict, seed: int = 0, device="cpu",
                verbose: bool = True, checkpoint: Path | None = None,
                progress: bool | None = None) -> tuple[torch.nn.Module, dict]:
    """A freshly trained model of `name` and a summary of its training (random numbers drawn from
    its cache key alone; resumed from `checkpoint` when that file holds an interrupted training)."""
    with seeded(cache_key(split, name, config, seed), device) as stage_seed_:
        return _train_model(split, name, config, stage_seed_, device, verbose, checkpoint, progress)


def _train_model(split, name, config, seed, device, verbose, checkpoint, progress):
    spec = get_spec(name)
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
    result = fit(model, split, config, device=device, seed=seed, verbose=verbose, checkpoint=checkpoint,
                 progress=progress, desc=name)
    return model, {"best_epoch": result.best_epoch, "epochs": result.epochs, "updates": result.updates,
                   f"best_val_{config['select_metric']}": result.best_score,
                   "train_seconds": round(result.train_seconds, 3),
                   "seconds_per_epoch": round(result.seconds_per_epoch, 3),
                   "eval_seconds": round(result.eval_seconds, 3), "history": result.history}


def load_trained(path: Path, split: Split, device="cpu") -> TrainedModel | None:
    """The cached model in `path`, or None when the entry is missing, incomplete or corrupt (a corrupt
    file is quarantined, so the model is trained again)."""
    path = Path(path)
    files = [path / "metrics.json", path / "config.json", path / "model.pt"]
    if not all(f.is_file() for f in files):
        return None  # never finished: metrics.json is written last
    metrics = read_json(files[0], "unreadable model metrics")
    if metrics is not None and not isinstance(metrics.get("model"), str):
        quarantine(files[0], "model metrics without a model name")
        metrics = None
    config = read_json(files[1], "unreadable model config") if metrics is not None else None
    if metrics is None or config is None:
        return None
    try:
        model = build_model(metrics["model"], split.n_items, config).to(device)
    except Exception as error:  # a config that does not build the model it names
        quarantine(files[1], f"does not build a {metrics['model']}: {type(error).__name__}: {error}"[:300])
        return None
    if read_tensors(files[2], device, "unreadable model weights", use=model.load_state_dict) is None:
        return None
    return TrainedModel(model.eval(), metrics["model"], config, metrics.get("seed", 0), metrics, path, path.name,
                        True)


def get_trained(split: Split, name: str, config: dict | None = None, seed: int = 0, device="auto",
                epochs: int | None = None, verbose: bool = True, progress: bool | None = None) -> TrainedModel:
    """The trained model `name` on `split`: from the cache when this exact training was done before,
    else trained (resuming an interrupted training from its checkpoint), evaluated on validation and
    test, and cached."""
    dist.check_joined()
    overrides = dict(config or {})
    if epochs is not None and "epochs" in get_spec(name).defaults:  # closed-form models have no epochs
        overrides["epochs"] = int(epochs)
    config = resolve_config(name, overrides)
    device = resolve_device(device)
    key = cache_key(split, name, config, seed)
    path = cache_dir("models") / key
    verbose = verbose and dist.is_main()
    if dist.active() and get_spec(name).fit == "closed_form":
        # A closed form has no batches to share: rank 0 computes it (or loads it), the others read it.
        with dist.main_first():
            if dist.is_main():
                return _cached(path, split, device, name, verbose) or \
                    _train_and_write(split, name, config, seed, device, key, path, verbose, progress, shared=False)
        return _written_by_main(path, split, device, name)
    with dist.main_first():  # rank 0 quarantines a corrupt entry before the others look
        cached = _cached(path, split, device, name, verbose)
    dist.agree(cached is not None, f"whether {name} is cached in {path}")
    if cached is not None:
        return cached
    trained = _train_and_write(split, name, config, seed, device, key, path, verbose, progress)
    dist.barrier()  # rank 0 has written the entry
    return trained if dist.is_main() else _written_by_main(path, split, device, name)


def _cached(path: Path, split: Split, device, name: str, verbose: bool) -> TrainedModel | None:
    cached = load_trained(path, split, device)
    if cached is not None and verbose:
        print(f"reusing trained {name} from {path}", flush=True)
    return cached


def _train_and_write(split, name, config, seed, device, key, path, verbose, progress, shared=True) -> TrainedModel:
    """The model trained (resumed from its checkpoint), evaluated on validation and test and written
    to `path` (by rank 0). Under torchrun every rank takes part, unless not `shared`: then the
    calling process trains and evaluates alone."""
    model, training = train_model(split, name, config, seed=seed, device=device, verbose=verbose,
                                  checkpoint=path / CHECKPOINT_NAME, progress=progress)
    started = time.perf_counter()
    val, test = (evaluate_model(model, split, part, device, shared=shared) for part in ("val", "test"))
    training["final_eval_seconds"] = round(time.perf_counter() - started, 3)
    if dist.active() and shared:
        training["processes"] = dist.world_size()
    metrics = {"model": name, "dataset": split.dataset, "split": split.sizes(), "seed": seed, "config": config,
               "device": str(device), "torch": torch.__version__, "val": val, "test": test, "training": training,
               "key": key}
    if dist.is_main():
        write_entry(path, model.state_dict(), config, metrics)
    return TrainedModel(model, name, config, seed, metrics, path, key, False)


def _written_by_main(path: Path, split: Split, device, name: str) -> TrainedModel:
    """On a rank other than 0: the entry rank 0 has just written."""
    trained = load_trained(path, split, device)
    if trained is None:
        raise TearsBenchError(f"rank {dist.rank()}: cannot read the {name} rank 0 wrote to {path}; "
                              "every process must see the same TEARS_BENCH_HOME")
    return trained

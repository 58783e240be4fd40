"""Training, selecting and caching TEARS models (protocol.md section 4).

`train_tears(split, name, summaries, config=..., seed=..., device=...)` loads a trained TEARS
model from the cache or trains it: AdamW (lr 1e-4, batch 64), checkpoint selection on validation
NDCG@50 averaged over alpha 0, 0.5, 1 (text only for TEARS Base), then the alpha sweep 0.0..1.0 on
validation NDCG@20 picks `best_alpha`. Users without a summary are left out of TEARS training and
evaluation; the CF baseline is re-evaluated on exactly the users TEARS is evaluated on. The trained
model is used through models.tears.TearsRecommender; its files follow models.model_cache.

Under torchrun (docs/distributed.md) every rank trains through models.trainer.fit on its share of
each batch; rank 0 embeds the summaries into the cache first and the others read them; validation
selection, the alpha sweep and the baseline score each rank's share of the users and gather sums;
rank 0 writes the entry, which the other ranks then load.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tears_bench import distributed as dist
from tears_bench.data.split import Split, model_input
from tears_bench.device import resolve_device
from tears_bench.errors import TearsBenchError
from tears_bench.metrics import DEFAULT_KS, DEFAULT_RECALL_KS, exclude_inputs, ndcg_at_k, recall_at_k
from tears_bench.models.model_cache import CHECKPOINT_NAME, read_json, read_tensors, write_entry
from tears_bench.models.tears import Tears, TearsRecommender, alpha_key, dense, score_users
from tears_bench.storage import cache_dir, stable_hash

TEARS_MODELS = {
    "tears-base": None,
    "tears-multvae": "multvae",
    "tears-recvae": "recvae",
    "tears-macridvae": "macridvae",
}
DEFAULTS = {
    "epochs": 200, "patience": 20, "batch_size": 64, "lr": None, "decoder_lr": None, "weight_decay": 0.01,
    "epsilon": 0.5, "beta": 0.2, "anneal_epochs": 10, "align": "ot", "latent_dim": 400, "hidden": 600,
    "encoder": "minilm", "encoder_mode": "frozen", "segments": 1, "lora_r": 64, "lora_alpha": 16, "lora_dropout": 0.4,
    "cf_config": None, "loss_scale": "authors",  # the reference's normalisation: docs/decisions.md
    "text_head": "auto", "text_queries": 4,  # models.text_heads: auto = sentence-attention when frozen
}
# Options that joined after the first cached models, at the value that reproduces those models:
# left out of the cache key there, so that the models trained before the option existed keep their keys.
KEY_OMITTED_VALUES = {"segments": 1, "loss_scale": "sum", "text_head": "linear", "text_queries": 4}
# The paper's AdamW lr 1e-4 is for fine-tuning T5 with LoRA. With a frozen encoder only a linear
# head (and the decoder) learn, and at 1e-4 the head barely moves in 200 epochs on small data: the
# text-only ranking stays near popularity and edits do nothing. 1e-3 is the frozen-mode default.
FROZEN_LR, LORA_LR = 1e-3, 1e-4
SELECT_ALPHAS = (0.0, 0.5, 1.0)
SWEEP_ALPHAS = tuple(round(a / 10, 1) for a in range(11))
TEARS_VERSION = 2  # 2: seeded from its own key (version 1 depended on the process's RNG history)


@dataclass
class TrainedTears:
    recommender: TearsRecommender
    metrics: dict
    key: str
    path: Path
    from_cache: bool


def _summary_rows(split: Split, users: np.ndarray, summaries) -> tuple[np.ndarray, list[str]]:
    """Positions (into `users`) of users that have a summary, and their texts."""
    keep = np.array([int(u) in summaries for u in users], dtype=bool)
    return np.flatnonzero(keep), [summaries[int(u)] for u in users[keep]]


def _summaries_key(summaries) -> str:
    key = getattr(summaries, "key", None)
    return key or stable_hash(sorted((int(u), t) for u, t in summaries.items()))


def _config(name: str, config: dict | None) -> dict:
    if name not in TEARS_MODELS:
        raise TearsBenchError(f"unknown TEARS model {name!r}; known: {', '.join(TEARS_MODELS)}")
    unknown = set(config or {}) - set(DEFAULTS)
    if unknown:
        raise TearsBenchError(f"unknown TEARS option(s) {sorted(unknown)}")
    resolved = {**DEFAULTS, **{k: v for k, v in (config or {}).items() if v is not None}}
    if not isinstance(resolved["segments"], int) or resolved["segments"] < 1:
        raise TearsBenchError(f"segments must be a whole number >= 1, got {resolved['segments']!r}")
    from tears_bench.models.text_heads import resolve_text_head
    resolved["text_head"] = resolve_text_head(resolved["text_head"], resolved["encoder_mode"], resolved["segments"])
    check_text_head(resolved)
    if resolved["lr"] is None:
        resolved["lr"] = FROZEN_LR if resolved["encoder_mode"] == "frozen" else LORA_LR
    if resolved["decoder_lr"] is None:
        # The pre-trained VAE decoder is fine-tuned gently (the paper's 1e-4) so that alpha 0 stays
        # the CF model; TEARS Base's decoder starts from scratch and learns at the head's rate.
        resolved["decoder_lr"] = resolved["lr"] if TEARS_MODELS[name] is None else LORA_LR
    from tears_bench.models.alignment import ALIGNMENTS
    if resolved["align"] not in ALIGNMENTS:
        raise TearsBenchError(f"unknown alignment {resolved['align']!r}; known: {', '.join(ALIGNMENTS)}")
    from tears_bench.models.losses import LOSS_SCALES
    if resolved["loss_scale"] not in LOSS_SCALES:
        raise TearsBenchError(f"unknown loss_scale {resolved['loss_scale']!r}; known: {', '.join(LOSS_SCALES)}")
    return resolved


def check_text_head(config: dict) -> None:
    from tears_bench.models.text_heads import TEXT_HEADS
    if config["text_head"] not in TEXT_HEADS + ("auto",):
        raise TearsBenchError(f"unknown text_head {config['text_head']!r}; known: {', '.join(TEXT_HEADS)}")
    if not isinstance(config["text_queries"], int) or config["text_queries"] < 1:
        raise TearsBenchError(f"text_queries must be a whole number >= 1, got {config['text_queries']!r}")
    if config["text_head"] not in ("linear", "auto") and (config["encoder_mode"] != "frozen" or config["segments"] != 1):
        raise TearsBenchError(f"text_head {config['text_head']} reads a frozen encoder's cached vectors: "
                              "use it with --encoder-mode frozen and --segments 1")


def _build_encoder(config: dict, device):
    from tears_bench.text import build_encoder

    encoder = build_encoder(config["encoder"], mode=config["encoder_mode"], lora_r=config["lora_r"],
                            lora_alpha=config["lora_alpha"], lora_dropout=config["lora_dropout"],
                            device=str(device))
    if config["segments"] > 1:
        from tears_bench.text.segments import SegmentedEncoder
        encoder = SegmentedEncoder(encoder, config["segments"])
    from tears_bench.models.text_heads import SET_HEADS
    if SET_HEADS.get(config["text_head"]) == "tokens":
        from tears_bench.text.token_states import TokenStateEncoder
        encoder = TokenStateEncoder(encoder).to(device)
    elif SET_HEADS.get(config["text_head"]) == "sentences":
        from tears_bench.text.sentence_states import SentenceSetEncoder
        encoder = SentenceSetEncoder(encoder).to(device)
    return encoder


def _new_net(split, config, encoder, cf, device) -> Tears:
    return Tears(encoder.dim, split.n_items, cf=None if cf is None else cf.model, latent_dim=config["latent_dim"],
                 hidden=config["hidden"], align=config["align"], epsilon=config["epsilon"],
                 beta=config["beta"], loss_scale=config["loss_scale"], text_head=config["text_head"],
                 text_queries=config["text_queries"]).to(device)


def train_tears(split: Split, name: str, summaries, *, config: dict | None = None, seed: int = 0,
                device: str = "auto", verbose: bool = True, progress: bool | None = None) -> TrainedTears:
    """The trained TEARS model from the cache, or trained (resumed from its checkpoint after an
    interruption), swept over alpha and cached. Every random number comes from the model's own key
    (models.trainer.seeded): the result never depends on what the process did before or on which
    earlier stages (the CF model, the embeddings) came from the cache."""
    from tears_bench.models.trainer import get_trained, seeded

    dist.check_joined()
    config = _config(name, config)
    device = resolve_device(device)
    if dist.active() and dist.is_main() and config["align"] == "contrastive":
        print(f"{name}: under torchrun the contrastive alignment draws its negatives from each process's share "
              f"of a batch (about {config['batch_size'] // dist.world_size()} users), not from the whole batch",
              file=sys.stderr, flush=True)
    verbose = verbose and dist.is_main()
    progress = progress and dist.is_main() if progress is not None else None
    key_config = {k: v for k, v in config.items() if not (k in KEY_OMITTED_VALUES and v == KEY_OMITTED_VALUES[k])}
    with dist.main_first():
        # LoRA adapters start at random, before the encoder's identity (part of the key) is known.
        with seeded(stable_hash({"stage": "tears-encoder", "model": name, "split": split.hash, "seed": seed,
                                 "summaries": _summaries_key(summaries), "config": key_config}), device):
            encoder = _build_encoder(config, device)
        if dist.active() and encoder.mode == "frozen":
            # Rank 0 embeds every summary into the cache; the other ranks, whose encoders open the
            # cache only now, find them there instead of embedding (and writing) them again.
            encoder.encode(_split_texts(split, summaries))
    cf_name = TEARS_MODELS[name]
    cf = None if cf_name is None else get_trained(split, cf_name, config=config["cf_config"], seed=seed,
                                                  device=str(device), verbose=verbose, progress=progress)
    key = stable_hash({"model": name, "split": split.hash, "summaries": _summaries_key(summaries),
                       "encoder": encoder.identity, "config": key_config, "seed": seed,
                       "cf": None if cf is None else cf.key, "version": TEARS_VERSION})
    folder = cache_dir("models") / f"{name}-{key}"
    with seeded(key, device):
        net = _new_net(split, config, encoder, cf, device)
    with dist.main_first():  # rank 0 quarantines a corrupt entry before the others look
        metrics = _load_cached(folder, net, encoder, device)
    dist.agree(metrics is not None, f"whether {name} is cached in {folder}")
    if metrics is not None:
        return TrainedTears(TearsRecommender(name, net, encoder, device), metrics, key, folder, True)

    trainer = _Trainer(split, net, encoder, summaries, config, device, verbose, name, seed)
    # Embedding may load the text encoder (drawing random numbers) only when the embeddings are
    # not cached yet: training starts from its own seed, after it.
    with seeded(f"{key}/fit", device) as fit_seed:
        history = trainer.fit(fit_seed, folder / CHECKPOINT_NAME, progress)
    metrics = trainer.sweep()
    metrics.update({
        "model": name, "dataset": split.dataset, "split": split.sizes(), "seed": seed, "config": config,
        "summaries": getattr(summaries, "metadata", {}) | {"key": _summaries_key(summaries)},
        "encoder": encoder.identity, "history": history,
        "users_without_summary": trainer.missing,
    })
    if cf is not None:
        metrics["baseline"] = trainer.baseline(cf)
    if dist.active():
        metrics["processes"] = dist.world_size()
    if dist.is_main():
        write_entry(folder, _trainable_state(net, encoder),
                    {"model": name, "config": config, "seed": seed, "key": key}, metrics)
    dist.barrier()
    if not dist.is_main():  # every rank holds exactly what rank 0 wrote
        metrics = _load_cached(folder, net, encoder, device)
        if metrics is None:
            raise TearsBenchError(f"rank {dist.rank()}: cannot read the {name} rank 0 wrote to {folder}; "
                                  "every process must see the same TEARS_BENCH_HOME")
    return TrainedTears(TearsRecommender(name, net, encoder, device), metrics, key, folder, False)


def _split_texts(split: Split, summaries) -> list[str]:
    """The summaries of the split's users that have one (what _Trainer embeds)."""
    users = np.concatenate([split.part(part)[0] for part in ("train", "val", "test")])
    return _summary_rows(split, users, summaries)[1]


def _load_cached(folder: Path, net: Tears, encoder, device) -> dict | None:
    """The cached model's metrics, its weights loaded into `net` (and a LoRA encoder); None when the
    entry is incomplete or a file of it is corrupt (quarantined: the model is trained again)."""
    metrics_path, model_path = folder / "metrics.json", folder / "model.pt"
    if not (metrics_path.is_file() and model_path.is_file()):
        return None  # never finished: metrics.json is written last
    metrics = read_json(metrics_path, "unreadable TEARS metrics", check=_check_metrics)
    if metrics is None:
        return None
    expected = {k: v.shape for k, v in _trainable_state(net, encoder).items()}

    def check_shapes(state):
        if not isinstance(state, dict) or {k: getattr(v, "shape", None) for k, v in state.items()} != expected:
            raise ValueError("its tensors do not match this model's")

    state = read_tensors(model_path, device, "unreadable TEARS weights", use=check_shapes)
    if state is None:
        return None
    _load_state(net, encoder, state)
    return metrics


def _check_metrics(metrics: dict) -> None:
    if not {"test", "val", "by_alpha", "best_alpha"} <= set(metrics):
        raise ValueError("not the metrics of a trained TEARS model")


def _trainable_state(net: Tears, encoder) -> dict:
    state = {f"net.{k}": v for k, v in net.state_dict().items() if not k.startswith("cf_encoder.")}
    if encoder.mode != "frozen":
        state.update({f"encoder.{k}": p.detach() for k, p in encoder.named_parameters() if p.requires_grad})
    return state


def _load_state(net, encoder, state: dict) -> None:
    net.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("net.")}, strict=False)
    if encoder.mode != "frozen":
        encoder.load_state_dict({k[8:]: v for k, v in state.items() if k.startswith("encoder.")}, strict=False)


class _Trainable(torch.nn.Module):
    """The TEARS network and its text encoder (trainable in LoRA mode) as one module for `fit`."""

    def __init__(self, net: Tears, encoder):
        super().__init__()
        self.net, self.encoder = net, encoder

    def checkpoint_keys(self) -> set[str]:
        """What training changes (models.trainer checkpoints only these): not the frozen CF encoder
        copy, nor the text encoder's frozen weights."""
        return {k for k in self.state_dict() if k.startswith("net.") and not k.startswith("net.cf_encoder.")} | \
            {f"encoder.{k}" for k, p in self.encoder.named_parameters() if p.requires_grad}


class _Trainer:
    """One TEARS training run: batches of users, early stopping, the alpha sweep."""

    def __init__(self, split, net, encoder, summaries, config, device, verbose, name, seed):
        self.split, self.net, self.encoder, self.config = split, net, encoder, config
        self.device, self.verbose, self.name, self.seed = device, verbose, name, seed
        self.parts = {}
        self.missing = {}
        for part in ("train", "val", "test"):
            users, inputs, targets = split.part(part)
            rows, texts = _summary_rows(split, users, summaries)
            self.missing[part] = int(len(users) - len(rows))
            self.parts[part] = (users[rows], inputs[rows], targets[rows], texts)
        if not len(self.parts["train"][0]) or not len(self.parts["val"][0]):
            raise TearsBenchError("no training or validation user has a summary: check the summaries' users")
        if verbose and sum(self.missing.values()):
            print(f"{name}: users without a summary, left out: " +
                  ", ".join(f"{p} {n}" for p, n in self.missing.items()))
        self.frozen = encoder.mode == "frozen"
        if self.frozen:  # embed every distinct summary once (cached on disk by the encoder)
            self.embeddings = {p: encoder.encode(v[3]).to(device) for p, v in self.parts.items()}

    def _embed(self, part: str, rows) -> torch.Tensor:
        if self.frozen:
            return self.embeddings[part][torch.as_tensor(rows)]
        return self.encoder.encode([self.parts[part][3][r] for r in rows]).to(self.device)

    def scores(self, part: str, alphas, rows: np.ndarray | None = None) -> torch.Tensor:
        """[A, users, items] with the fold-in excluded, in user batches; `rows`: of these users only
        (positions in the part; default all)."""
        self.net.eval()
        self.encoder.eval()
        fold_in = self.parts[part][1]
        if rows is None or len(rows) == fold_in.shape[0]:  # rows are contiguous: all of them
            return score_users(self.net, lambda r: self._embed(part, r), fold_in, alphas, self.device)
        return score_users(self.net, lambda r: self._embed(part, rows[r]), fold_in[rows], alphas, self.device)

    def _my_rows(self, part: str) -> np.ndarray:
        """The part's users this rank scores (all for one process); their metrics are gathered as sums."""
        return dist.my_rows(len(self.parts[part][0]))

    def fit(self, seed: int, checkpoint: Path | None = None, progress: bool | None = None) -> list[dict]:
        """Train with the shared loop of models.trainer.fit (early stopping, best epoch kept, resumed
        from `checkpoint`); `seed` orders the batches."""
        from tears_bench.models.trainer import fit

        config, net = self.config, self.net
        _, inputs, targets, _ = self.parts["train"]
        steps_per_epoch = math.ceil(inputs.shape[0] / config["batch_size"])

        def make_optimizer(_params, _config):
            groups = [{"params": list(net.head.parameters()) + list(self.encoder.trainable_parameters())},
                      {"params": [p for p in net.decoder.parameters() if p.requires_grad],
                       "lr": config["decoder_lr"]}]
            return torch.optim.AdamW(groups, lr=config["lr"], weight_decay=config["weight_decay"], foreach=True)

        def loss_fn(_model, batch, anneal):
            return net.loss(self._embed("train", batch.rows), batch.x, batch.target, anneal=anneal)

        loop = {"epochs": config["epochs"], "patience": config["patience"], "batch_size": config["batch_size"],
                # fit passes min(beta_cap, updates / total_anneal_steps): here the share of beta reached.
                "beta_cap": 1.0, "total_anneal_steps": max(1, config["anneal_epochs"] * steps_per_epoch),
                "select_metric": "val_ndcg@50"}
        result = fit(_Trainable(net, self.encoder), None, loop, device=self.device, seed=seed,
                     evaluate_fn=lambda _model: self._select_score(), loss_fn=loss_fn,
                     make_optimizer=make_optimizer, train_data=(model_input(inputs), targets),
                     verbose=self.verbose, checkpoint=checkpoint, progress=progress, desc=self.name)
        return result.history

    def _select_score(self) -> float:
        alphas = (1.0,) if self.net.text_only else SELECT_ALPHAS
        rows = self._my_rows("val")
        scores = self.scores("val", alphas, rows)
        targets = torch.from_numpy(self.parts["val"][2][rows].toarray())
        means = dist.nanmeans({alpha_key(a): ndcg_at_k(s, targets, 50) for a, s in zip(alphas, scores)})
        return float(np.mean(list(means.values())))

    def _metrics(self, scores: torch.Tensor, part: str, rows: np.ndarray) -> dict:
        """Mean metrics over the part's users (`scores` and `rows`: this rank's share of them)."""
        targets = torch.from_numpy(self.parts[part][2][rows].toarray())
        per_user = {f"ndcg@{k}": ndcg_at_k(scores, targets, k) for k in DEFAULT_KS}
        per_user |= {f"recall@{k}": recall_at_k(scores, targets, k) for k in DEFAULT_RECALL_KS}
        out = dist.nanmeans(per_user)
        out["n_users"] = int(dist.sum_over_ranks([targets.shape[0]])[0])
        return out

    def sweep(self) -> dict:
        by_alpha = {alpha_key(a): {} for a in SWEEP_ALPHAS}
        for part in ("val", "test"):
            rows = self._my_rows(part)
            scores = self.scores(part, SWEEP_ALPHAS, rows)
            for a, s in zip(SWEEP_ALPHAS, scores):
                by_alpha[alpha_key(a)][part] = self._metrics(s, part, rows)
        if self.net.text_only:
            best = 1.0
        else:
            best = max(SWEEP_ALPHAS, key=lambda a: by_alpha[alpha_key(a)]["val"]["ndcg@20"])
        chosen = by_alpha[alpha_key(best)]
        return {"by_alpha": by_alpha, "best_alpha": best, "val": chosen["val"], "test": chosen["test"]}

    def baseline(self, cf) -> dict:
        """The CF model alone, on exactly the users TEARS is evaluated on."""
        out = {"model": cf.name, "key": cf.key}
        cf.model.eval()
        for part in ("val", "test"):
            rows = self._my_rows(part)
            inputs = self.parts[part][1][rows]
            with torch.no_grad():
                scores = cf.model.score(dense(model_input(inputs), self.device)).cpu()
            out[part] = self._metrics(exclude_inputs(scores, inputs), part, rows)
        return out

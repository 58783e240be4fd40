"""The model registry: name -> class, default config and one-line description.

A config is one flat dict: the keys the model's constructor takes build the model, the others
drive the trainer (`TRAINER_DEFAULTS`). `resolve_config(name, overrides)` fills in defaults and
rejects unknown keys.

Adding a model: add a `ModelSpec` to MODELS here, or call `register_model(spec)` from a module
listed in PLUGIN_MODULES (imported at the end of this file when present). A spec is data only:
the registry knows nothing of the command line. `fit` names how the model is trained: 'gradient'
(models.trainer.fit), 'closed_form' (model.fit) or 'tears' (models.tears_trainer.train_tears, on
summaries; `tears-bench train` adds its options in tears_bench.commands._train_tears).
"""
from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field

from tears_bench.errors import TearsBenchError

# Trainer settings of the gradient-trained models (models.trainer.fit).
TRAINER_DEFAULTS = {
    "epochs": 200, "patience": 20, "batch_size": 500, "lr": 1e-3, "weight_decay": 0.0, "optimizer": "adam",
    "beta_cap": 0.2, "total_anneal_steps": 2000, "select_metric": "ndcg@50", "eval_batch_size": None,
}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    factory: str  # 'module:Class', imported when used
    defaults: dict = field(default_factory=dict)
    # 'gradient' (models.trainer.fit), 'closed_form' (model.fit(X, val_in, val_target, evaluate_fn))
    # or 'tears' (models.tears_trainer.train_tears)
    fit: str = "gradient"

    def model_class(self):
        module, _, cls = self.factory.partition(":")
        return getattr(importlib.import_module(module), cls)


MODELS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    MODELS[spec.name] = spec
    return spec


for _spec in [
    ModelSpec("pop", "item popularity among training users, the same list for everyone (the floor)",
              "tears_bench.models.pop:Pop", {}, fit="closed_form"),
    ModelSpec("ease", "EASE (Steck 2019): closed-form item-item weights, lambda picked on validation",
              "tears_bench.models.ease:EASE",
              {"lambdas": [10.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0], "select_metric": "ndcg@50"},
              fit="closed_form"),
    ModelSpec("multdae", "MultDAE (Liang et al. 2018): denoising autoencoder, multinomial likelihood",
              "tears_bench.models.multvae:MultDAE",
              {**TRAINER_DEFAULTS, "hidden": 600, "latent": 400, "dropout": 0.5, "lam": 2e-5}),
    ModelSpec("multvae", "MultVAE (Liang et al. 2018): VAE with multinomial likelihood, annealed KL",
              "tears_bench.models.multvae:MultVAE",
              {**TRAINER_DEFAULTS, "hidden": 600, "latent": 400, "dropout": 0.5, "lam": 0.0}),
    ModelSpec("recvae", "RecVAE (Shenbin et al. 2020): residual encoder, composite prior, alternating updates",
              "tears_bench.models.recvae:RecVAE",
              {**TRAINER_DEFAULTS, "epochs": 50, "lr": 5e-4, "hidden": 600, "latent": 400, "gamma": 0.005,
               "dropout": 0.5, "enc_passes": 3, "dec_passes": 1}),
    ModelSpec("macridvae", "MacridVAE (Ma et al. 2019): K=2 disentangled concept latents of 200 (400 in all)",
              "tears_bench.models.macridvae:MacridVAE",
              {**TRAINER_DEFAULTS, "kfac": 2, "dfac": 200, "hidden": 400, "dropout": 0.5, "tau": 0.1,
               "std": 0.075, "nogb": False}),
]:
    register_model(_spec)


def get_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise TearsBenchError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    return MODELS[name]


def model_arguments(name: str) -> set[str]:
    """The config keys that the model's constructor takes (besides n_items)."""
    parameters = inspect.signature(get_spec(name).model_class().__init__).parameters
    return set(parameters) - {"self", "n_items"}


def resolve_config(name: str, overrides: dict | None = None) -> dict:
    """Defaults of `name` updated with `overrides`; unknown keys are an error."""
    spec = get_spec(name)
    config = dict(spec.defaults)
    for key, value in (overrides or {}).items():
        if key not in config:
            raise TearsBenchError(f"unknown config key {key!r} for model {name}; known: {', '.join(sorted(config))}")
        config[key] = value
    return config


def build_model(name: str, n_items: int, config: dict):
    """A fresh, untrained model of `name` for a catalogue of n_items."""
    keys = model_arguments(name)
    return get_spec(name).model_class()(n_items, **{k: v for k, v in config.items() if k in keys})


PLUGIN_MODULES = ("tears_bench.models.tears_registry",)  # registers the TEARS entries
for _module in PLUGIN_MODULES:
    try:
        importlib.import_module(_module)
    except ModuleNotFoundError as error:
        if error.name != _module:
            raise

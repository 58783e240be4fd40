"""TEARS entries of the model registry: one spec per TEARS model (models.tears_trainer.TEARS_MODELS).

Pure model specs: how `tears-bench train` trains them (summaries, a text encoder) is the CLI's,
in tears_bench.commands._train_tears; `fit="tears"` sends them there and to train_tears elsewhere.
"""
from __future__ import annotations

from tears_bench.models.registry import ModelSpec, register_model
from tears_bench.models.tears_trainer import DEFAULTS, TEARS_MODELS

DESCRIPTIONS = {
    "tears-base": "TEARS Base: text encoder -> Gaussian head -> MultVAE-shaped decoder (text only)",
    "tears-multvae": "TEARS-MultVAE: summary latent aligned by OT with a frozen MultVAE encoder, mixed by alpha",
    "tears-recvae": "TEARS-RecVAE: summary latent aligned by OT with a frozen RecVAE encoder, mixed by alpha",
    "tears-macridvae": "TEARS-MacridVAE: summary latent aligned by OT with a frozen MacridVAE encoder, mixed by alpha",
}

for _name, _cf in TEARS_MODELS.items():
    # A VAE added to TEARS_MODELS alone (docs/extending.md) is described from its CF model's name.
    _description = DESCRIPTIONS.get(_name, f"TEARS over {_cf}: summary latent aligned with its encoder, mixed by alpha")
    register_model(ModelSpec(_name, _description, "tears_bench.models.tears:Tears", dict(DEFAULTS), fit="tears"))

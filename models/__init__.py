"""Recommender models and their training (protocol.md section 4): MultDAE, MultVAE, RecVAE,
MacridVAE, EASE, popularity, TEARS; `models.registry.MODELS` lists them, `models.trainer.get_trained`
trains or loads one, `models.evaluate.evaluate` ranks and scores."""
from tears_bench.openmp import prefer_passive_wait

prefer_passive_wait()  # before any model module loads torch

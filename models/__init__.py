"""Recommender models and their training (protocol.md section 4): MultDAE, MultVAE, RecVAE,
MacridVAE, EASE, popularity, TEARS; `models.registry.MODELS` lists them, `models.trainer.get_trained`
trains or loads one, `models.evaluate.evaluate` ranks and scores."""
import tears_bench  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)

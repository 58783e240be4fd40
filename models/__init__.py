"""Recommender models and their training (protocol.md section 4): MultDAE, MultVAE, RecVAE,
MacridVAE, EASE, popularity, TEARS; `models.registry.MODELS` lists them, `models.trainer.get_trained`
trains or loads one, `models.evaluate.evaluate` ranks and scores."""
import os

# OpenMP worker threads that spin while waiting turn a shared or busy CPU into a 10x slowdown of
# every small parallel region (measured here: RecVAE 12 s vs 1 s per epoch on a loaded 2-core
# machine). Passive waiting costs little on an idle machine. Takes effect only if torch is not yet
# imported; an explicit OMP_WAIT_POLICY wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

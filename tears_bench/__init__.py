"""tears-bench: controllability evaluation for TEARS (arXiv 2410.19302)."""
import os

# With OpenMP's default active waiting, every small parallel region of torch spins both cores; on
# a busy 2-core machine that made small steps 10-30x slower (RecVAE 12 s vs 1 s per epoch).
# Passive waiting costs little on an idle machine. It only takes effect before torch is imported,
# hence here; an explicit OMP_WAIT_POLICY wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

"""OpenMP's wait policy, set by the entry points (CLI, Python API, `tears_bench.models`) before
torch loads, so that `import tears_bench` itself changes nothing in the environment."""
import os


def prefer_passive_wait() -> None:
    """Ask OpenMP to sleep, not spin, between parallel regions; an explicit OMP_WAIT_POLICY wins.

    With OpenMP's default active waiting, every small parallel region of torch spins both cores; on
    a busy 2-core machine that made small steps 10-30x slower (RecVAE 12 s vs 1 s per epoch).
    Passive waiting costs little on an idle machine. It only takes effect before torch is imported.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

"""Shared fixtures: an isolated cache folder for every test, and the real-data folder if present."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tears_bench.openmp import prefer_passive_wait

# Before any test module loads torch (import tears_bench no longer sets it): on a busy 2-core
# machine spinning OpenMP threads made a tiny TEARS training 30x slower.
prefer_passive_wait()

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TEARS_BENCH_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Every test writes its caches into its own temporary TEARS_BENCH_HOME."""
    home = tmp_path_factory.mktemp("tears-home")
    monkeypatch.setenv("TEARS_BENCH_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


@pytest.fixture
def one_thread():
    """Model tests run on one torch thread: small steps are faster and timings steadier."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def shared_data() -> Path:
    """The real MovieLens data beside the project; the test is skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (set TEARS_BENCH_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> dict[str, str]:
    """The tiny BERT and T5 of tests/tiny_encoders.py, built once per test module."""
    from tests.tiny_encoders import build_tiny_encoders

    return build_tiny_encoders(tmp_path_factory.mktemp("encoders"))


@pytest.fixture(scope="module")
def tiny(tiny_models) -> str:
    """The tiny BERT's encoder spec."""
    return tiny_models["bert"]


@pytest.fixture
def fast_cf(monkeypatch):
    """TEARS trains on a small, quick CF backbone (CF_FAST): these tests check plumbing, not accuracy."""
    from tears_bench.models.tears_trainer import DEFAULTS
    from tests.tiny_encoders import CF_FAST

    monkeypatch.setitem(DEFAULTS, "cf_config", CF_FAST)


# The served tiny model of the serve tests, built once per session when a serve test asks for it.
from tests.serve_fixtures import serve_workbench, served_app  # noqa: E402,F401

"""A tiny served model for the `serve` tests: a TEARS-MultVAE trained for a few epochs on a small
synthetic dataset with the tiny BERT (nothing downloaded), and a real uvicorn server on a free
port of 127.0.0.1. Both are built once per test session (tests/conftest.py imports them)."""
from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

DATASET = "synthetic:users=240,items=300,seed=4"
ALPHAS = [0.0, 0.5, 1.0]


@pytest.fixture(scope="session")
def serve_workbench(tmp_path_factory):
    """The Workbench of a tiny trained model; sessions are saved in its own run folder."""
    pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install 'tears-bench[serve]'")
    from tears_bench.models.tears_trainer import DEFAULTS
    from tears_bench.serve.loading import load_workbench
    from tests.tiny_encoders import CF_FAST, build_tiny_encoders

    root = tmp_path_factory.mktemp("serve")
    encoders = build_tiny_encoders(root / "encoders")
    saved_home, saved_cf = os.environ.get("TEARS_BENCH_HOME"), DEFAULTS["cf_config"]
    os.environ["TEARS_BENCH_HOME"], DEFAULTS["cf_config"] = str(root / "home"), CF_FAST
    try:
        return load_workbench("tears-multvae", {"dataset": DATASET, "encoder": encoders["bert"], "epochs": 3,
                                                "alphas": ALPHAS, "output": str(root / "run")})
    finally:
        DEFAULTS["cf_config"] = saved_cf
        if saved_home is None:
            os.environ.pop("TEARS_BENCH_HOME", None)
        else:
            os.environ["TEARS_BENCH_HOME"] = saved_home


@pytest.fixture(scope="session")
def served_app(serve_workbench):
    """A real uvicorn server of `serve_workbench`: SimpleNamespace(url, workbench)."""
    from tears_bench.serve.app import BackgroundServer

    background = BackgroundServer(serve_workbench)
    yield SimpleNamespace(url=background.url, workbench=serve_workbench)
    background.stop()

"""The Python API: `import tears_bench` is light, `Experiment(...).run()` works from a folder whose
own models.py and tasks.py would shadow top-level packages, and the stage functions give the
numbers the pipeline caches."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import tears_bench
from tears_bench.errors import TearsBenchError
from tests.tiny_encoders import CF_FAST

DATASET = "synthetic:users=200,items=300,seed=4"


def _python(code: str, cwd, timeout: int = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "PYTHONPATH")}
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stderr[-4000:]
    return done


def test_import_is_light_and_changes_no_environment(tmp_path):
    code = ("import os, sys; before = dict(os.environ); import tears_bench; "
            "assert dict(os.environ) == before, 'environment changed'; "
            "heavy = [m for m in ('torch', 'numpy', 'pandas', 'scipy', 'transformers') if m in sys.modules]; "
            "assert not heavy, heavy; "
            "api = [getattr(tears_bench, name).__name__ for name in tears_bench.__all__ if name != '__version__']; "
            "assert 'torch' not in sys.modules; print(' '.join(api))")
    printed = _python(code, tmp_path).stdout.split()
    assert printed == ["Experiment", "Results", "load_split", "get_summaries", "train", "evaluate"]
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        tears_bench.nothing  # noqa: B018


def test_entry_points_ask_openmp_to_wait_passively(tmp_path):
    """The wait policy moved out of `import tears_bench`: the CLI, the API and tears_bench.models
    set it before torch loads, and an explicit OMP_WAIT_POLICY wins."""
    code = ("import os, sys, tears_bench; assert 'OMP_WAIT_POLICY' not in os.environ; "
            "import tears_bench.models; assert 'torch' not in sys.modules; print(os.environ['OMP_WAIT_POLICY'])")
    assert _python(code, tmp_path).stdout.strip() == "PASSIVE"
    code = ("import os; os.environ['OMP_WAIT_POLICY'] = 'ACTIVE'; from tears_bench.cli import main; "
            "main(['ls']); print(os.environ['OMP_WAIT_POLICY'])")
    assert _python(code, tmp_path).stdout.strip().splitlines()[-1] == "ACTIVE"


def test_experiment_takes_the_run_options_and_names_an_unknown_one():
    experiment = tears_bench.Experiment(tasks="flip,rank", alphas="0:1:0.5", models=["tears-recvae"],
                                        segments=4, split_seed=7)
    config = experiment.config
    assert config.tasks == ["flip", "rank"] and config.alphas == [0.0, 0.5, 1.0]
    assert config.models == ["tears-recvae"] and config.summaries == ["template"]
    assert (config.segments, config.split_seed, config.dataset, config.editor) == (4, 7, "synthetic", "offline")
    assert len(tears_bench.Experiment().config.alphas) == 11  # the CLI's default 0:1:0.1
    with pytest.raises(TearsBenchError, match="unknown Experiment option.*epoch_count"):
        tears_bench.Experiment(epoch_count=3)
    with pytest.raises(TearsBenchError, match="tasks is empty"):
        tears_bench.Experiment(tasks=[])


def test_results_of_a_folder_without_results_json(tmp_path):
    with pytest.raises(TearsBenchError, match="no results.json"):
        tears_bench.Results(tmp_path)


SHADOWED_RUN = """
import json, sys
import tears_bench
from tears_bench.models.tears_trainer import DEFAULTS
DEFAULTS["cf_config"] = {cf}  # a small CF backbone: this checks plumbing, not accuracy
r = tears_bench.Experiment(dataset={dataset!r}, tasks=["flip"], alphas=[0.0, 1.0], encoder={encoder!r}, epochs=2,
                           output={output!r}).run()
flip = r.tables["flip"]
mine = flip[flip["model"] == "tears-multvae"]
report = r.report(formats="md")
json.dump({{"path": str(r.path), "columns": list(flip.columns), "alphas": mine["alpha"].tolist(),
           "delta_up": mine["delta_up"].tolist(), "delta_down": mine["delta_down"].tolist(),
           "n_users": mine["n_users"].tolist(), "report": str(report),
           "shadowed": [m for m in ("models", "tasks") if m in sys.modules]}}, open("answer.json", "w"))
"""


def test_experiment_runs_beside_a_users_own_models_and_tasks_modules(tiny, tmp_path):
    work = tmp_path / "project"
    work.mkdir()
    for name in ("models", "tasks"):  # an ML project's own modules, first on sys.path
        (work / f"{name}.py").write_text('raise ImportError("shadow: the user\'s own module was imported")\n')
    out = tmp_path / "run"
    _python(SHADOWED_RUN.format(cf=CF_FAST, dataset=DATASET, encoder=tiny, output=str(out)), work, timeout=600)
    answer = json.loads((work / "answer.json").read_text())
    assert answer["shadowed"] == []
    assert answer["path"] == str(out) and (out / "results.json").is_file()
    assert answer["columns"][:3] == ["model", "alpha", "delta_up"] and "flip_ratio" in answer["columns"]
    document = json.loads((out / "results.json").read_text())
    flip = document["tasks"]["flip"]["tears-multvae"]
    assert answer["alphas"] == ["0.0", "1.0"] == list(flip)
    # At alpha 0 the CF latent alone ranks: the summary edit cannot move anything.
    assert answer["delta_up"][0] == 0.0 and answer["delta_down"][0] == 0.0
    assert answer["delta_up"][1] == flip["1.0"]["delta_up"]
    assert answer["n_users"] == [flip["0.0"]["n_users"], flip["1.0"]["n_users"]] and answer["n_users"][0] > 0
    assert answer["report"] == str(out / "report") and "Interest flip" in (out / "report" / "report.md").read_text()


def test_results_tables_stack_a_tasks_several_tables(tmp_path):
    document = {"tasks": {"guided": {
        "meta": {"genres": ["Action", "Comedy"]},
        "tears-multvae": {"more": {"Action": 0.25, "Comedy": 0.5, "mean": 0.375},
                          "less": {"Action": -0.5, "Comedy": -0.25, "mean": -0.375}, "n_users": 40}}}}
    (tmp_path / "results.json").write_text(json.dumps(document))
    guided = tears_bench.Results(tmp_path).tables["guided"]
    assert list(guided.columns) == ["table", "model", "Action", "Comedy", "mean", "n_users"]
    assert guided["mean"].tolist() == [0.375, -0.375] and guided["n_users"].tolist() == [40, 40]
    assert guided["table"].str.startswith("guided 'more'").tolist() == [True, False]


@pytest.fixture(scope="module")
def staged(tiny, tmp_path_factory):
    """A split, its template summaries, a CF model and a TEARS model trained through the stage functions."""
    from tests.tiny_encoders import fast_tears_setup

    with fast_tears_setup(tmp_path_factory.mktemp("staged")):
        split = tears_bench.load_split(DATASET)
        summaries = tears_bench.get_summaries(split, "template")
        cf = tears_bench.train(split, "multvae", config=CF_FAST)
        tears = tears_bench.train(split, "tears-multvae", summaries, config={"encoder": tiny}, epochs=2)
        yield split, summaries, cf, tears


def test_stage_functions_return_what_the_pipeline_caches(staged):
    split, summaries, cf, tears = staged
    assert split.dataset.startswith("synthetic") and len(summaries) == len(split.user_ids)
    assert cf.name == "multvae" and cf.metrics["config"]["epochs"] == CF_FAST["epochs"]
    # The CF model's test metrics, computed again, equal those stored with the model.
    again = tears_bench.evaluate(cf, split)
    assert again == pytest.approx(cf.metrics["test"])
    assert again["users"] == len(split.test_users)
    assert tears.metrics["config"]["epochs"] == 2 and tears.metrics["encoder"]
    for alpha in (0.0, 1.0):
        scores = tears_bench.evaluate(tears, split, summaries, alpha=alpha)
        swept = tears.metrics["by_alpha"][f"{alpha:.1f}"]["test"]
        assert scores["ndcg@20"] == pytest.approx(swept["ndcg@20"], abs=1e-6)
        assert scores["recall@50"] == pytest.approx(swept["recall@50"], abs=1e-6)
        assert scores["users"] == swept["n_users"]
    best = tears_bench.evaluate(tears, split, summaries, part="val")
    assert best["ndcg@20"] == pytest.approx(tears.metrics["val"]["ndcg@20"], abs=1e-6)


def test_stage_functions_refuse_what_a_model_cannot_read(staged):
    split, summaries, cf, tears = staged
    with pytest.raises(TearsBenchError, match="reads user summaries"):
        tears_bench.train(split, "tears-multvae")
    with pytest.raises(TearsBenchError, match="reads no summaries"):
        tears_bench.train(split, "multvae", summaries)
    with pytest.raises(TearsBenchError, match="pass the summaries"):
        tears_bench.evaluate(tears, split)
    with pytest.raises(TearsBenchError, match="'val' or 'test'"):
        tears_bench.evaluate(cf, split, part="train")

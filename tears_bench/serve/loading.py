"""From `tears-bench serve TARGET` to a Workbench: TARGET is a run folder (its results.json says
how it was run) or a TEARS model name (trained, or read from the cache, with the run options)."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from tears_bench.errors import TearsBenchError
from tears_bench.options import RunConfig

# Options that say where or how to compute, not what: they may differ from the run folder's own.
ENVIRONMENT_OPTIONS = ("data_dir", "editor", "device", "llm_base_url", "concurrency", "llm_timeout")


def run_folder_config(folder: Path) -> RunConfig:
    """The RunConfig recorded in a run folder's results.json."""
    path = Path(folder) / "results.json"
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))["config"]
    except FileNotFoundError:
        raise TearsBenchError(f"{folder} is not a run folder: it has no results.json") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise TearsBenchError(f"cannot read the run's options from {path}: {error}") from None
    known = {f.name for f in dataclasses.fields(RunConfig)}
    return RunConfig(**{k: v for k, v in recorded.items() if k in known})


LATEST = "latest"  # the newest run folder under results/


def latest_run(results: Path = Path("results")) -> Path:
    """The run folder under `results` whose results.json was written last."""
    runs = sorted(results.glob("*/results.json"), key=lambda path: path.stat().st_mtime)
    if not runs:
        raise TearsBenchError(f"no run folder in {results}/ yet: run `tears-bench run --task flip` first, or name a "
                              "run folder or model")
    return runs[-1].parent


def resolve_target(target: str, given: dict, model: str | None) -> tuple[RunConfig, str, Path]:
    """(config, model name, folder for saved sessions) of a run folder or a model name.

    `given` holds the run options set on the command line; with a run folder only the
    ENVIRONMENT_OPTIONS may be given (the others would describe another run)."""
    from tears_bench.models.tears_trainer import TEARS_MODELS

    folder = latest_run() if target == LATEST else Path(target)
    if folder.is_dir():
        conflicting = sorted(set(given) - set(ENVIRONMENT_OPTIONS))
        if conflicting:
            flags = ", ".join("--" + name.replace("_", "-") for name in conflicting)
            raise TearsBenchError(f"{flags} describe a run; {folder} already has its options in results.json "
                                  f"(only {', '.join('--' + o.replace('_', '-') for o in ENVIRONMENT_OPTIONS)} "
                                  f"may be given with a run folder)")
        config = dataclasses.replace(run_folder_config(folder), **given)
        name = model or config.models[0]
        if name not in config.models:
            raise TearsBenchError(f"--model {name}: the run in {folder} trained {', '.join(config.models)}")
        return config, name, folder
    if target not in TEARS_MODELS:
        raise TearsBenchError(f"{target!r} is neither a run folder nor a TEARS model; models: {', '.join(TEARS_MODELS)}")
    if model and model != target:
        raise TearsBenchError(f"--model {model} contradicts the model {target} given as the target")
    config = RunConfig(**{**given, "models": [target], "tasks": ["flip"]})
    from tears_bench.harness import output_folder

    return config, target, output_folder(config, "serve")


DEFAULT_ALPHA = 0.5  # the page's first alpha: the mix TEARS trains on, where both latents count


def load_workbench(target: str, given: dict | None = None, model: str | None = None, alpha: float = DEFAULT_ALPHA):
    """The Workbench of `target`: split, summaries and trained model from their caches (trained
    first when the model is not cached)."""
    from tears_bench.harness import load_split, load_summaries, train_models, validate
    from tears_bench.serve.workbench import Workbench
    from tears_bench.tasks.editors import get_editor

    config, name, folder = resolve_target(target, dict(given or {}), model)
    validate(config)
    split = load_split(config)
    summaries = load_summaries(config, split)[config.summaries[0]]
    trained = train_models(dataclasses.replace(config, models=[name]), split, summaries)[name]
    editor = get_editor(config.editor, base_url=config.llm_base_url, concurrency=config.concurrency,
                        timeout=config.llm_timeout)
    folder.mkdir(parents=True, exist_ok=True)
    return Workbench(split, summaries, trained.recommender, editor, folder, model=name,
                     alpha=alpha, sweep=config.alphas,
                     seed=config.seed, guided_control=config.guided_control, run_label=folder.name)

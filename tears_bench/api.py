"""The Python API: one experiment end to end, or one stage at a time.

    import tears_bench
    results = tears_bench.Experiment(dataset="synthetic", tasks=["flip"], alphas=[0.0, 0.5, 1.0]).run()
    results.tables["flip"]        # a pandas DataFrame: one row per model and alpha
    results.report()              # the paper-style report of this run (a folder)

`Experiment` is `tears-bench run` (the same pipeline, caches and run folder, through
`harness.run_benchmark`); the stage functions wrap the functions the pipeline calls. Everything
heavy (torch, pandas) is imported when a function runs, never when this module loads.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tears_bench.errors import TearsBenchError
from tears_bench.openmp import prefer_passive_wait

if TYPE_CHECKING:
    import pandas as pd

    from tears_bench.data.split import Split
    from tears_bench.harness import RunConfig
    from tears_bench.models.tears_trainer import TrainedTears
    from tears_bench.models.trainer import TrainedModel
    from tears_bench.summaries.registry import SummarySet

LIST_OPTIONS = ("tasks", "summaries", "models")


def _names(value: str | Sequence[str], option: str) -> list[str]:
    """A list of names, or one string of comma-separated names as the CLI takes them."""
    names = value.split(",") if isinstance(value, str) else list(value)
    names = [str(n).strip() for n in names if str(n).strip()]
    if not names:
        raise TearsBenchError(f"{option} is empty: give at least one name")
    return names


def _alphas(value: str | Sequence[float]) -> list[float]:
    from tears_bench.harness import parse_alphas

    return parse_alphas(value) if isinstance(value, str) else [float(a) for a in value]


class Experiment:
    """One benchmark run: dataset -> split -> summaries -> models -> tasks -> a run folder.

    Every option of `tears-bench run` is a keyword (`harness.RunConfig`'s fields: encoder, epochs,
    segments, text_head, split_seed, device, ...). `tasks`, `summaries` and `models` take a list or a
    comma-separated string; `alphas` a list of text weights in [0, 1] or a range '0:1:0.1' (default
    0, 0.1, ..., 1); `output` the run folder (default results/<run-id>). An unknown keyword raises
    TearsBenchError naming it at once; the values are checked by `run`, as the CLI checks them.
    """

    def __init__(self, dataset: str = "synthetic", summaries: str | Sequence[str] = ("template",),
                 models: str | Sequence[str] = ("tears-multvae",), tasks: str | Sequence[str] = ("flip",),
                 alphas: str | Sequence[float] | None = None, editor: str = "offline", limit: int | None = None,
                 seed: int = 0, output: str | Path | None = None, **options: Any):
        from tears_bench.harness import RunConfig

        known = {f.name for f in fields(RunConfig)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TearsBenchError(f"unknown Experiment option(s) {', '.join(unknown)}; known: "
                                  f"{', '.join(sorted(known | {'alphas'}))}")
        values = {"dataset": dataset, "summaries": summaries, "models": models, "tasks": tasks, "editor": editor,
                  "limit": limit, "seed": seed, "output": None if output is None else str(output), **options}
        for name in LIST_OPTIONS:
            values[name] = _names(values[name], name)
        if alphas is not None:
            values["alphas"] = _alphas(alphas)
        self.config: RunConfig = RunConfig(**values)

    def __repr__(self) -> str:
        return f"Experiment({self.config!r})"

    def run(self) -> Results:
        """Run every task (resuming the finished ones of an existing `output` folder); prints
        progress and the tables as `tears-bench run` does, and returns the results."""
        prefer_passive_wait()
        from tears_bench.harness import run_benchmark

        return Results(run_benchmark(self.config))


class Results:
    """A run folder (written by `Experiment.run` or `tears-bench run`) read back.

    `path`: the folder; `document`: its results.json as a dict; `tables`: task -> DataFrame;
    `report()`: the paper-style report of this run.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not (self.path / "results.json").is_file():
            raise TearsBenchError(f"{self.path} is not a finished run folder: it has no results.json")
        self._document: dict | None = None

    def __repr__(self) -> str:
        return f"Results({str(self.path)!r})"

    @property
    def document(self) -> dict:
        """results.json: {"config", "manifest", "seconds", "caveats", "models", "tasks": {task: result}}."""
        if self._document is None:
            self._document = json.loads((self.path / "results.json").read_text())
        return self._document

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """Each task's tables as one DataFrame of plain numbers (the values of tables/TASK.csv).

        flip: model, alpha, delta_up, its 95% CI, delta_down, its CI, flip_ratio, n_users (the
        reference edits as models named 'MODEL [random]' / '[oracle]'); rank: one row per model and
        alpha; a task with several tables (guided 'more' and 'less', uniqueness) stacks them, the
        first column `table` giving each row's table title.
        """
        import pandas as pd

        from tears_bench.report.views import task_tables

        out = {}
        for task, result in self.document["tasks"].items():
            frames = [(t.title, pd.DataFrame(t.rows, columns=t.columns)) for t in task_tables(task, result)]
            if len(frames) == 1:
                out[task] = frames[0][1]
            elif frames:
                out[task] = pd.concat([f.assign(table=title)[["table", *f.columns]] for title, f in frames],
                                      ignore_index=True)
        return out

    def report(self, output: str | Path | None = None, formats: str | Sequence[str] = "md,tex,csv",
               alphas: Sequence[float] = ()) -> Path:
        """Write this run's report (as `tears-bench report PATH`): tables in `formats`, figures and
        report.md; `output` defaults to PATH/report. Returns the report folder."""
        prefer_passive_wait()
        from tears_bench.report import write_report

        return Path(write_report([self.path], output=output, formats=formats, alphas=alphas)["output"])


def load_split(dataset: str = "synthetic", data_dir: str | None = None, seed: int = 42) -> Split:
    """The strong-generalization split of a dataset spec (data.get_split: built once, then cached).

    `dataset`: a registered name ('ml-1m'), a name with parameters ('synthetic:users=500,seed=3') or
    a folder of RecBole atomic files; `data_dir`: where the raw files are, for offline use.
    """
    prefer_passive_wait()
    from tears_bench.data import get_split

    return get_split(dataset, data_dir, seed=seed)


def get_summaries(split: Split, source: str = "template", *, limit: int | None = None,
                  llm_base_url: str | None = None, concurrency: int = 8,
                  timeout: float | None = None, llm_mode: str = "online") -> SummarySet:
    """The user summaries of `source` for the split (summaries.registry.get_summaries, stored once).

    `source`: 'template', 'file:PATH', 'tears-gpt4-ml-1m' or an LLM id ('openai:MODEL', ...);
    `limit`: only that many users (a seeded subset); `llm_mode`: "online" or "batch" (the
    provider's batch API: half the price, answers within 24 h). Returns a SummarySet: a mapping user index ->
    text, with `.metadata`, `.key` and `.report`.
    """
    prefer_passive_wait()
    from tears_bench.summaries.registry import get_summaries as fetch

    return fetch(split, source, llm_base_url=llm_base_url, limit=limit, concurrency=concurrency, timeout=timeout,
                 llm_mode=llm_mode)


def _is_tears(model: str) -> bool:
    from tears_bench.models.tears_trainer import TEARS_MODELS

    return model in TEARS_MODELS


def train(split: Split, model: str, summaries: Mapping[int, str] | None = None, *, config: dict | None = None,
          epochs: int | None = None, seed: int = 0, device: str = "auto",
          verbose: bool = False) -> TrainedModel | TrainedTears:
    """Train a model on the split, or load it from the cache when this exact training was done.

    A CF model ('multvae', 'ease', ...: models.trainer.get_trained) returns a TrainedModel (`.model`,
    `.metrics` with val/test, `.path`); a TEARS model ('tears-multvae', ...: tears_trainer.train_tears)
    needs `summaries` and returns a TrainedTears (`.recommender`, `.metrics` with the alpha sweep and
    best_alpha, `.path`). `config` overrides the model's defaults (for TEARS: encoder, encoder_mode,
    segments, align, text_head, ...).
    """
    prefer_passive_wait()
    if _is_tears(model):
        if summaries is None:
            raise TearsBenchError(f"{model} reads user summaries: pass summaries=get_summaries(split, ...)")
        from tears_bench.models.tears_trainer import train_tears

        options = dict(config or {}) | ({} if epochs is None else {"epochs": epochs})
        return train_tears(split, model, summaries, config=options, seed=seed, device=device, verbose=verbose,
                           progress=False)
    if summaries is not None:
        raise TearsBenchError(f"{model} is a CF model and reads no summaries: leave summaries out")
    from tears_bench.models.trainer import get_trained

    return get_trained(split, model, config=config, seed=seed, device=device, epochs=epochs, verbose=verbose,
                       progress=False)


def evaluate(trained: TrainedModel | TrainedTears, split: Split, summaries: Mapping[int, str] | None = None, *,
             part: str = "test", alpha: float | None = None) -> dict:
    """Ranking metrics of a trained model on the split's 'val' or 'test' users (models.evaluate):
    {'ndcg@10', 'ndcg@20', 'ndcg@50', 'ndcg@100', 'recall@20', 'recall@50': means, 'users': n}.

    A TEARS model ranks from the users' `summaries` (those it was trained with, or edited ones)
    mixed with their CF latent at `alpha`, the weight of the text (default: the model's best alpha
    on validation); users without a summary are left out.
    """
    if part not in ("val", "test"):
        raise TearsBenchError(f"part must be 'val' or 'test', got {part!r}")
    from tears_bench.models.evaluate import evaluate as score

    users, inputs, targets = split.part(part)
    recommender = getattr(trained, "recommender", None)
    if recommender is None:
        return score(trained.score_fn(), inputs, targets)
    if summaries is None:
        raise TearsBenchError(f"{recommender.name} ranks from summaries: pass the summaries to evaluate it on")
    alpha = float(trained.metrics["best_alpha"] if alpha is None else alpha)
    if not 0.0 <= alpha <= 1.0:
        raise TearsBenchError(f"alpha must lie in [0, 1] (the weight of the text latent), got {alpha}")

    def score_fn(x, rows):
        return recommender.recommend([summaries[int(users[r])] for r in rows], x, [alpha])[0]

    has_summary = [int(u) in summaries for u in users]
    return score(score_fn, inputs, targets, users_mask=has_summary)

"""The benchmark tasks: name -> where the function lives and what it measures.

Every task function has the same signature and return shape:

    run_<task>(models, split, summaries, editor, alphas, seed=0, limit=None, **options)
        -> (result: dict, rows: list[dict])

    models     TEARS models (a sequence of objects with `.name`, or a {name: model} mapping) with
               `text_only`, `text_latent(texts)`, `cf_latent(fold_in csr)`, `decode(z)` and
               `recommend(texts, fold_in csr, alphas) -> [A, U, I]` (fold-in items at -inf).
               A text-only model (TEARS Base) is evaluated once, under alpha key "1.0".
    split      tears_bench.data.split.Split; the task uses its test users.
    summaries  {user index (a value of split.test_users): summary text}; users without one are
               skipped and counted. uniqueness also takes {source name: {user: text}}.
    editor     an editor spec ("offline", "openai:<model>", ...) or object (tasks.editors).
    alphas     text weights in [0, 1]; result keys are f"{alpha:.1f}". guided ignores them.
    seed       every random draw (pairs, targets, bootstrap) is seeded from it, per user.
    limit      evaluate a seeded random `limit` of the test users (quick runs; tasks.common.limit_rows).

    result     JSON-ready: {MODEL: {...}, ..., "meta": {...}} (flip adds "references"; uniqueness
               is not per model). rows: per-user (or per-pair) records with the original and
               edited summaries, written as JSONL; skipped users appear with a "skipped" reason.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from tears_bench.errors import TearsBenchError


@dataclass(frozen=True)
class TaskInfo:
    name: str
    module: str
    function: str
    description: str
    needs_models: bool  # False: no model is trained (uniqueness compares summary texts only)

    def load(self) -> Callable:
        return getattr(importlib.import_module(self.module), self.function)


TASKS: dict[str, TaskInfo] = {
    "flip": TaskInfo("flip", "tears_bench.tasks.flip", "run_flip",
                     "large-scope interest flip: swap favourite and least favourite genre, gNDCG@20 deltas",
                     needs_models=True),
    "rank": TaskInfo("rank", "tears_bench.tasks.rank", "run_rank",
                     "fine-grained rank adjustment: describe a held-out item ranked 100-500, rank change",
                     needs_models=True),
    "guided": TaskInfo("guided", "tears_bench.tasks.guided", "run_guided",
                       "guided recommendation: 'More/Less {genre}' mixed with the CF latent, gNDCG@20 change",
                       needs_models=True),
    "uniqueness": TaskInfo("uniqueness", "tears_bench.tasks.uniqueness", "run_uniqueness",
                           "summary uniqueness: length, BLEU and word Levenshtein between and within users",
                           needs_models=False),
}


def get_task(name: str) -> Callable:
    """The task function of `name`; TearsBenchError listing the known tasks otherwise."""
    info = TASKS.get(str(name).strip().lower())
    if info is None:
        raise TearsBenchError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}")
    return info.load()


def parse_tasks(spec: str) -> list[str]:
    """'flip,rank' -> ['flip', 'rank'] (checked, duplicates removed, order kept); 'all' -> every task."""
    names = [n.strip().lower() for n in str(spec).split(",") if n.strip()]
    if names == ["all"]:
        return list(TASKS)
    unknown = [n for n in names if n not in TASKS]
    if unknown or not names:
        raise TearsBenchError(f"unknown task {', '.join(unknown) or repr(spec)}; known tasks: {', '.join(TASKS)}")
    return list(dict.fromkeys(names))

"""A run folder's results.json as the report reads it: a `Run`, tagged R1, R2, ... and labelled
"dataset / summarizer / editor" when several are lined up."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from tears_bench.errors import TearsBenchError
from tears_bench.report.table import source_label


@dataclass
class Run:
    path: Path
    document: dict
    tag: str = "R1"
    label: str = ""

    @property
    def config(self) -> dict:
        return self.document.get("config") or {}

    @property
    def manifest(self) -> dict:
        return self.document.get("manifest") or {}

    @property
    def models(self) -> dict:
        return self.document.get("models") or {}

    @property
    def tasks(self) -> dict:
        return self.document.get("tasks") or {}

    def task(self, name: str) -> dict | None:
        return self.tasks.get(name) or None

    @property
    def dataset(self) -> str:
        name = (self.manifest.get("dataset") or {}).get("name") or self.config.get("dataset") or "?"
        return Path(name).name if "/" in str(name) else str(name)

    @property
    def summarizer(self) -> str:
        specs = self.config.get("summaries") or list(self.manifest.get("summarizer") or {})
        if not specs:
            return "?"
        meta = (self.manifest.get("summarizer") or {}).get(specs[0]) or {}
        return source_label(meta.get("summarizer") or specs[0])

    @property
    def editor(self) -> str:
        return str(self.config.get("editor") or self.manifest.get("editor") or "?")

    def default_label(self) -> str:
        return f"{self.dataset} / {self.summarizer} / {self.editor}"


def load_run(path: str | Path) -> Run:
    """A finished run folder (its results.json); TearsBenchError naming the folder otherwise."""
    folder = Path(path)
    if not folder.is_dir():
        raise TearsBenchError(f"run folder not found: {folder}")
    results = folder / "results.json"
    if not results.is_file():
        hint = " (an interrupted run: rerun it with the same --output to finish)" if (folder / "tasks").is_dir() else ""
        raise TearsBenchError(f"{folder} is not a tears-bench run folder: it has no results.json{hint}")
    try:
        document = json.loads(results.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TearsBenchError(f"{results}: not readable JSON ({error})") from None
    if isinstance(document, dict) and "cf_backbone" in document and "sources" in document:
        raise TearsBenchError(f"{folder} is a `tears-bench compare` folder, not a run: its table and figure are "
                              f"{folder / 'compare.md'} and {folder / 'compare.png'}")
    if not isinstance(document, dict) or not ({"models", "tasks"} & set(document)):
        raise TearsBenchError(f"{results}: not a tears-bench results file (no 'models' or 'tasks')")
    return Run(folder, document)


def load_runs(paths: Sequence[str | Path]) -> list[Run]:
    if not paths:
        raise TearsBenchError("give at least one run folder")
    runs = [load_run(p) for p in paths]
    labels = [r.default_label() for r in runs]
    for i, run in enumerate(runs):
        run.tag = f"R{i + 1}"
        # Two runs of the same dataset, summarizer and editor differ by something else: say which folder.
        run.label = labels[i] if labels.count(labels[i]) == 1 else f"{labels[i]} ({run.path.name})"
    return runs


def union(lists: Iterable[Iterable[str]]) -> list[str]:
    return list(dict.fromkeys(x for items in lists for x in items))


def grouped(runs: list[Run], per_run: list[str]) -> tuple[list[str], list[tuple[str, int]]]:
    """Column names for a group of `per_run` columns per run (prefixed by the run's tag when there
    are several runs) and the LaTeX groups."""
    if len(runs) == 1:
        return list(per_run), [(runs[0].label, len(per_run))]
    return [f"{r.tag} {c}" for r in runs for c in per_run], [(f"{r.tag}: {r.label}", len(per_run)) for r in runs]


def caveat_lines(runs: list[Run]) -> list[str]:
    """Each run's caveats (results.json), once per distinct text, naming the runs it concerns."""
    by_text: dict[str, list[str]] = {}
    for run in runs:
        for caveat in run.document.get("caveats") or []:
            by_text.setdefault(caveat, []).append(run.tag)
    return [f"Caveat ({', '.join(tags)}): {text}" if len(runs) > 1 else f"Caveat: {text}"
            for text, tags in by_text.items()]


def panel_title(run: Run, runs: list[Run]) -> str:
    """A figure panel's run line: its label alone, or its tag and label among several runs."""
    return run.label if len(runs) == 1 else f"{run.tag}: {run.label}"

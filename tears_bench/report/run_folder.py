"""Writing a run folder: results.json, per-task JSON and per-user JSONL, tables, figures (each task's
tables and figure come from its view, tears_bench/report/views.py).

Layout of `DIR`:
    results.json          {"config", "manifest", "models", "tasks": {TASK: result}}
    tasks/TASK.json       one finished task (its key and result), written as soon as it ends
    rows/TASK.jsonl       per-user rows: user, model, alpha, original and edited summary, figures
    tables/TASK.csv|.md   the task's tables
    figures/TASK.png      the task's figure
"""
from __future__ import annotations

import json
import shutil
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from tears_bench.manifest import device_description, git_commit, package_versions
from tears_bench.report.runs import Run
from tears_bench.report.views import task_tables, view
from tears_bench.storage import atomic_write_json, atomic_write_text

# Held-out targets vs. summaries on data without time: see docs/decisions.md, "Caveats of ml-1m-positives".
NO_TIMESTAMPS_CAVEAT = (
    "{dataset} has no timestamps, so the split's fold-in and held-out targets are a seeded random sample of "
    "each user's ratings, not past and future: summaries written from the earliest ratings by time (the "
    "authors' GPT-4 summaries of ML-1M: each user's first 50) overlap the held-out targets they are tested on.")
# Task results the caveat is about (uniqueness only compares summaries with each other).
CAVEAT_TASKS = ("flip", "rank", "guided")
# Most users skipped: the reasons explained (tasks/editors/base.py names them).
SKIP_EXPLAINED = {
    "editor could not find two genres": "the {editor} editor found no liked and disliked genre pair in the summary",
    "no summary": "no summary",
}
OFFLINE_NEEDS = " (it needs summaries that state dislikes)"


@contextmanager
def run_folder(out: Path):
    """Remove `out` again when the run fails before writing a file into it (and it did not exist)."""
    existed = Path(out).exists()
    try:
        yield
    except BaseException:
        if not existed and Path(out).is_dir() and not any(p.is_file() for p in Path(out).rglob("*")):
            shutil.rmtree(out, ignore_errors=True)
        raise


def caveats(dataset_manifest: dict | None) -> list[str]:
    """What every result on this dataset must be read with (empty when nothing to say)."""
    dataset = dataset_manifest or {}
    stats = dataset.get("stats") or {}
    if stats.get("has_timestamps", True):
        return []
    return [NO_TIMESTAMPS_CAVEAT.format(dataset=dataset.get("name") or "the dataset")]


def skip_lines(done: dict, editor: str = "offline") -> list[str]:
    """One line per task that skipped more than half its test users, with the count and why."""
    lines = []
    for task, saved in done.items():
        meta = (saved.get("result") or saved).get("meta") or {}
        total, skipped = meta.get("n_test_users"), meta.get("skipped") or {}
        count = sum(int(n) for n in skipped.values())
        if not total or count * 2 <= total:
            continue
        reason = max(skipped, key=lambda r: skipped[r])
        why = SKIP_EXPLAINED.get(reason, reason).format(editor=editor)
        if reason.startswith("editor could not") and editor == "offline":
            why += OFFLINE_NEEDS
        lines.append(f"{task}: {count} of {total} test users skipped: {why}"
                     + (f" ({skipped[reason]} of them)" if len(skipped) > 1 else ""))
    return lines


def load_task(out: Path, task: str, key: str) -> dict | None:
    path = out / "tasks" / f"{task}.json"
    try:
        saved = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return saved if saved.get("key") == key else None


def save_task(out: Path, task: str, key: str, result: dict, rows: list[dict]) -> dict:
    lines = "".join(json.dumps(row, ensure_ascii=False, default=_plain) + "\n" for row in rows)
    atomic_write_text(out / "rows" / f"{task}.jsonl", lines)
    saved = {"key": key, "result": result, "rows": f"rows/{task}.jsonl", "n_rows": len(rows)}
    atomic_write_json(out / "tasks" / f"{task}.json", saved)
    return saved


def _plain(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def manifest(config, split, sources, models) -> dict:
    import torch

    from tears_bench.device import resolve_device

    dataset = None if split is None else {  # uniqueness of summary files reads no dataset
        "name": split.dataset, "spec": config.dataset, "split_hash": split.hash, **split.sizes(),
        "stats": {k: v for k, v in split.dataset_stats.items() if k != "genres"}}
    return {
        "packages": package_versions(), "git_commit": git_commit(),
        "seeds": {"run": config.seed, "split": config.split_seed},
        "dataset": dataset,
        "device": device_description(resolve_device(config.device)), "torch_threads": torch.get_num_threads(),
        "editor": config.editor,
        "summarizer": {spec: {**s.metadata, "key": s.key, "n_users": len(s)} for spec, s in sources.items()},
        "models": {name: {"key": m.key, "encoder": m.metrics.get("encoder")} for name, m in models.items()},
    }


def model_summary(models) -> dict:
    keep = ("best_alpha", "val", "test", "by_alpha", "baseline", "config", "users_without_summary")
    return {name: {k: m.metrics.get(k) for k in keep} for name, m in models.items()}


def write_run(out: Path, config, manifest_: dict, models: dict, done: dict, seconds: float) -> None:
    tasks = {task: saved["result"] for task, saved in done.items()}
    notes = caveats(manifest_.get("dataset"))
    for task, result in tasks.items():
        if task in CAVEAT_TASKS and notes:
            result.setdefault("meta", {})["caveats"] = notes
    document = {"config": asdict(config), "manifest": manifest_, "seconds": round(seconds, 1),
                "caveats": notes, "models": model_summary(models), "tasks": tasks}
    for task, result in tasks.items():
        tables = task_tables(task, result)
        atomic_write_text(out / "tables" / f"{task}.md", "\n\n".join(t.markdown() for t in tables) + "\n")
        atomic_write_text(out / "tables" / f"{task}.csv", "\n".join(t.csv() for t in tables))
        write_figure(out, task, document)
    atomic_write_json(out / "results.json", document)


def write_figure(out: Path, task: str, document: dict) -> Path | None:
    """figures/TASK.png: the task's figure (the one the report draws), with its caption."""
    from tears_bench.report.figures import add_caption, save_figure

    build = view(task).figure
    run = Run(out, document)
    run.label = run.default_label()
    fig = build([run]) if build else None
    if fig is None:
        return None
    add_caption(fig, document["tasks"][task])
    return save_figure(fig, out / "figures", task, suffixes=(".png",), dpi=120)[0]


def render_text(task: str, result: dict) -> str:
    return "\n\n".join(t.text() for t in task_tables(task, result))

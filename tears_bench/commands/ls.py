"""`tears-bench ls`: what the suite can run (datasets, models, tasks, summarizers, editors)."""
from __future__ import annotations

import importlib


def register(subparsers) -> None:
    parser = subparsers.add_parser("ls", help="list datasets, models, tasks, summarizers and editors")
    parser.set_defaults(func=run)


# (heading, module, registry attribute): each registry maps a name to an object with a description.
REGISTRIES = [
    ("datasets", "tears_bench.data.registry", "DATASETS"),
    ("models", "tears_bench.models.registry", "MODELS"),
    ("tasks", "tears_bench.tasks.registry", "TASKS"),
    ("summarizers", "tears_bench.summaries.registry", "SUMMARIZERS"),
    ("editors", "tears_bench.tasks.editors", "EDITORS"),
]


def _description(entry) -> str:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict):
        return entry.get("description", "")
    return getattr(entry, "description", "") or (entry.__doc__ or "").strip().splitlines()[0]


def run(args) -> int:
    for heading, module, attribute in REGISTRIES:
        try:
            registry = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError):
            continue
        print(f"{heading}:")
        width = max(len(name) for name in registry)
        for name, entry in registry.items():
            print(f"  {name:<{width}}  {_description(entry)}")
        print()
    print("datasets may also be a folder of RecBole atomic files (NAME.inter, NAME.item)")
    return 0

"""`tears-bench compare`: judge summarizers against each other on one split and one CF backbone.

    run_compare(RunConfig(summaries=["template", "file:mine.json"], dataset="ml-1m"))

A recipe on the run pipeline (`harness`): the same options (RunConfig), validation, run id and
manifest. For every summary source, the pipeline's stages run with that source alone: the same
split, TEARS trained with the same config and seed, so every source shares the same pre-trained CF
VAE underneath (models.trainer caches it by split + config + seed; results.json records its key per
source and checks it is one). Then, per source and model: test accuracy at alpha 1 (text only) and
at the model's best alpha (chosen on validation NDCG@20), the flip task at alpha 1 and at the best
alpha (same editor), and summary uniqueness between test users. Uniqueness uses the test users that
every source covers, so all sources are measured on the same users and pairs; within-user similarity
between the sources is reported too. Writes OUTPUT/results.json, compare.md|.csv|.tex,
compare.png|.pdf and rows/flip.jsonl; prints the table.
"""
from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

from tears_bench import harness
from tears_bench.errors import TearsBenchError
from tears_bench.options import COMPARE, RunConfig, recorded_config
from tears_bench.report.table import ALPHA_NOTE, Table as ReportTable
from tears_bench.storage import atomic_write_json, atomic_write_text, check_writable_dir
from tears_bench.report.table import is_thin, source_label

TASKS = ["flip", "uniqueness"]  # what a comparison runs; its alphas are 1 and each model's best


def _log(message: str) -> None:
    print(f"[tears-bench] {message}", flush=True)


def validate(config: RunConfig) -> None:
    """The run pipeline's validation, plus what a comparison needs: two distinct sources."""
    from tears_bench.summaries.registry import resolve

    if len(config.summaries) < 2:
        raise TearsBenchError(f"--summaries needs at least two sources to compare, got {config.summaries or 'none'}")
    names = [resolve(spec).name for spec in config.summaries]  # 'offline' is 'template'
    if len(set(names)) != len(names):
        raise TearsBenchError(f"--summaries lists a source twice: {','.join(config.summaries)}")
    harness.validate(config)


def run_compare(config: RunConfig) -> Path:
    """Train, evaluate and write the comparison; returns the output folder."""
    from tears_bench import distributed
    from tears_bench.report import run_folder as results

    if distributed.launched():  # every process would write the comparison: docs/distributed.md
        raise TearsBenchError("compare runs as one process; under torchrun only train and run do")
    config = replace(config, tasks=list(TASKS))  # config.tasks and config.alphas are the recipe's own
    out = harness.output_folder(config, "compare")
    # Before validation, which may read the sources: an unwritable --output is reported first.
    check_writable_dir(out, "--output" if config.output else "results folder")
    validate(config)
    with results.run_folder(out):  # a compare that fails before writing anything leaves no empty folder
        return _compare_into(out, config, results)


def _compare_into(out: Path, config: RunConfig, results) -> Path:
    from tears_bench.manifest import public_config
    from tears_bench.report.compare import compare_figure
    from tears_bench.report.figures import save_figure
    from tears_bench.tasks.editors import get_editor
    from tears_bench.tasks.uniqueness import run_uniqueness

    started = time.perf_counter()
    split = harness.load_split(config)
    sources, entries, rows = {}, {}, []
    for spec in config.summaries:
        one = replace(config, summaries=[spec])  # the pipeline with this source alone
        sources.update(harness.load_summaries(one, split))
        models = harness.train_models(one, split, sources[spec])
        entries[spec] = {"summarizer": {**sources[spec].metadata, "key": sources[spec].key,
                                        "n_users": len(sources[spec])},
                         "models": {name: _evaluate(one, split, {spec: sources[spec]}, name, trained, rows)
                                    for name, trained in models.items()}}

    uniqueness = _uniqueness(split, sources, config, run_uniqueness)
    for spec in config.summaries:
        entries[spec]["uniqueness"] = uniqueness["by_source"].get(spec)
    backbones = {name: sorted({entries[s]["models"][name]["cf_key"] for s in config.summaries} - {None})
                 for name in config.models}
    shown = public_config(config)  # no credentials of --llm-base-url on disk
    manifest = results.manifest(shown, split, sources, {})
    manifest.pop("models")  # one model per source and name: their keys are under "sources"
    manifest["editor"] = get_editor(  # the compare table names its spec
        config.editor, base_url=config.llm_base_url, concurrency=config.concurrency, timeout=config.llm_timeout,
        llm_mode=config.llm_mode).describe()
    document = {
        "config": recorded_config(shown, COMPARE),
        "manifest": manifest,
        "cf_backbone": {name: {"keys": keys, "shared": len(keys) <= 1} for name, keys in backbones.items()},
        "sources": entries,
        "within_user": uniqueness["within_user"],
        "uniqueness_users": uniqueness["n_users"],
        "caveats": results.caveats(manifest["dataset"]),
        "seconds": round(time.perf_counter() - started, 1),
    }
    table = compare_table(document)
    atomic_write_json(out / "results.json", document)
    atomic_write_text(out / "rows" / "flip.jsonl", "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n"
                                                          for r in rows))
    atomic_write_text(out / "compare.md", table.markdown() + "\n")
    atomic_write_text(out / "compare.csv", table.csv())
    atomic_write_text(out / "compare.tex", table.latex() + "\n")
    save_figure(compare_figure(document), out, "compare")
    print()
    print(table.text())
    flips = {f"flip ({entries[s]['summarizer'].get('summarizer', s)}, {name})":
             {"meta": {"n_test_users": (m["flip_alpha_1"].get("n_users") or 0) + sum(m["flip_skipped"].values()),
                       "skipped": m["flip_skipped"]}} for s in config.summaries for name, m in entries[s]["models"].items()}
    for line in results.skip_lines(flips, config.editor):
        print(line)
    print(f"\nresults: {out / 'results.json'}; table {out / 'compare.md'}; figure {out / 'compare.png'}")
    return out


def _evaluate(config: RunConfig, split, sources: dict, name: str, trained, rows: list) -> dict:
    """One source's model: its accuracy, and the run pipeline's flip task at alpha 1 and its best alpha
    (per-user rows appended to `rows`, tagged with the source)."""
    spec = config.summaries[0]
    best = float(trained.metrics["best_alpha"])
    flip, flip_rows = harness.run_task("flip", replace(config, alphas=sorted({1.0, best})), split, sources,
                                       {name: trained})
    rows += [{"source": spec, **row} for row in flip_rows]
    entry = _model_entry(trained, trained.metrics, best, flip.get(name) or {}, flip.get("meta") or {})
    _log(f"{spec} / {name}: test NDCG@20 {_fmt(entry['alpha_1'].get('ndcg@20'))} at alpha 1, "
         f"{_fmt(entry['best'].get('ndcg@20'))} at best alpha {best:.1f}; flip at alpha 1 "
         f"{_fmt(entry['flip_alpha_1'].get('delta_up'))} / {_fmt(entry['flip_alpha_1'].get('delta_down'))}")
    return entry


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def _model_entry(trained, metrics: dict, best: float, flip: dict, meta: dict) -> dict:
    by_alpha = metrics.get("by_alpha") or {}
    baseline = metrics.get("baseline") or {}
    return {
        "key": trained.key, "best_alpha": best,
        "alpha_1": (by_alpha.get("1.0") or {}).get("test") or {},
        "best": metrics.get("test") or {},
        "val_best": metrics.get("val") or {},
        "cf_only": baseline.get("test"), "cf_model": baseline.get("model"), "cf_key": baseline.get("key"),
        "flip_alpha_1": flip.get("1.0") or {}, "flip_best": flip.get(f"{best:.1f}") or {},
        "flip_skipped": meta.get("skipped") or {},
        "users_without_summary": metrics.get("users_without_summary") or {},
    }


def _uniqueness(split, sources: dict, config: RunConfig, run_uniqueness) -> dict:
    """Between-user uniqueness of each source on the test users every source covers (same users,
    same random pairs), and within-user similarity between the sources."""
    from tears_bench.tasks.common import limit_users

    test = [int(u) for u in limit_users(split.test_users, config.limit, config.seed)]  # the flip task's users
    common = [u for u in test if all(isinstance(s.texts.get(u), str) and s.texts[u].strip() for s in sources.values())]
    by_source = {}
    for spec, summaries in sources.items():
        result, _ = run_uniqueness(None, split, None, None, None, seed=config.seed,
                                   sources={spec: {u: summaries.texts[u] for u in common}}, pairs=config.pairs)
        by_source[spec] = {"length": result["length"][spec], "between_users": result["between_users"]}
    within, _ = run_uniqueness(None, split, None, None, None, seed=config.seed, pairs=0,
                               sources={spec: {u: s.texts[u] for u in common} for spec, s in sources.items()})
    return {"by_source": by_source, "within_user": within.get("within_user"), "n_users": len(common)}


COLUMNS = [
    ("source", None), ("model", None), ("test users", None),
    ("NDCG@20 α=1", "max"), ("Recall@20 α=1", "max"), ("best α", None), ("NDCG@20 best α", "max"),
    ("Recall@20 best α", "max"), ("Δ-up α=1", "max"), ("Δ-down α=1", "max"), ("flip ratio α=1", "max"),
    ("flip users", None), ("BLEU between users", "min"), ("edit distance between users", "max"), ("words", None),
    ("uniqueness users", None),
]
FLIP_CELLS, UNIQUENESS_CELLS = (8, 9, 10), (12, 13, 14)


def compare_table(document: dict) -> ReportTable:
    rows = []
    for spec, source in document["sources"].items():
        unique = source.get("uniqueness") or {}
        between = unique.get("between_users") or {}
        for name, m in source["models"].items():
            rows.append([source_label((source.get("summarizer") or {}).get("summarizer") or spec), name,
                         m["best"].get("n_users"),
                         m["alpha_1"].get("ndcg@20"), m["alpha_1"].get("recall@20"), f"{m['best_alpha']:.1f}",
                         m["best"].get("ndcg@20"), m["best"].get("recall@20"),
                         m["flip_alpha_1"].get("delta_up"), m["flip_alpha_1"].get("delta_down"),
                         m["flip_alpha_1"].get("flip_ratio"), m["flip_alpha_1"].get("n_users"),
                         between.get("bleu_mean"), between.get("levenshtein_mean"),
                         (unique.get("length") or {}).get("mean"), between.get("n_users")])
    thin = {(r, c) for r, row in enumerate(rows) if is_thin(row[11]) for c in FLIP_CELLS}
    thin |= {(r, c) for r, row in enumerate(rows) if is_thin(row[15]) for c in UNIQUENESS_CELLS}
    notes = [f"Same split ({document['manifest']['dataset']['split_hash']}) and CF backbone for every source; "
             f"{ALPHA_NOTE}; best alpha chosen on validation NDCG@20.",
             f"Flip with the {document['manifest']['editor'].get('spec', '?')} editor (gNDCG@20 deltas, larger = "
             f"better). Uniqueness on the {document['uniqueness_users']} test users every source covers (BLEU: "
             f"lower = more unique; word edit distance: larger = more unique)."]
    for name, backbone in document["cf_backbone"].items():
        if not backbone["shared"]:
            notes.append(f"Warning: the sources did not share one {name} CF backbone ({', '.join(backbone['keys'])}).")
    notes += [f"Caveat: {c}" for c in document.get("caveats") or []]
    return ReportTable("Summarizers compared", [c for c, _ in COLUMNS], rows, name="compare", lead=2,
                       best={i: d for i, (_, d) in enumerate(COLUMNS) if d}, thin=thin, notes=notes)

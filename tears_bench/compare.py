"""`tears-bench compare`: judge summarizers against each other on one split and one CF backbone.

    run_compare(CompareConfig(summaries=["template", "file:mine.json"], dataset="ml-1m"))

For every summary source: TEARS is trained on that source's summaries, on the same split, with the
same config and seed, so every source shares the same pre-trained CF VAE underneath (models.trainer
caches it by split + config + seed; results.json records its key per source and checks it is one).
Then, per source and model: test accuracy at alpha 1 (text only) and at the model's best alpha
(chosen on validation NDCG@20), the flip task at alpha 1 and at the best alpha (same editor), and
summary uniqueness between test users. Uniqueness uses the test users that every source covers,
so all sources are measured on the same users and pairs; within-user similarity between the
sources is reported too. Writes OUTPUT/results.json, compare.md|.csv|.tex, compare.png|.pdf and
rows/flip.jsonl; prints the table.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tears_bench.errors import TearsBenchError
from tears_bench.report import ALPHA_NOTE, ReportTable
from tears_bench.storage import atomic_write_json, atomic_write_text
from tears_bench.tables import is_thin, source_label


@dataclass
class CompareConfig:
    summaries: list[str]
    dataset: str = "synthetic"
    data_dir: str | None = None
    models: list[str] = field(default_factory=lambda: ["tears-multvae"])
    editor: str = "offline"
    encoder: str = "minilm"
    encoder_mode: str = "frozen"
    align: str = "ot"
    epochs: int | None = None
    limit: int | None = None
    seed: int = 0
    split_seed: int = 42
    device: str = "auto"
    llm_base_url: str | None = None
    llm_timeout: float | None = None  # seconds per LLM request (None: 120)
    concurrency: int = 8
    pairs: int = 2000
    output: str | None = None
    allow_partial: bool = False  # sources covering under 90% of the split's users

    def run_id(self) -> str:
        dataset = Path(self.dataset).name if "/" in self.dataset else self.dataset.split(":")[0]
        return f"{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}-{dataset}"


def _log(message: str) -> None:
    print(f"[tears-bench] {message}", flush=True)


def validate(config: CompareConfig) -> None:
    from tears_bench.models.tears_trainer import TEARS_MODELS
    from tears_bench.tasks.editors import get_editor
    from tears_bench.summaries.registry import resolve

    if len(config.summaries) < 2:
        raise TearsBenchError(f"--summaries needs at least two sources to compare, got {config.summaries or 'none'}")
    names = [resolve(spec).name for spec in config.summaries]  # 'offline' is 'template'
    if len(set(names)) != len(names):
        raise TearsBenchError(f"--summaries lists a source twice: {','.join(config.summaries)}")
    bad = [m for m in config.models if m not in TEARS_MODELS]
    if bad or not config.models:
        raise TearsBenchError(f"unknown model(s) {bad or 'none'} for `compare`; known: {', '.join(TEARS_MODELS)}")
    if config.limit is not None and config.limit < 1:
        raise TearsBenchError(f"--limit must be at least 1, got {config.limit}")
    if config.pairs < 0:
        raise TearsBenchError(f"--pairs must be >= 0, got {config.pairs}")
    get_editor(config.editor, base_url=config.llm_base_url, concurrency=config.concurrency, timeout=config.llm_timeout)


def run_compare(config: CompareConfig) -> Path:
    """Train, evaluate and write the comparison; returns the output folder."""
    from tears_bench.models.tears_trainer import resolve_device, train_tears
    from tears_bench.tasks.editors import get_editor
    from tears_bench.tasks.flip import run_flip
    from tears_bench.tasks.uniqueness import run_uniqueness
    from tears_bench.data import get_split
    from tears_bench.manifest import device_description, git_commit, package_versions, public_config
    from tears_bench.report_figures import compare_figure, save_figure
    from tears_bench.results import caveats, skip_lines
    from tears_bench.summaries.registry import check_coverage, get_summaries

    validate(config)
    # Created by the first write, at the end: a compare that fails leaves no empty folder behind.
    out = Path(config.output) if config.output else Path("results") / f"compare-{config.run_id()}"
    started = time.perf_counter()
    split = get_split(config.dataset, config.data_dir, seed=config.split_seed)
    _log(f"split {split.hash} of {split.dataset}: {len(split.train_users)} train / {len(split.val_users)} val / "
         f"{len(split.test_users)} test users, {split.n_items} items")
    editor = get_editor(config.editor, base_url=config.llm_base_url, concurrency=config.concurrency,
                        timeout=config.llm_timeout)
    options = {"encoder": config.encoder, "encoder_mode": config.encoder_mode, "align": config.align,
               "epochs": config.epochs}
    sources, results, rows = {}, {}, []
    for spec in config.summaries:
        step = time.perf_counter()
        summaries = get_summaries(split, spec, llm_base_url=config.llm_base_url, concurrency=config.concurrency,
                                  timeout=config.llm_timeout)
        if not len(summaries):
            raise TearsBenchError(f"summary source {spec} has no summary for any user of {split.dataset}")
        check_coverage(split, summaries, spec, config.allow_partial)
        sources[spec] = summaries
        _log(f"summaries {spec}: {len(summaries)} users ({time.perf_counter() - step:.1f}s)")
        per_model = {}
        for name in config.models:
            step = time.perf_counter()
            trained = train_tears(split, name, summaries, config=options, seed=config.seed, device=config.device,
                                  verbose=False, progress=True)  # epoch bars on a terminal only
            metrics = trained.metrics
            best = float(metrics["best_alpha"])
            alphas = sorted({1.0, best})
            flip, flip_rows = run_flip({name: trained.recommender}, split, summaries, editor, alphas,
                                       seed=config.seed, limit=config.limit)
            rows += [{"source": spec, **row} for row in flip_rows]
            per_model[name] = _model_entry(trained, metrics, best, flip.get(name) or {}, flip.get("meta") or {})
            state = "cached" if trained.from_cache else f"trained in {time.perf_counter() - step:.1f}s"
            _log(f"{spec} / {name} ({state}): test NDCG@20 {_fmt(per_model[name]['alpha_1']['ndcg@20'])} at alpha 1, "
                 f"{_fmt(per_model[name]['best']['ndcg@20'])} at best alpha {best:.1f}; flip at alpha 1 "
                 f"{_fmt(per_model[name]['flip_alpha_1'].get('delta_up'))} / "
                 f"{_fmt(per_model[name]['flip_alpha_1'].get('delta_down'))}")
        results[spec] = {"summarizer": {**sources[spec].metadata, "key": sources[spec].key, "n_users": len(summaries)},
                         "models": per_model}

    uniqueness = _uniqueness(split, sources, config, run_uniqueness)
    for spec in config.summaries:
        results[spec]["uniqueness"] = uniqueness["by_source"].get(spec)
    backbones = {name: sorted({results[s]["models"][name]["cf_key"] for s in config.summaries} - {None})
                 for name in config.models}
    document = {
        "config": asdict(public_config(config)),  # no credentials of --llm-base-url on disk
        "manifest": {"packages": package_versions(), "git_commit": git_commit(),
                     "seeds": {"run": config.seed, "split": config.split_seed},
                     "dataset": {"name": split.dataset, "spec": config.dataset, "split_hash": split.hash,
                                 **split.sizes()},
                     "device": device_description(resolve_device(config.device)), "editor": editor.describe()},
        "cf_backbone": {name: {"keys": keys, "shared": len(keys) <= 1} for name, keys in backbones.items()},
        "sources": results,
        "within_user": uniqueness["within_user"],
        "uniqueness_users": uniqueness["n_users"],
        "caveats": caveats({"name": split.dataset, "stats": split.dataset_stats}),
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
    flips = {f"flip ({results[s]['summarizer'].get('summarizer', s)}, {name})":
             {"meta": {"n_test_users": (m["flip_alpha_1"].get("n_users") or 0) + sum(m["flip_skipped"].values()),
                       "skipped": m["flip_skipped"]}} for s in config.summaries for name, m in results[s]["models"].items()}
    for line in skip_lines(flips, config.editor):
        print(line)
    print(f"\nresults: {out / 'results.json'}; table {out / 'compare.md'}; figure {out / 'compare.png'}")
    return out


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


def _uniqueness(split, sources: dict, config: CompareConfig, run_uniqueness) -> dict:
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

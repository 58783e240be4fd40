"""`tears-bench run`: dataset -> split -> summaries -> models -> tasks -> results, every stage cached.

`run_benchmark(RunConfig(...))` is the Python API behind the command. Each finished task is saved
in the run folder at once (atomically), so an interrupted run, rerun with the same --output,
redoes only the tasks that had not finished; the stages before (split, summaries, embeddings,
trained models, LLM answers) come from their own caches.

Under torchrun (docs/distributed.md) every process takes part in training the models; rank 0 alone
builds the split and fetches the summaries first (the others then read them from the cache), runs
the tasks, writes the run folder and prints. The other ranks return once the models are trained.
"""
from __future__ import annotations

import time
from pathlib import Path

from tears_bench import distributed as dist
from tears_bench.errors import TearsBenchError
# RunConfig and parse_alphas live with the flags generated from them; harness.* stays their API name.
from tears_bench.options import RunConfig, parse_alphas  # noqa: F401
from tears_bench.storage import check_writable_dir


def validate(config: RunConfig) -> None:
    """The one check of a config, for `run`, `compare` and the Python API: a TearsBenchError naming
    the first bad option, before anything is computed."""
    from tears_bench.models.tears_trainer import TEARS_MODELS
    from tears_bench.tasks.editors import get_editor
    from tears_bench.tasks.registry import TASKS

    unknown = [t for t in config.tasks if t not in TASKS]
    if unknown or not config.tasks:
        raise TearsBenchError(f"unknown task(s) {unknown or config.tasks}; known: {', '.join(TASKS)}")
    bad_models = [m for m in config.models if m not in TEARS_MODELS]
    if bad_models or not config.models:
        raise TearsBenchError(f"unknown model(s) {bad_models or 'none'}; known: {', '.join(TEARS_MODELS)}")
    bad_alphas = [a for a in config.alphas if not 0.0 <= a <= 1.0]
    if bad_alphas or not config.alphas:
        raise TearsBenchError(f"alphas must lie in [0, 1] (the weight of the text latent), got {bad_alphas or 'none'}")
    if config.limit is not None and config.limit < 1:
        raise TearsBenchError(f"--limit must be at least 1, got {config.limit}")
    if config.pairs < 0:
        raise TearsBenchError(f"--pairs must be >= 0, got {config.pairs}")
    if config.llm_timeout is not None and not config.llm_timeout > 0:
        raise TearsBenchError(f"--llm-timeout must be a positive number of seconds, got {config.llm_timeout}")
    check_llm_mode(config)
    get_editor(config.editor, base_url=config.llm_base_url, concurrency=config.concurrency,
               timeout=config.llm_timeout, llm_mode=config.llm_mode)
    from tears_bench.data.registry import check_spec
    check_spec(config.dataset)
    from tears_bench.models.losses import LOSS_SCALES
    from tears_bench.tasks.guided import CONTROLS
    if config.loss_scale not in LOSS_SCALES:
        raise TearsBenchError(f"unknown loss scale {config.loss_scale!r}; known: {', '.join(LOSS_SCALES)}")
    if config.guided_control not in CONTROLS:
        raise TearsBenchError(f"unknown guided control {config.guided_control!r}; known: {', '.join(CONTROLS)}")
    from tears_bench.models.tears_trainer import check_text_head
    check_text_head({"text_head": config.text_head, "text_queries": 4, "encoder_mode": config.encoder_mode,
                      "segments": config.segments})


def check_llm_mode(config: RunConfig) -> None:
    """--llm-mode batch needs every LLM of the run (summarizers, editor) to have a batch API: hf: has none."""
    from tears_bench.llm.base import PROVIDERS
    from tears_bench.llm.batch import check_batch_provider, check_mode

    check_mode(config.llm_mode)
    if config.llm_mode == "batch":
        for spec in [*config.summaries, config.editor]:
            if spec.partition(":")[0].strip().lower() in PROVIDERS:
                check_batch_provider(spec)


def output_folder(config: RunConfig, label: str | None = None) -> Path:
    """--output, or results/<run id> (the id ends with `label`, or the tasks)."""
    return Path(config.output) if config.output else Path("results") / config.run_id(label)


def _log(message: str) -> None:
    if dist.is_main():  # under torchrun one process reports
        print(f"[tears-bench] {message}", flush=True)


def load_split(config: RunConfig):
    """The split of config.dataset at config.split_seed (cached)."""
    from tears_bench.data import get_split

    started = time.perf_counter()
    split = get_split(config.dataset, config.data_dir, seed=config.split_seed)
    _log(f"split {split.hash} of {split.dataset}: {len(split.train_users)} train / {len(split.val_users)} val / "
         f"{len(split.test_users)} test users, {split.n_items} items ({time.perf_counter() - started:.1f}s)")
    return split


def load_summaries(config: RunConfig, split) -> dict:
    """Each source of config.summaries on the split: {spec: summaries}, refused when it covers
    none of the split's users, or under 90% of them without config.allow_partial."""
    from tears_bench.summaries.registry import check_coverage, get_summaries

    sources = {}
    for spec in config.summaries:
        started = time.perf_counter()
        sources[spec] = get_summaries(split, spec, llm_base_url=config.llm_base_url, users=None,
                                      concurrency=config.concurrency, timeout=config.llm_timeout,
                                      llm_mode=config.llm_mode)
        if not len(sources[spec]):
            raise TearsBenchError(f"summary source {spec} has no summary for any user of {split.dataset}")
        check_coverage(split, sources[spec], spec, config.allow_partial)
        _log(f"summaries {spec}: {len(sources[spec])} users ({time.perf_counter() - started:.1f}s)")
    return sources


def train_models(config: RunConfig, split, summaries) -> dict:
    """Every model of config.models trained on `summaries` (or from the cache): {name: TrainedTears}."""
    from tears_bench.models.tears_trainer import train_tears

    models = {}
    for name in config.models:
        started = time.perf_counter()
        trained = train_tears(split, name, summaries, config=config.model_options(), seed=config.seed,
                              device=config.device, verbose=False, progress=True)  # epoch bars on a terminal only
        models[name] = trained
        state = "cached" if trained.from_cache else f"trained in {time.perf_counter() - started:.1f}s"
        test = trained.metrics["test"]
        _log(f"model {name} ({state}): test NDCG@20 {test['ndcg@20']:.4f} at best alpha "
             f"{trained.metrics['best_alpha']:.1f}")
    return models


def prepare(config: RunConfig):
    """The split, the summary sources and the trained models the tasks need."""
    from tears_bench.tasks.registry import TASKS
    from tears_bench.tasks.uniqueness import needs_split, summary_sources

    needs_models = any(TASKS[t].needs_models for t in config.tasks)
    if needs_models:
        with dist.main_first():  # rank 0 builds and caches the split, the others read it
            split = load_split(config)
        # Rank 0 fetches the summaries (an LLM is asked once) and sends them to the others.
        sources = dist.from_main_object(lambda: load_summaries(config, split))
        return split, sources, train_models(config, split, sources[config.summaries[0]])
    # uniqueness of summary files needs no dataset
    split = load_split(config) if needs_split(config.summaries) else None
    started = time.perf_counter()
    sources = summary_sources(config.summaries, split, llm_base_url=config.llm_base_url,
                              concurrency=config.concurrency, timeout=config.llm_timeout,
                              llm_mode=config.llm_mode)
    _log(f"summaries: {', '.join(f'{s.label} {len(s)} users' for s in sources.values())} "
         f"({time.perf_counter() - started:.1f}s)")
    return split, sources, {}


def run_task(task: str, config: RunConfig, split, sources, models) -> tuple[dict, list[dict]]:
    from tears_bench.tasks.editors import get_editor
    from tears_bench.tasks.registry import get_task

    function = get_task(task)
    summaries = sources[config.summaries[0]]
    editor = get_editor(config.editor, base_url=config.llm_base_url, concurrency=config.concurrency,
                        timeout=config.llm_timeout, llm_mode=config.llm_mode)
    recommenders = {name: trained.recommender for name, trained in models.items()}
    if task == "uniqueness":
        from tears_bench.tasks.uniqueness import MIN_SHARED_USERS, UserTexts, summary_sources

        if not all(isinstance(s, UserTexts) for s in sources.values()):  # a run that also trained models
            sources = summary_sources(config.summaries, split, llm_base_url=config.llm_base_url,
                                      concurrency=config.concurrency, timeout=config.llm_timeout,
                                      llm_mode=config.llm_mode)
        return function(None, split, None, None, None, seed=config.seed, limit=config.limit, pairs=config.pairs,
                        sources={s.label: dict(s) for s in sources.values()}, min_users=MIN_SHARED_USERS)
    options = {"control": config.guided_control} if task == "guided" else {}
    return function(recommenders, split, summaries, editor, config.alphas, seed=config.seed, limit=config.limit,
                    **options)


def run_benchmark(config: RunConfig) -> Path:
    """Run every task of the config; returns the run folder."""
    from tears_bench.report import run_folder as results

    validate(config)
    dist.setup(config.device)  # joins torchrun's process group when torchrun started this process
    out = output_folder(config)
    if not dist.is_main():
        _train_only(config)
        return out
    check_writable_dir(out, "--output" if config.output else "results folder")
    with results.run_folder(out):  # a run that fails before writing anything leaves no empty folder
        return _run_into(out, config, results)


def _train_only(config: RunConfig) -> None:
    """A rank other than 0: its part of training the models; rank 0 alone runs the tasks."""
    from tears_bench.tasks.registry import TASKS

    if any(TASKS[t].needs_models for t in config.tasks):
        prepare(config)


def _run_into(out: Path, config: RunConfig, results) -> Path:
    started = time.perf_counter()
    split, sources, models = prepare(config)
    done = {}
    for task in config.tasks:
        saved = results.load_task(out, task, config.task_key(task))
        if saved is not None:
            _log(f"task {task}: already done in {out}, reused")
            done[task] = saved
            continue
        task_started = time.perf_counter()
        result, rows = run_task(task, config, split, sources, models)
        done[task] = results.save_task(out, task, config.task_key(task), result, rows)
        _log(f"task {task}: {time.perf_counter() - task_started:.1f}s")
    from tears_bench.manifest import public_config

    shown = public_config(config)  # what is written to disk: no credentials of --llm-base-url
    manifest = results.manifest(shown, split, sources, models)
    results.write_run(out, shown, manifest, models, done, seconds=time.perf_counter() - started)
    for task in config.tasks:
        print()
        print(results.render_text(task, done[task]["result"]))
    for line in results.skip_lines(done, config.editor):
        print(f"\n{line}")
    print(f"\nresults: {out / 'results.json'}")
    return out

"""`tears-bench run`: dataset -> split -> summaries -> models -> tasks -> results, every stage cached.

`run_benchmark(RunConfig(...))` is the Python API behind the command. Each finished task is saved
in the run folder at once (atomically), so an interrupted run, rerun with the same --output,
redoes only the tasks that had not finished; the stages before (split, summaries, embeddings,
trained models, LLM answers) come from their own caches.
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tears_bench.errors import TearsBenchError
from tears_bench.storage import check_writable_dir, stable_hash

DEFAULT_ALPHAS = tuple(round(a / 10, 1) for a in range(11))
TASK_REVISIONS = {"rank": "eligibility per model", "uniqueness": "shared users, distinct pairs"}


@dataclass
class RunConfig:
    tasks: list[str]
    dataset: str = "synthetic"
    data_dir: str | None = None
    summaries: list[str] = field(default_factory=lambda: ["template"])
    models: list[str] = field(default_factory=lambda: ["tears-multvae"])
    editor: str = "offline"
    alphas: list[float] = field(default_factory=lambda: list(DEFAULT_ALPHAS))
    limit: int | None = None
    seed: int = 0
    split_seed: int = 42
    output: str | None = None
    device: str = "auto"
    llm_base_url: str | None = None
    concurrency: int = 8
    llm_timeout: float | None = None  # seconds per LLM request (None: 120)
    encoder: str = "minilm"
    encoder_mode: str = "frozen"
    segments: int = 1
    align: str = "ot"
    epochs: int | None = None
    pairs: int = 2000
    allow_partial: bool = False  # run on a summaries file covering under 90% of the split's users
    loss_scale: str = "authors"
    guided_control: str = "empty"
    text_head: str = "auto"  # models.text_heads: auto, linear, sentence-attention, attention

    def run_id(self) -> str:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        dataset = Path(self.dataset).name if "/" in self.dataset else self.dataset.split(":")[0]
        return f"{stamp}-{dataset}-{'-'.join(self.tasks)}"

    def task_key(self, task: str) -> str:
        """Everything a task's result depends on besides the cached stages' own keys."""
        fields = asdict(self)
        for unused in ("tasks", "output", "concurrency", "device", "llm_base_url", "llm_timeout"):
            fields.pop(unused)
        # Fields added after the first run folders stay out of the key where they change nothing, so
        # those folders still resume; a task whose numbers changed by design gets a revision.
        if fields["loss_scale"] == "sum":
            fields.pop("loss_scale")
        if not fields["allow_partial"]:
            fields.pop("allow_partial")
        from tears_bench.models.text_heads import resolve_text_head
        fields["text_head"] = resolve_text_head(self.text_head, self.encoder_mode, self.segments)
        if fields["text_head"] == "linear":
            fields.pop("text_head")
        control = fields.pop("guided_control")
        if task == "guided":
            fields["guided_control"] = control
        if fields["limit"] is not None:
            fields["limit_users"] = "seeded random subset"
        if task in TASK_REVISIONS:
            fields["revision"] = TASK_REVISIONS[task]
        return stable_hash({"task": task, **fields})


def validate(config: RunConfig) -> None:
    from tears_bench.models.tears_trainer import TEARS_MODELS
    from tears_bench.tasks.editors import get_editor
    from tears_bench.tasks.registry import TASKS

    unknown = [t for t in config.tasks if t not in TASKS]
    if unknown or not config.tasks:
        raise TearsBenchError(f"unknown task(s) {unknown or config.tasks}; known: {', '.join(TASKS)}")
    bad_models = [m for m in config.models if m not in TEARS_MODELS]
    if bad_models:
        raise TearsBenchError(f"unknown model(s) {bad_models} for `run`; known: {', '.join(TEARS_MODELS)}")
    bad_alphas = [a for a in config.alphas if not 0.0 <= a <= 1.0]
    if bad_alphas or not config.alphas:
        raise TearsBenchError(f"alphas must lie in [0, 1] (the weight of the text latent), got {bad_alphas or 'none'}")
    if config.llm_timeout is not None and not config.llm_timeout > 0:
        raise TearsBenchError(f"--llm-timeout must be a positive number of seconds, got {config.llm_timeout}")
    get_editor(config.editor, base_url=config.llm_base_url, concurrency=config.concurrency,
               timeout=config.llm_timeout)
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


def parse_alphas(text: str) -> list[float]:
    """'0:1:0.1' (start:stop:step, stop included) or '0,0.5,1'."""
    try:
        if ":" in text:
            start, stop, step = (float(x) for x in text.split(":"))
            if step <= 0:
                raise ValueError
            count = int(round((stop - start) / step)) + 1
            return [round(start + i * step, 6) for i in range(count)]
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise TearsBenchError(f"--alphas {text!r}: expected start:stop:step (e.g. 0:1:0.1) or a list "
                              f"(e.g. 0,0.5,1)") from None


def _log(message: str) -> None:
    print(f"[tears-bench] {message}", flush=True)


def prepare(config: RunConfig):
    """The split, the summary sources and the trained models the tasks need."""
    from tears_bench.data import get_split
    from tears_bench.summaries.registry import get_summaries

    from tears_bench.tasks.registry import TASKS
    from tears_bench.tasks.uniqueness import needs_split, summary_sources
    from tears_bench.summaries.registry import check_coverage

    needs_models = any(TASKS[t].needs_models for t in config.tasks)
    split = None
    if needs_models or needs_split(config.summaries):  # uniqueness of summary files needs no dataset
        started = time.perf_counter()
        split = get_split(config.dataset, config.data_dir, seed=config.split_seed)
        _log(f"split {split.hash} of {split.dataset}: {len(split.train_users)} train / {len(split.val_users)} val / "
             f"{len(split.test_users)} test users, {split.n_items} items ({time.perf_counter() - started:.1f}s)")
    if not needs_models:
        started = time.perf_counter()
        sources = summary_sources(config.summaries, split, llm_base_url=config.llm_base_url,
                                  concurrency=config.concurrency, timeout=config.llm_timeout)
        _log(f"summaries: {', '.join(f'{s.label} {len(s)} users' for s in sources.values())} "
             f"({time.perf_counter() - started:.1f}s)")
        return split, sources, {}
    sources = {}
    for spec in config.summaries:
        started = time.perf_counter()
        sources[spec] = get_summaries(split, spec, llm_base_url=config.llm_base_url, users=None,
                                      concurrency=config.concurrency, timeout=config.llm_timeout)
        check_coverage(split, sources[spec], spec, config.allow_partial)
        _log(f"summaries {spec}: {len(sources[spec])} users ({time.perf_counter() - started:.1f}s)")
    models = {}
    if needs_models:
        from tears_bench.models.tears_trainer import train_tears
        summaries = sources[config.summaries[0]]
        for name in config.models:
            started = time.perf_counter()
            options = {"encoder": config.encoder, "encoder_mode": config.encoder_mode,
                       "segments": config.segments, "align": config.align, "epochs": config.epochs,
                       "loss_scale": config.loss_scale, "text_head": config.text_head}
            trained = train_tears(split, name, summaries, config=options, seed=config.seed, device=config.device,
                                  verbose=False, progress=True)  # epoch bars on a terminal only
            models[name] = trained
            state = "cached" if trained.from_cache else f"trained in {time.perf_counter() - started:.1f}s"
            test = trained.metrics["test"]
            _log(f"model {name} ({state}): test NDCG@20 {test['ndcg@20']:.4f} at best alpha "
                 f"{trained.metrics['best_alpha']:.1f}")
    return split, sources, models


def run_task(task: str, config: RunConfig, split, sources, models) -> tuple[dict, list[dict]]:
    from tears_bench.tasks.editors import get_editor
    from tears_bench.tasks.registry import get_task

    function = get_task(task)
    summaries = sources[config.summaries[0]]
    editor = get_editor(config.editor, base_url=config.llm_base_url, concurrency=config.concurrency,
                        timeout=config.llm_timeout)
    recommenders = {name: trained.recommender for name, trained in models.items()}
    if task == "uniqueness":
        from tears_bench.tasks.uniqueness import MIN_SHARED_USERS, UserTexts, summary_sources

        if not all(isinstance(s, UserTexts) for s in sources.values()):  # a run that also trained models
            sources = summary_sources(config.summaries, split, llm_base_url=config.llm_base_url,
                                      concurrency=config.concurrency, timeout=config.llm_timeout)
        return function(None, split, None, None, None, seed=config.seed, limit=config.limit, pairs=config.pairs,
                        sources={s.label: dict(s) for s in sources.values()}, min_users=MIN_SHARED_USERS)
    options = {"control": config.guided_control} if task == "guided" else {}
    return function(recommenders, split, summaries, editor, config.alphas, seed=config.seed, limit=config.limit,
                    **options)


def run_benchmark(config: RunConfig) -> Path:
    """Run every task of the config; returns the run folder."""
    from tears_bench import results

    validate(config)
    out = Path(config.output) if config.output else Path("results") / config.run_id()
    check_writable_dir(out, "--output" if config.output else "results folder")
    with results.run_folder(out):  # a run that fails before writing anything leaves no empty folder
        return _run_into(out, config, results)


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

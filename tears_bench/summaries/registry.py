"""Summarizers by name, and `get_summaries`: the one call models and tasks use.

    get_summaries(split, spec, *, llm_base_url=None, limit=None, concurrency=8, users=None,
                  params=None, replicate=0, progress=None, llm_mode="online") -> SummarySet

Summarizer specs:
    template | offline            deterministic, no model (summaries/template.py)
    tears-gpt4-ml-1m               the TEARS authors' GPT-4 summaries of ML-1M users
    file:<path>                    a JSON object user id -> summary
    openai:<model> | anthropic:<model> | openai-compatible:<model> | hf:<name-or-path>
                                   an LLM prompted with summaries/prompt.py

A SummarySet maps user index (into split.user_ids) -> summary text, for the users asked for that
have one, and carries `metadata` (summarizer, model, prompt_version, parameters, ...), `flags`
(user index -> ["truncated", "no_prefix", "empty"]), a stable `key` (the store key) and a
`report` of what this call did. Everything is kept in the summary store, so a second call with
the same arguments reads one JSON file.

Flag policy (docs/summaries.md): an empty answer is flagged "empty" and not stored (the user has
no summary; a rerun asks again); an answer cut by max_tokens is stored and flagged "truncated";
a summary not starting with "Summary:" is stored as written and flagged "no_prefix".
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np

from tears_bench.errors import TearsBenchError
from tears_bench.llm.base import redact_url
from tears_bench.summaries import store
from tears_bench.summaries.importer import (PUBLISHED, ImportReport, file_fingerprint, match_to_split,
                                            published_file, read_summary_file, resolve_path)
from tears_bench.summaries.prompt import PROMPT_VERSION, summary_messages
from tears_bench.summaries.template import TEMPLATE_VERSION, template_summaries

PREFIX = "Summary:"
# A summaries file must cover at least this share of the split's users (`--allow-partial` lifts it):
# a file for a neighbouring dataset whose ids happen to match (ML-100K's on ml-1m-positives: 940 of
# 6,034 users) would otherwise train and evaluate on a small, silent subset.
MIN_COVERAGE = 0.9
OFFLINE_NAMES = ("template", "offline")
# For `tears-bench ls`: summarizer spec -> description.
SUMMARIZERS = {
    "template": "offline, deterministic: four-part summaries written from the user's ratings (alias: offline)",
    "tears-gpt4-ml-1m": "the TEARS authors' GPT-4 summaries of ML-1M users (downloaded once, or the offline copy)",
    "file:<path>": "import a JSON object user id -> summary",
    "openai:<model>": "OpenAI API (OPENAI_API_KEY); --llm-base-url for proxies",
    "anthropic:<model>": "Anthropic API (ANTHROPIC_API_KEY); --llm-base-url for proxies",
    "openai-compatible:<model>": "vLLM, Ollama, llama.cpp server, LLaMA API... (needs --llm-base-url)",
    "hf:<name-or-path>": "a local transformers causal LM with its chat template",
}


class SummarySet(Mapping):
    """user index -> summary text, with metadata, flags, a stable key and a report."""

    def __init__(self, texts: dict[int, str], metadata: dict[str, Any], key: str, user_ids: Sequence[str],
                 flags: dict[int, list[str]] | None = None, report: dict[str, Any] | None = None):
        self.texts = texts
        self.metadata = metadata
        self.key = key
        self.flags = flags or {}
        self.report = report or {}
        self._user_ids = user_ids

    def __getitem__(self, user: int) -> str:
        return self.texts[int(user)]

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self.texts))

    def __len__(self) -> int:
        return len(self.texts)

    def __repr__(self) -> str:
        return f"SummarySet({len(self)} summaries, summarizer={self.metadata.get('summarizer')!r}, key={self.key})"

    def by_user_id(self) -> dict[str, str]:
        """{original user id: summary}, the format of published summary files."""
        return {str(self._user_ids[u]): self.texts[u] for u in sorted(self.texts)}


@dataclass
class Summarizer:
    kind: str  # "template", "file", "published" or "llm"
    name: str  # the canonical spec, recorded as metadata "summarizer"
    model: str | None
    prompt_version: str | None
    parameters: dict[str, Any] = field(default_factory=dict)
    path: str | None = None  # file: the resolved path


def resolve(spec: str, params: dict | None = None, replicate: int = 0, option: str = "--summaries") -> Summarizer:
    """A summarizer spec -> what it is; clear error for an unknown one (no file or network touched
    except hashing a `file:` path). `option` is the flag the spec came from, named in errors
    (`--summaries` for run, compare and train; `--summarizer` for summarize)."""
    spec = str(spec).strip()
    if spec in OFFLINE_NAMES:
        return Summarizer("template", "template", None, TEMPLATE_VERSION)
    if spec in PUBLISHED:
        item = PUBLISHED[spec]
        return Summarizer("published", spec, item.model, f"published:{item.commit[:12]}", {"sha256": item.sha256})
    if spec.startswith("file:"):
        raw = spec[len("file:"):]
        if not raw:
            raise TearsBenchError(f"file: needs a path, e.g. {option} file:summaries.json")
        path = resolve_path(raw)
        if not path.is_file():
            raise TearsBenchError(f"summary file not found: {path}")
        return Summarizer("file", f"file:{path.name}", None, None, {"sha256": file_fingerprint(path)}, str(path))
    from tears_bench.llm.base import PROVIDERS, normalise_params, parse_provider

    if spec.partition(":")[0].lower() in PROVIDERS:
        parsed = parse_provider(spec)
        parameters = normalise_params(params)
        if replicate:
            parameters["replicate"] = int(replicate)
        return Summarizer("llm", str(parsed), parsed.model, PROMPT_VERSION, parameters)
    raise TearsBenchError(
        f"unknown summarizer {spec!r}; use template, tears-gpt4-ml-1m, file:<path.json>, or an LLM: "
        "openai:<model>, anthropic:<model>, openai-compatible:<model> (with --llm-base-url), hf:<name-or-path>")


def check_coverage(split, summaries, spec: str, allow_partial: bool = False) -> None:
    """Refuse a source that has summaries for under MIN_COVERAGE of the split's users, unless allowed.

    `summaries` holds the source's summaries of every user of the split (get_summaries, users=None).
    """
    total = len(split.user_ids)
    have = len(summaries)
    if allow_partial or not total or have >= MIN_COVERAGE * total:
        return
    label = (getattr(summaries, "metadata", None) or {}).get("summarizer") or spec
    raise TearsBenchError(
        f"summary source {label} covers {have:,} of {total:,} users of {split.dataset} ({have / total:.1%}, under "
        f"the {MIN_COVERAGE:.0%} required): pass --allow-partial to run on the covered users only")


def selected_users(split, users: Sequence[int] | None, limit: int | None) -> list[int]:
    chosen = list(range(len(split.user_ids))) if users is None else [int(u) for u in users]
    if limit is not None:
        if limit < 1:
            raise TearsBenchError(f"--limit must be at least 1, got {limit}")
        chosen = chosen[:limit]
    bad = [u for u in chosen if not 0 <= u < len(split.user_ids)]
    if bad:
        raise TearsBenchError(f"user index {bad[0]} is out of range (the split has {len(split.user_ids)} users)")
    return chosen


def check_flags(text: str, truncated: bool = False) -> list[str]:
    flags = []
    if not text.strip():
        return ["empty"]
    if truncated:
        flags.append("truncated")
    if not text.lstrip().startswith(PREFIX):
        flags.append("no_prefix")
    return flags


def get_summaries(split, spec: str, *, llm_base_url: str | None = None, limit: int | None = None,
                  concurrency: int = 8, users: Sequence[int] | None = None, params: dict | None = None,
                  replicate: int = 0, progress: bool | None = None, timeout: float | None = None,
                  option: str = "--summaries", llm_mode: str = "online") -> SummarySet:
    """`timeout`: seconds per LLM request (None: the runner's default); `option`: see resolve;
    `llm_mode`: "online" (one request each) or "batch" (the provider's batch API, llm/batch.py)."""
    started = time.perf_counter()
    summarizer = resolve(spec, params, replicate, option)
    check_llm_mode(summarizer, llm_mode)
    wanted = selected_users(split, users, limit)
    key = store.store_key(split, summarizer.name, summarizer.parameters, summarizer.prompt_version)
    path = store.store_path(split.dataset, summarizer.name, key)
    metadata = {"summarizer": summarizer.name, "model": summarizer.model,
                "prompt_version": summarizer.prompt_version, "parameters": summarizer.parameters,
                "dataset": split.dataset, "split_hash": split.hash}
    if summarizer.kind == "llm" and llm_base_url:
        metadata["base_url"] = redact_url(llm_base_url)  # informative only: not part of the key
    user_ids = [str(u) for u in split.user_ids.tolist()]
    stored = store.load(path) or {"summaries": {}, "flags": {}, "metadata": {}}
    report: dict[str, Any] = {"users": len(wanted), "from_store": 0, "new": 0}

    if summarizer.kind in ("file", "published"):
        if not stored["summaries"]:  # an import covers every user of the split at once
            mapping, import_report = _import(split, summarizer, option)
            flags = {user_ids[u]: f for u, t in mapping.items() if (f := check_flags(t))}
            metadata["import"] = import_report.__dict__
            store.save(path, key, metadata, {user_ids[u]: t for u, t in mapping.items()}, flags)
            stored = store.load(path)
            report["new"] = sum(user_ids[u] in stored["summaries"] for u in wanted)
        else:
            report["from_store"] = sum(user_ids[u] in stored["summaries"] for u in wanted)
        import_counts = stored["metadata"].get("import", {})
        report["import"] = import_counts
    else:
        missing = [u for u in wanted if user_ids[u] not in stored["summaries"]]
        report["from_store"] = len(wanted) - len(missing)
        if missing and summarizer.kind == "template":
            texts = template_summaries(split, missing)
            store.save(path, key, metadata, {user_ids[u]: t for u, t in texts.items()}, {})
            report["new"] = len(texts)
            stored = store.load(path)
        elif missing:
            report.update(_run_llm(split, summarizer, missing, path, key, metadata, llm_base_url,
                                   concurrency, int(replicate), progress, timeout, llm_mode))
            stored = store.load(path) or stored

    texts = {u: stored["summaries"][user_ids[u]] for u in wanted if user_ids[u] in stored["summaries"]}
    flags = {u: list(stored["flags"][user_ids[u]]) for u in wanted if user_ids[u] in stored["flags"]}
    report["summarized"] = len(texts)
    report["missing"] = len(wanted) - len(texts)
    report["flagged"] = len(flags)
    report["flag_counts"] = _flag_counts(flags)
    report["words"] = word_stats(texts.values())
    report["seconds"] = round(time.perf_counter() - started, 3)
    meta = {**stored.get("metadata", {}), **metadata}
    return SummarySet(texts, meta, key, user_ids, flags, report)


def _import(split, summarizer: Summarizer, option: str = "--summaries") -> tuple[dict[int, str], ImportReport]:
    if summarizer.kind == "published":
        source, origin = published_file(summarizer.name, option=option)
        mapping, report = match_to_split(split, read_summary_file(source), f"{summarizer.name} ({origin})")
    else:
        mapping, report = match_to_split(split, read_summary_file(summarizer.path), summarizer.path)
    return mapping, report


def check_llm_mode(summarizer: Summarizer, llm_mode: str) -> None:
    """A clear error for an unknown mode, or batch mode with a summarizer that has no batch API (hf:)."""
    from tears_bench.llm.batch import check_batch_provider, check_mode

    check_mode(llm_mode)
    if llm_mode == "batch" and summarizer.kind == "llm":
        check_batch_provider(summarizer.name)


def _run_llm(split, summarizer: Summarizer, missing: list[int], path, key: str, metadata: dict,
             base_url: str | None, concurrency: int, replicate: int, progress: bool | None,
             timeout: float | None = None, llm_mode: str = "online") -> dict[str, Any]:
    from tears_bench.llm import CompletionCache, get_client
    from tears_bench.llm.base import normalise_messages, parse_provider, redact_url
    from tears_bench.llm.batch import make_adapter, run_batch
    from tears_bench.llm.runner import run_requests

    spec = parse_provider(summarizer.name)
    params = {k: v for k, v in summarizer.parameters.items() if k != "replicate"}
    requests = [normalise_messages(summary_messages(split, u)) for u in missing]
    user_ids = [str(split.user_ids[u]) for u in missing]
    writer = store.IncrementalWriter(path, key, metadata)

    def on_result(i: int, completion) -> None:
        flags = check_flags(completion.text, completion.truncated)
        writer.add(user_ids[i], None if completion.empty else completion.text.strip(), flags)

    cache = CompletionCache()
    try:
        if llm_mode == "batch":
            _, stats = run_batch(
                spec, requests, params, adapter_factory=lambda: make_adapter(spec, base_url, timeout), cache=cache,
                replicates=[replicate] * len(requests), desc=f"summaries {spec} (batch)", progress=progress,
                on_result=on_result, endpoint=redact_url(base_url))
        else:
            _, stats = run_requests(
                spec, requests, params, client_factory=lambda: get_client(spec, base_url, timeout), cache=cache,
                concurrency=concurrency, replicates=[replicate] * len(requests), desc=f"summaries {spec}",
                progress=progress, on_result=on_result, **({"timeout": timeout} if timeout else {}))
    finally:
        writer.flush()
        cache.close()
    return {"new": stats.new, "from_llm_cache": stats.from_cache, "llm": stats.as_dict(),
            "cost": stats.cost, "cost_known": stats.cost is not None}


def _flag_counts(flags: dict[int, list[str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for values in flags.values():
        for flag in values:
            counts[flag] = counts.get(flag, 0) + 1
    return counts


def word_stats(texts) -> dict[str, float]:
    counts = np.array([len(t.split()) for t in texts])
    if not len(counts):
        return {}
    return {"min": int(counts.min()), "median": float(np.median(counts)), "mean": round(float(counts.mean()), 1),
            "max": int(counts.max())}


@dataclass
class Plan:
    """What `--dry-run` shows: one prompt, and what a run would send."""

    summarizer: str
    users: int
    requests: int  # not in the LLM cache
    cached: int
    prompt: list[dict[str, str]] | None
    input_tokens: int  # estimated
    max_output_tokens: int
    cost_upper: float | None  # with every answer at max_tokens
    llm_mode: str = "online"  # "batch": cost_upper is at the batch price


def plan_summaries(split, spec: str, *, limit: int | None = None, users: Sequence[int] | None = None,
                   params: dict | None = None, replicate: int = 0, option: str = "--summaries",
                   llm_mode: str = "online") -> Plan:
    from tears_bench.llm import CompletionCache, estimate_cost
    from tears_bench.llm.base import normalise_messages, parse_provider
    from tears_bench.llm.cache import request_key
    from tears_bench.llm.pricing import estimate_usage

    summarizer = resolve(spec, params, replicate, option)
    check_llm_mode(summarizer, llm_mode)
    wanted = selected_users(split, users, limit)
    if summarizer.kind != "llm":
        return Plan(summarizer.name, len(wanted), 0, 0, None, 0, 0, 0.0)
    key = store.store_key(split, summarizer.name, summarizer.parameters, summarizer.prompt_version)
    stored = store.load(store.store_path(split.dataset, summarizer.name, key)) or {"summaries": {}}
    user_ids = [str(u) for u in split.user_ids.tolist()]
    missing = [u for u in wanted if user_ids[u] not in stored["summaries"]]
    spec_ = parse_provider(summarizer.name)
    llm_params = {k: v for k, v in summarizer.parameters.items() if k != "replicate"}
    requests = [normalise_messages(summary_messages(split, u)) for u in missing]
    with CompletionCache() as cache:
        found = cache.get_many(request_key(spec_, llm_params, m, replicate) for m in requests)
    keys = [request_key(spec_, llm_params, m, replicate) for m in requests]
    to_send = [m for m, k in zip(requests, keys) if k not in found]
    usage = estimate_usage(to_send, llm_params["max_tokens"])
    first = normalise_messages(summary_messages(split, wanted[0])) if wanted else None
    return Plan(summarizer.name, len(wanted), len(to_send), len(wanted) - len(to_send), first, usage.input_tokens,
                usage.output_tokens, estimate_cost(spec_, usage, batch=llm_mode == "batch"), llm_mode)

"""Fine-grained rank adjustment (protocol 6.2).

For each test user and EACH MODEL separately, the held-out target items that the model ranks in
[100, 500) (0-based, input items excluded) at every alpha of the sweep with the original summary
are eligible; the model's target is the first eligible one in a random order of the user's
targets, seeded per user. So a model's target, and hence its numbers, depend only on the model
(adding a model never changes another's), while models that find the same items eligible edit
towards the same item. The editor describes the target in five words and writes them into the
summary as one new sentence replacing an existing one, three times (attempts 0, 1, 2); an edit is
made once per (user, item) and shared by the models that picked that item. For each model and
alpha, rank change = rank(original) - rank(edited) (positive = moved up), and the attempt with the
median rank change is kept. Reported per model and alpha: mean rank change, its distribution, a
bootstrap interval, and help_ratio (share of users whose target moved up); `meta["models"]` gives
each model's eligible and evaluated users and its skips.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from tears_bench.tasks.common import (alpha_key, bootstrap_ci, bootstrap_weights, check_alphas, describe_values, model_alphas,
                          model_table, ranks_of, recommend_chunks, rounded, select_users, skip_row, user_rng)
from tears_bench.tasks.editors import NO_TEXT, Skip, get_editor
from tears_bench.errors import TearsBenchError

WINDOW = (100, 500)
ATTEMPTS = 3
NO_ELIGIBLE = "no held-out target ranked in the window by the model at every alpha"


def run_rank(models, split, summaries: Mapping[int, str], editor, alphas: Sequence[float] | None = None,
             seed: int = 0, limit: int | None = None, *, window: tuple[int, int] = WINDOW,
             attempts: int = ATTEMPTS, resamples: int = 1000) -> tuple[dict, list[dict]]:
    alphas = check_alphas(alphas)
    lo, hi = int(window[0]), int(window[1])
    if not 0 <= lo < hi:
        raise TearsBenchError(f"the rank window must satisfy 0 <= low < high, got {window}")
    models = model_table(models)
    editor = get_editor(editor)
    rows, users, texts, skipped_rows, skipped = select_users(split, summaries, limit, seed)
    n_test = len(rows) + int(skipped["no summary"])
    fold_in = split.test_input[rows]
    target_items = padded_targets(split.test_target[rows])  # [U, T], -1 = padding
    order = target_order(users, target_items, seed)

    # 1. Per model: original ranks of every held-out target, the eligible ones, the chosen one.
    picks: dict[str, dict] = {}
    for name, model in models.items():
        model_a = model_alphas(model, alphas)
        ranks = _ranks(model, texts, fold_in, model_a, target_items, f"rank: {name}, original")  # [A, U, T]
        eligible = (target_items >= 0) & ((ranks >= lo) & (ranks < hi)).all(axis=0)
        picks[name] = {"alphas": model_a, "ranks": ranks, "eligible": eligible.sum(axis=1),
                       "chosen": first_eligible(order, eligible)}

    # 2. The editor's attempts, once per (user, item) some model chose.
    pairs = sorted({(i, int(p["chosen"][i])) for p in picks.values() for i in np.flatnonzero(p["chosen"] >= 0)})
    edits, descriptions, failed = _edit(editor, split, texts, target_items, pairs, attempts)
    pair_index = {pair: j for j, pair in enumerate(pairs)}

    # 3. Per model: ranks with each attempt's summary; keep the attempt with the median rank change.
    changes: dict[str, dict] = {}
    for name, model in models.items():
        p = picks[name]
        chosen = p["chosen"]
        model_skips = Counter({NO_ELIGIBLE: int((chosen < 0).sum())})
        keep = np.array([i for i in np.flatnonzero(chosen >= 0) if not failed[pair_index[(i, int(chosen[i]))]]],
                        dtype=np.int64)
        if int((chosen >= 0).sum()) > len(keep):
            model_skips[NO_TEXT] = int((chosen >= 0).sum()) - len(keep)
        columns = chosen[keep]
        items = target_items[keep, columns]
        edited = [[edits[a][pair_index[(i, int(c))]] for i, c in zip(keep.tolist(), columns.tolist())]
                  for a in range(attempts)]
        n, n_alphas = len(keep), len(p["alphas"])
        before = p["ranks"][:, keep, columns] if n else np.zeros((n_alphas, 0), dtype=np.int64)
        after = np.stack([_ranks(model, edited[a], fold_in[keep], p["alphas"], items[:, None],
                                 f"rank: {name}, attempt {a}")[..., 0]
                          for a in range(attempts)]) if n else np.zeros((attempts, n_alphas, 0), np.int64)
        change = before[None] - after  # [attempts, A, U]
        median_attempt = np.argsort(change, axis=0, kind="stable")[(attempts - 1) // 2]  # [A, U]
        pick = lambda x: np.take_along_axis(x, median_attempt[None], axis=0)[0]  # noqa: E731
        changes[name] = {"alphas": p["alphas"], "keep": keep, "items": items, "before": before,
                         "after": pick(after), "change": pick(change), "attempt": median_attempt, "all": change,
                         "skipped": model_skips}

    # 4. Aggregates, each model on its own users.
    result: dict[str, Any] = {name: _aggregate(c, seed, resamples) for name, c in changes.items()}
    evaluated = set().union(*(c["keep"].tolist() for c in changes.values())) if changes else set()
    any_eligible = set().union(*(np.flatnonzero(p["chosen"] >= 0).tolist() for p in picks.values())) \
        if picks else set()
    for i in range(len(users)):
        if i not in evaluated:
            reason = NO_TEXT if i in any_eligible else NO_ELIGIBLE
            skipped[reason] += 1
            skipped_rows.append(skip_row(split, users[i], reason, original=texts[i]))
    result["meta"] = {
        "window": [lo, hi], "attempts": attempts, "editor": editor.describe(),
        "alphas": [alpha_key(a) for a in alphas], "n_test_users": n_test, "n_with_summary": len(rows),
        "eligibility": "per model",
        "n_eligible_users": len(any_eligible), "n_users": len(evaluated), "skipped": dict(skipped),
        "models": {name: _model_meta(picks[name], changes[name]) for name in models},
        "bootstrap": {"resamples": resamples, "level": 0.95, "seed": seed},
        "text_only_models": [m for m, model in models.items() if getattr(model, "text_only", False)],
    }
    return result, _rows(split, editor, users, texts, pair_index, descriptions, edits, picks, changes) + skipped_rows


def target_order(users: np.ndarray, target_items: np.ndarray, seed: int) -> list[np.ndarray]:
    """Per user, its target columns in a random order seeded by (seed, user)."""
    counts = (target_items >= 0).sum(axis=1)
    return [user_rng(seed, user).permutation(int(count)) for user, count in zip(users.tolist(), counts.tolist())]


def first_eligible(order: list[np.ndarray], eligible: np.ndarray) -> np.ndarray:
    """The first eligible column of each user's order (uniform among the eligible), -1 when none."""
    chosen = np.full(len(order), -1, dtype=np.int64)
    for i, columns in enumerate(order):
        hits = columns[eligible[i, columns]]
        if hits.size:
            chosen[i] = hits[0]
    return chosen


def _edit(editor, split, texts, target_items, pairs, attempts):
    """Edited summaries [attempt][pair], the descriptions, and which pairs failed in some attempt."""
    items = [int(target_items[i, c]) for i, c in pairs]
    titles = [split.item_titles[j] for j in items]
    item_genres = [list(split.item_genres[j]) for j in items]
    originals = [texts[i] for i, _ in pairs]
    descriptions, edits = [], []
    for attempt in range(attempts):
        described = editor.describe_item_many(titles, item_genres, split.kind, attempt) if pairs else []
        usable = [d if not isinstance(d, Skip) else "" for d in described]
        inserted = editor.insert_sentence_many(originals, usable, attempt, split.kind) if pairs else []
        descriptions.append(described)
        edits.append([e if not isinstance(d, Skip) else d for d, e in zip(described, inserted)])
    failed = [any(isinstance(edits[a][j], Skip) for a in range(attempts)) for j in range(len(pairs))]
    return edits, descriptions, failed


def _aggregate(c: dict, seed: int, resamples: int) -> dict:
    n = len(c["keep"])
    ci = bootstrap_ci(c["change"], bootstrap_weights(n, seed, resamples)) if n else None
    out = {}
    for i, alpha in enumerate(c["alphas"]):
        stats = describe_values(c["change"][i])
        out[alpha_key(alpha)] = {
            "rank_change": rounded(stats["mean"]), "rank_change_median": rounded(stats["median"]),
            "rank_change_quartiles": None if stats["quartiles"] is None else [rounded(v) for v in stats["quartiles"]],
            "rank_change_ci": None if ci is None else [rounded(v) for v in ci[i]],
            "help_ratio": rounded(float((c["change"][i] > 0).mean())) if n else None,
            "n_users": n,
        }
    return out


def _model_meta(p: dict, c: dict) -> dict:
    eligible = p["eligible"]
    return {"n_eligible_users": int((eligible > 0).sum()),
            "mean_eligible_targets": rounded(float(eligible[eligible > 0].mean())) if (eligible > 0).any() else 0.0,
            "n_users": int(len(c["keep"])), "skipped": dict(c["skipped"])}


def _rows(split, editor, users, texts, pair_index, descriptions, edits, picks, changes) -> list[dict]:
    """One row per evaluated (user, target item), with the ranks of every model that picked it."""
    out = {}
    for name, c in changes.items():
        for j, (i, item) in enumerate(zip(c["keep"].tolist(), c["items"].tolist())):
            column = int(picks[name]["chosen"][i])
            if (i, column) not in out:
                k = pair_index[(i, column)]
                user = int(users[i])
                out[(i, column)] = {
                    "user": user, "user_id": str(split.user_ids[user]), "editor": editor.spec,
                    "target_item": item, "target_item_id": str(split.item_ids[item]),
                    "target_title": split.item_titles[item], "target_genres": list(split.item_genres[item]),
                    "n_eligible_targets": {}, "original": texts[i],
                    "attempts": [{"description": descriptions[a][k], "edited": edits[a][k]}
                                 for a in range(len(edits))],
                    "ranks": {}}
            row = out[(i, column)]
            row["n_eligible_targets"][name] = int(picks[name]["eligible"][i])
            row["ranks"][name] = {alpha_key(a): {"original": int(c["before"][x, j]), "edited": int(c["after"][x, j]),
                                                 "rank_change": int(c["change"][x, j]),
                                                 "attempt": int(c["attempt"][x, j]),
                                                 "all_attempts": [int(v) for v in c["all"][:, x, j]]}
                                  for x, a in enumerate(c["alphas"])}
    return [out[key] for key in sorted(out)]


def padded_targets(targets) -> np.ndarray:
    """Held-out target items per user as [U, T] column indices, -1 where a user has fewer."""
    targets = targets.tocsr()
    counts = np.diff(targets.indptr)
    out = np.full((targets.shape[0], max(int(counts.max(initial=0)), 1)), -1, dtype=np.int64)
    for u in range(targets.shape[0]):
        cols = targets.indices[targets.indptr[u]:targets.indptr[u + 1]]
        out[u, :cols.size] = np.sort(cols)
    return out


def _ranks(model, texts: Sequence[str], fold_in, alphas: Sequence[float], items: np.ndarray,
           desc: str = "rank") -> np.ndarray:
    """0-based ranks [A, U, T] of `items` [U, T] (padding -1 gets rank -1), with a progress bar over
    users (shown on a terminal only)."""
    parts = []
    with tqdm(total=len(texts), desc=desc, unit="user", disable=None, leave=False) as progress:
        for rows, scores in recommend_chunks(model, texts, fold_in, alphas):
            chunk = torch.as_tensor(items[rows])
            gathered = ranks_of(scores, chunk.clamp(min=0).unsqueeze(0).expand(scores.shape[0], -1, -1).contiguous())
            parts.append(torch.where(chunk.unsqueeze(0) >= 0, gathered, torch.full_like(gathered, -1)))
            progress.update(len(chunk))
    if not parts:
        return np.zeros((len(alphas), 0, items.shape[1]), dtype=np.int64)
    return torch.cat(parts, dim=1).numpy()

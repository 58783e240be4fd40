"""Fine-grained rank adjustment (protocol 6.2).

For each test user, the held-out target items ranked in [100, 500) (0-based, input items excluded)
by EVERY model at EVERY alpha of the sweep with the original summary are eligible; one is picked
at random (seeded per user). The editor describes it in five words and writes them into the
summary as one new sentence replacing an existing one, three times (attempts 0, 1, 2). For each
model and alpha, rank change = rank(original) - rank(edited) (positive = moved up), and the
attempt with the median rank change is kept. Reported per model and alpha: mean rank change, its
distribution, a bootstrap interval, and help_ratio (share of users whose target moved up).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch

from tasks.common import (alpha_key, bootstrap_ci, bootstrap_weights, check_alphas, describe_values, model_alphas,
                          model_table, ranks_of, recommend_chunks, rounded, select_users, skip_row, user_rng)
from tasks.editors import NO_TEXT, Skip, get_editor

WINDOW = (100, 500)
ATTEMPTS = 3
NO_ELIGIBLE = "no held-out target ranked in the window by every model and alpha"


def run_rank(models, split, summaries: Mapping[int, str], editor, alphas: Sequence[float] | None = None,
             seed: int = 0, limit: int | None = None, *, window: tuple[int, int] = WINDOW,
             attempts: int = ATTEMPTS, resamples: int = 1000) -> tuple[dict, list[dict]]:
    alphas = check_alphas(alphas)
    lo, hi = int(window[0]), int(window[1])
    if not 0 <= lo < hi:
        from tears_bench.errors import TearsBenchError

        raise TearsBenchError(f"the rank window must satisfy 0 <= low < high, got {window}")
    models = model_table(models)
    editor = get_editor(editor)
    rows, users, texts, skipped_rows, skipped = select_users(split, summaries, limit)
    n_test = len(rows) + int(skipped["no summary"])
    fold_in = split.test_input[rows]
    targets = split.test_target[rows]

    # 1. Original ranks of every held-out target, for every model and alpha: eligible = in window everywhere.
    target_items = _padded_targets(targets)  # [U, T], -1 = padding
    eligible = target_items >= 0
    original_ranks: dict[str, np.ndarray] = {}
    for name, model in models.items():
        ranks = _ranks(model, texts, fold_in, model_alphas(model, alphas), target_items)  # [A, U, T]
        original_ranks[name] = ranks
        eligible &= ((ranks >= lo) & (ranks < hi)).all(axis=0)

    # 2. One eligible target per user, seeded per user.
    chosen = np.full(len(users), -1, dtype=np.int64)
    for i, user in enumerate(users.tolist()):
        options = np.flatnonzero(eligible[i])
        if options.size:
            chosen[i] = options[user_rng(seed, user).integers(options.size)]
    n_eligible_targets = eligible.sum(axis=1)
    keep = np.flatnonzero(chosen >= 0)
    for i in np.flatnonzero(chosen < 0).tolist():
        skipped[NO_ELIGIBLE] += 1
        skipped_rows.append(skip_row(split, users[i], NO_ELIGIBLE, original=texts[i]))

    # 3. The editor's attempts: describe the item, write it into the summary.
    items = target_items[keep, chosen[keep]]
    titles = [split.item_titles[j] for j in items.tolist()]
    item_genres = [list(split.item_genres[j]) for j in items.tolist()]
    originals = [texts[i] for i in keep.tolist()]
    descriptions, edits = [], []
    for attempt in range(attempts):
        described = editor.describe_item_many(titles, item_genres, split.kind, attempt) if len(keep) else []
        usable = [d if not isinstance(d, Skip) else "" for d in described]
        inserted = editor.insert_sentence_many(originals, usable, attempt, split.kind) if len(keep) else []
        descriptions.append(described)
        edits.append([e if not isinstance(d, Skip) else d for d, e in zip(described, inserted)])
    failed = np.array([any(isinstance(edits[a][j], Skip) for a in range(attempts)) for j in range(len(keep))],
                      dtype=bool)
    for j in np.flatnonzero(failed).tolist():
        skipped[NO_TEXT] += 1
        skipped_rows.append(skip_row(split, users[keep[j]], NO_TEXT, original=originals[j]))
    good = np.flatnonzero(~failed)
    keep, items = keep[good], items[good]
    originals = [originals[j] for j in good.tolist()]
    descriptions = [[d[j] for j in good.tolist()] for d in descriptions]
    edits = [[e[j] for j in good.tolist()] for e in edits]

    # 4. Ranks with each attempt's summary; keep the attempt with the median rank change.
    n = len(keep)
    changes: dict[str, dict] = {}
    for name, model in models.items():
        model_a = model_alphas(model, alphas)
        before = original_ranks[name][:, keep, chosen[keep]] if n else np.zeros((len(model_a), 0), dtype=np.int64)
        after = np.stack([_ranks(model, edits[a], fold_in[keep], model_a, items[:, None])[..., 0]
                          for a in range(attempts)]) if n else np.zeros((attempts, len(model_a), 0), np.int64)
        change = before[None] - after  # [attempts, A, U]
        median_attempt = np.argsort(change, axis=0, kind="stable")[(attempts - 1) // 2]  # [A, U]
        pick = lambda x: np.take_along_axis(x, median_attempt[None], axis=0)[0]  # noqa: E731
        changes[name] = {"alphas": model_a, "before": before, "after": pick(after), "change": pick(change),
                         "attempt": median_attempt, "all": change}

    # 5. Aggregates.
    weights = bootstrap_weights(n, seed, resamples) if n else None
    result: dict[str, Any] = {}
    for name, c in changes.items():
        ci = bootstrap_ci(c["change"], weights) if n else None
        result[name] = {}
        for i, alpha in enumerate(c["alphas"]):
            stats = describe_values(c["change"][i])
            result[name][alpha_key(alpha)] = {
                "rank_change": rounded(stats["mean"]), "rank_change_median": rounded(stats["median"]),
                "rank_change_quartiles": None if stats["quartiles"] is None else [rounded(v) for v in stats["quartiles"]],
                "rank_change_ci": None if ci is None else [rounded(v) for v in ci[i]],
                "help_ratio": rounded(float((c["change"][i] > 0).mean())) if n else None,
                "n_users": n,
            }
    result["meta"] = {
        "window": [lo, hi], "attempts": attempts, "editor": editor.describe(),
        "alphas": [alpha_key(a) for a in alphas], "n_test_users": n_test, "n_with_summary": len(rows),
        "n_eligible_users": int((n_eligible_targets > 0).sum()),
        "mean_eligible_targets": rounded(float(n_eligible_targets[n_eligible_targets > 0].mean()))
        if (n_eligible_targets > 0).any() else 0.0,
        "n_users": n, "skipped": dict(skipped), "bootstrap": {"resamples": resamples, "level": 0.95, "seed": seed},
        "text_only_models": [m for m, model in models.items() if getattr(model, "text_only", False)],
    }

    # 6. Per-user rows.
    per_user = []
    for j, position in enumerate(keep.tolist()):
        user, item = int(users[position]), int(items[j])
        row = {"user": user, "user_id": str(split.user_ids[user]), "editor": editor.spec,
               "target_item": item, "target_item_id": str(split.item_ids[item]),
               "target_title": split.item_titles[item], "target_genres": list(split.item_genres[item]),
               "n_eligible_targets": int(n_eligible_targets[position]), "original": originals[j],
               "attempts": [{"description": descriptions[a][j], "edited": edits[a][j]} for a in range(attempts)],
               "ranks": {}}
        for name, c in changes.items():
            row["ranks"][name] = {alpha_key(a): {"original": int(c["before"][i, j]), "edited": int(c["after"][i, j]),
                                                 "rank_change": int(c["change"][i, j]),
                                                 "attempt": int(c["attempt"][i, j]),
                                                 "all_attempts": [int(v) for v in c["all"][:, i, j]]}
                                  for i, a in enumerate(c["alphas"])}
        per_user.append(row)
    return result, per_user + skipped_rows


def _padded_targets(targets) -> np.ndarray:
    """Held-out target items per user as [U, T] column indices, -1 where a user has fewer."""
    targets = targets.tocsr()
    counts = np.diff(targets.indptr)
    out = np.full((targets.shape[0], max(int(counts.max(initial=0)), 1)), -1, dtype=np.int64)
    for u in range(targets.shape[0]):
        cols = targets.indices[targets.indptr[u]:targets.indptr[u + 1]]
        out[u, :cols.size] = np.sort(cols)
    return out


def _ranks(model, texts: Sequence[str], fold_in, alphas: Sequence[float], items: np.ndarray) -> np.ndarray:
    """0-based ranks [A, U, T] of `items` [U, T] (padding -1 gets rank -1)."""
    parts = []
    for rows, scores in recommend_chunks(model, texts, fold_in, alphas):
        chunk = torch.as_tensor(items[rows])
        gathered = ranks_of(scores, chunk.clamp(min=0).unsqueeze(0).expand(scores.shape[0], -1, -1).contiguous())
        parts.append(torch.where(chunk.unsqueeze(0) >= 0, gathered, torch.full_like(gathered, -1)))
    if not parts:
        return np.zeros((len(alphas), 0, items.shape[1]), dtype=np.int64)
    return torch.cat(parts, dim=1).numpy()

"""Large-scope interest flip (protocol 6.1).

The editor names each test user's favourite and least favourite genre (both from the genre list)
and rewrites the summary so they swap roles. For every model and alpha:
    Delta-up   = gNDCG@20(edited, least) - gNDCG@20(original, least)
    Delta-down = gNDCG@20(original, fav) - gNDCG@20(edited, fav)
Both are better when larger. flip_ratio = share of users with Delta-up > 0.

Two reference edits put the numbers in context, both measured against the user's real (fav,
least) on every model and alpha, stored under result["references"][NAME][MODEL]:
    random: the editor swaps two genres drawn at random from the genre list (seeded per user);
            when the summary names neither, the text does not change and the deltas are 0.
    oracle: the summary is replaced by ORACLE_TEMPLATE, a short text that loves `least` and
            dislikes `fav`: an upper reference for what a text edit can do.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from tears_bench.tasks.common import (alpha_key, bootstrap_ci, bootstrap_weights, check_alphas, describe_values, model_alphas,
                          model_table, rounded, select_users, skip_row, top_k_all, user_rng, genre_ndcg)
from tears_bench.tasks.editors import NO_TEXT, NOT_FOUND, OUTSIDE_LIST, SAME_GENRE, Skip, get_editor
from tears_bench.errors import TearsBenchError

K = 20
REFERENCES = ("random", "oracle")
ORACLE_TEMPLATE = ("Summary: The user loves {least} {items} above all and enjoys them the most. "
                   "The user dislikes {favourite} {items} and does not enjoy them at all.")


def run_flip(models, split, summaries: Mapping[int, str], editor, alphas: Sequence[float] | None = None,
             seed: int = 0, limit: int | None = None, *, k: int = K, references: Sequence[str] = REFERENCES,
             resamples: int = 1000) -> tuple[dict, list[dict]]:
    alphas = check_alphas(alphas)
    genres = list(split.genres)
    if len(genres) < 2:
        raise TearsBenchError(f"the flip task needs at least 2 genres in the genre list; {split.dataset} has "
                              f"{len(genres)} ({', '.join(genres) or 'none'})")
    unknown = set(references) - set(REFERENCES)
    if unknown:
        raise TearsBenchError(f"unknown flip reference(s) {sorted(unknown)}; known: {', '.join(REFERENCES)}")
    models = model_table(models)
    editor = get_editor(editor)
    rows, users, texts, skipped_rows, skipped = select_users(split, summaries, limit, seed)

    # 1. The editor names the two genres; anything not two distinct listed genres is a skip.
    picks = editor.find_genres_many(texts, genres) if texts else []
    picks = [check_pick(p, genres) for p in picks]
    keep = [i for i, p in enumerate(picks) if not isinstance(p, Skip)]
    for i, p in enumerate(picks):
        if isinstance(p, Skip):
            skipped[p.reason] += 1
            skipped_rows.append(skip_row(split, users[i], p.reason, original=texts[i], editor_answer=p.raw))

    # 2. The edit, then drop users whose edit failed.
    pairs = [picks[i] for i in keep]
    edited = editor.flip_many([texts[i] for i in keep], pairs) if keep else []
    ok = [j for j, e in enumerate(edited) if not isinstance(e, Skip)]
    for j, e in enumerate(edited):
        if isinstance(e, Skip):
            skipped[NO_TEXT] += 1
            skipped_rows.append(skip_row(split, users[keep[j]], NO_TEXT, original=texts[keep[j]],
                                         favourite=pairs[j][0], least_favourite=pairs[j][1]))
    keep, pairs, edited = [keep[j] for j in ok], [pairs[j] for j in ok], [edited[j] for j in ok]
    users_kept, rows_kept = users[keep], rows[keep]
    originals = [texts[i] for i in keep]

    # 3. Reference edits.
    variants = {"original": originals, "edited": edited}
    reference_info: dict[str, list] = {}
    if "random" in references and keep:
        random_pairs = [_random_pair(seed, u, len(genres)) for u in users_kept.tolist()]
        random_pairs = [(genres[a], genres[b]) for a, b in random_pairs]
        random_edits = editor.flip_many(originals, random_pairs)
        # An edit that failed leaves the summary as it was (delta 0), and is flagged in the rows.
        variants["random"] = [o if isinstance(e, Skip) else e for o, e in zip(originals, random_edits)]
        reference_info["random"] = [{"pair": list(p), "edited": v, "failed": isinstance(e, Skip)}
                                    for p, v, e in zip(random_pairs, variants["random"], random_edits)]
    if "oracle" in references and keep:
        items = "books" if split.kind == "books" else "movies"
        variants["oracle"] = [ORACLE_TEMPLATE.format(least=l, favourite=f, items=items) for f, l in pairs]
        reference_info["oracle"] = [{"edited": v} for v in variants["oracle"]]

    # 4. Rankings: one batched call per model and summary variant, every alpha at once.
    index = {g: i for i, g in enumerate(genres)}
    fav = np.array([index[f] for f, _ in pairs], dtype=np.int64)
    least = np.array([index[l] for _, l in pairs], dtype=np.int64)
    genre_matrix = split.genre_matrix()
    fold_in = split.test_input[rows_kept] if keep else None
    deltas: dict[str, dict[str, tuple[np.ndarray, np.ndarray, list[float]]]] = {}
    for name, model in models.items():
        model_a = model_alphas(model, alphas)
        g_fav, g_least = {}, {}
        for variant, variant_texts in variants.items():
            if not keep:
                continue
            ranked = top_k_all(model, variant_texts, fold_in, model_a, k)
            g_fav[variant] = genre_ndcg(ranked, genre_matrix, fav, k)  # [A, U]
            g_least[variant] = genre_ndcg(ranked, genre_matrix, least, k)
        deltas[name] = {v: (g_least[v] - g_least["original"], g_fav["original"] - g_fav[v], model_a)
                        for v in g_fav if v != "original"}

    # 5. Aggregates.
    n = len(keep)
    weights = bootstrap_weights(n, seed, resamples) if n else None
    result: dict[str, Any] = {}
    for name, model in models.items():
        model_a = model_alphas(model, alphas)
        result[name] = _summarise(deltas[name].get("edited"), model_a, weights)
    if references:
        result["references"] = {ref: {name: _summarise(deltas[name].get(ref), model_alphas(m, alphas), weights)
                                      for name, m in models.items()} for ref in references}
    result["meta"] = {
        "k": k, "editor": editor.describe(), "alphas": [alpha_key(a) for a in alphas],
        "text_only_models": [n_ for n_, m in models.items() if getattr(m, "text_only", False)],
        "n_test_users": len(rows) + int(skipped["no summary"]),
        "n_users": n, "skipped": dict(skipped), "references": list(references),
        "oracle_template": ORACLE_TEMPLATE if "oracle" in references else None,
        "bootstrap": {"resamples": resamples, "level": 0.95, "seed": seed},
    }

    # 6. Per-user rows, original and edited summaries included.
    per_user = []
    for j, user in enumerate(users_kept.tolist()):
        row = {"user": user, "user_id": str(split.user_ids[user]), "editor": editor.spec,
               "favourite": pairs[j][0], "least_favourite": pairs[j][1],
               "original": originals[j], "edited": edited[j], "scores": {}, "references": {}}
        for name in models:
            for variant, (up, down, model_a) in deltas[name].items():
                target = row["scores"] if variant == "edited" else row["references"].setdefault(
                    variant, {**reference_info[variant][j], "scores": {}})["scores"]
                target[name] = {alpha_key(a): {"delta_up": rounded(up[i, j]), "delta_down": rounded(down[i, j])}
                                for i, a in enumerate(model_a)}
        per_user.append(row)
    return result, per_user + skipped_rows


def check_pick(pick, genres: list[str]):
    """The editor's (fav, least) if both are distinct genres of the list, else a Skip."""
    if isinstance(pick, Skip) or pick is None:
        return pick if isinstance(pick, Skip) else Skip(NOT_FOUND)
    favourite, least = pick
    if favourite not in genres or least not in genres:
        return Skip(OUTSIDE_LIST, f"{favourite} / {least}")
    if favourite == least:
        return Skip(SAME_GENRE, favourite)
    return favourite, least


def _random_pair(seed: int, user: int, n_genres: int) -> tuple[int, int]:
    a, b = user_rng(seed + 7919, user).choice(n_genres, size=2, replace=False)
    return int(a), int(b)


def _summarise(entry, model_a: list[float], weights) -> dict:
    """Per alpha: means, bootstrap intervals, quartiles, flip ratio and user count."""
    if entry is None or weights is None:
        return {alpha_key(a): {"delta_up": None, "delta_down": None, "delta_up_ci": None, "delta_down_ci": None,
                               "flip_ratio": None, "n_users": 0} for a in model_a}
    up, down, _ = entry
    up_ci, down_ci = bootstrap_ci(up, weights), bootstrap_ci(down, weights)
    out = {}
    for i, alpha in enumerate(model_a):
        up_stats, down_stats = describe_values(up[i]), describe_values(down[i])
        out[alpha_key(alpha)] = {
            "delta_up": rounded(up_stats["mean"]), "delta_down": rounded(down_stats["mean"]),
            "delta_up_ci": [rounded(v) for v in up_ci[i]], "delta_down_ci": [rounded(v) for v in down_ci[i]],
            "flip_ratio": rounded(float((up[i] > 0).mean())), "n_users": int(up.shape[1]),
            "delta_up_median": rounded(up_stats["median"]), "delta_down_median": rounded(down_stats["median"]),
            "delta_up_quartiles": [rounded(v) for v in up_stats["quartiles"]],
            "delta_down_quartiles": [rounded(v) for v in down_stats["quartiles"]],
        }
    return out

"""Guided contextual recommendation (protocol 6.3).

For each of the 10 most common genres g of the genre list:
    more: z = mix * z_text("Summary: More {g} movies") + (1 - mix) * z_user, mix = 0.5, against
          z = mix * z_text(EMPTY) + (1 - mix) * z_user;
                                                Delta = gNDCG@20(guided, g) - gNDCG@20(control, g)
    less: z = (z_user - z_text("Summary: Less {g} movies")) / 2, against
          z = (z_user - z_text(EMPTY)) / 2;     reported as the DECREASE
          gNDCG@20(control, g) - gNDCG@20(less, g)   (positive = the request worked)
("books" instead of "movies" on book datasets.) Means over test users, per genre and overall.
Both controls use the empty summary, as in the authors' code (control="empty", the default), so a
delta measures what the request's words do, not what mixing any text latent in does.
control="cf" keeps this suite's first choice for "more": the ranking from z_user alone (which also
credits the request with the shift that any text mixed at 0.5 causes); "less" is unchanged.

z_user is the user's CF latent (the frozen VAE encoder on the fold-in). A text-only model (TEARS
Base) has none, so its own-summary text latent takes that role (result[...]["user_latent"] says
which); such a model needs summaries, and users without one are left out of its mean.
The sweep's alphas do not apply (the mix is fixed by the protocol); they are only checked.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch

from tears_bench.tasks.common import (check_alphas, chunks, decode_scores, genre_ndcg, limit_rows, model_table, rounded,
                          select_users)
from tears_bench.errors import TearsBenchError
from tears_bench.metrics import top_k

N_GENRES = 10
K = 20
MIX = 0.5
EMPTY_SUMMARY = ""
CONTROLS = ("empty", "cf")


def guided_texts(genre: str, kind: str) -> tuple[str, str]:
    items = "books" if kind == "books" else "movies"
    return f"Summary: More {genre} {items}", f"Summary: Less {genre} {items}"


def run_guided(models, split, summaries: Mapping[int, str] | None = None, editor=None,
               alphas: Sequence[float] | None = None, seed: int = 0, limit: int | None = None, *,
               n_genres: int = N_GENRES, k: int = K, mix: float = MIX,
               empty_summary: str = EMPTY_SUMMARY, control: str = "empty") -> tuple[dict, list[dict]]:
    if control not in CONTROLS:
        raise TearsBenchError(f"unknown guided control {control!r}; known: {', '.join(CONTROLS)}")
    if alphas is not None:
        check_alphas(alphas)
    check_alphas([mix])
    models = model_table(models)
    genres = list(split.genres)[:n_genres]
    if not genres:
        raise TearsBenchError(f"the guided task needs a genre list; {split.dataset} has none")
    genre_index = np.arange(len(genres))
    genre_matrix = split.genre_matrix()
    more_texts, less_texts = zip(*(guided_texts(g, split.kind) for g in genres))

    all_rows = limit_rows(len(split.test_users), limit, seed)
    all_users = np.asarray(split.test_users)[all_rows]
    text_rows, text_users, own_texts, skipped_rows, skipped = select_users(split, summaries, limit, seed)
    result: dict[str, Any] = {}
    per_user: list[dict] = []
    for name, model in models.items():
        text_only = bool(getattr(model, "text_only", False))
        if text_only:
            rows, users = text_rows, text_users
            fold_in = split.test_input[rows]
            z_user = _latent(model.text_latent, own_texts) if len(rows) else None
        else:
            rows, users = all_rows, all_users
            fold_in = split.test_input[rows]
            z_user = _latent(model.cf_latent, fold_in) if len(rows) else None
        if z_user is None:
            result[name] = {"more": None, "less": None, "n_users": 0,
                            "user_latent": "own summary" if text_only else "cf"}
            continue
        z_more = _latent(model.text_latent, list(more_texts))  # [G, D]
        z_less = _latent(model.text_latent, list(less_texts))
        z_empty = _latent(model.text_latent, [empty_summary])  # [1, D]

        more = np.zeros((len(genres), len(users)))
        less = np.zeros((len(genres), len(users)))
        for part in chunks(len(users), 2 * len(genres) + 2, split.n_items):
            z, f = z_user[part], fold_in[part]
            base = _top(model, z if control == "cf" else mix * z_empty + (1 - mix) * z, f, k)
            base_less = _top(model, (z - z_empty) / 2, f, k)
            g_base = genre_ndcg(base.expand(len(genres), -1, -1), genre_matrix, genre_index[:, None], k)
            g_base_less = genre_ndcg(base_less.expand(len(genres), -1, -1), genre_matrix, genre_index[:, None], k)
            for g in range(len(genres)):
                guided = _top(model, mix * z_more[g:g + 1] + (1 - mix) * z, f, k)
                fewer = _top(model, (z - z_less[g:g + 1]) / 2, f, k)
                more[g, part] = genre_ndcg(guided, genre_matrix, g, k) - g_base[g]
                less[g, part] = g_base_less[g] - genre_ndcg(fewer, genre_matrix, g, k)
        result[name] = {
            "more": {**{g: rounded(more[i].mean()) for i, g in enumerate(genres)}, "mean": rounded(more.mean())},
            "less": {**{g: rounded(less[i].mean()) for i, g in enumerate(genres)}, "mean": rounded(less.mean())},
            "more_helped_ratio": rounded(float((more > 0).mean())),
            "less_helped_ratio": rounded(float((less > 0).mean())),
            "n_users": int(len(users)), "user_latent": "own summary" if text_only else "cf",
        }
        for j, user in enumerate(users.tolist()):
            per_user.append({"user": int(user), "user_id": str(split.user_ids[user]), "model": name,
                             "more": {g: rounded(more[i, j]) for i, g in enumerate(genres)},
                             "less": {g: rounded(less[i, j]) for i, g in enumerate(genres)}})
    text_only_models = [n for n, m in models.items() if getattr(m, "text_only", False)]
    result["meta"] = {
        "genres": genres, "k": k, "mix": mix, "empty_summary": empty_summary, "control": control,
        "texts": {"more": list(more_texts), "less": list(less_texts)}, "n_test_users": int(len(all_users)),
        "text_only_models": text_only_models,
        "skipped": {"no summary (text-only models)": int(skipped["no summary"])} if text_only_models else {},
    }
    if text_only_models:
        per_user += [{**row, "models": text_only_models} for row in skipped_rows]
    return result, per_user


def _latent(encode, inputs) -> torch.Tensor:
    return torch.as_tensor(encode(inputs)).detach().cpu().float()


def _top(model, z: torch.Tensor, fold_in, k: int) -> torch.Tensor:
    return top_k(decode_scores(model, z, fold_in), k)

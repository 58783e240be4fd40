"""Helpers shared by the tasks: inputs checked once, rankings in user chunks, bootstrap, ranks.

Every task function has the signature documented in `tasks/registry.py`. Models follow the TEARS
interface (`name`, `text_only`, `text_latent`, `cf_latent`, `decode`, `recommend`); a text-only
model (TEARS Base) ignores alpha, so it is evaluated once, under the key "1.0".
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch

from tears_bench.errors import TearsBenchError
from tears_bench.metrics import exclude_inputs, genre_ndcg_at_k, scored_batches, top_k
from tears_bench.models.tears import alpha_key  # re-exported: the tasks name results by it too

RESERVED_KEYS = ("meta", "references")
CHUNK_ELEMENTS = 1 << 25  # scores held at once: alphas x users x items (128 MiB of float32)
BOOTSTRAP_RESAMPLES = 1000
CI_LEVEL = 0.95


def check_alphas(alphas: Iterable[float] | None, default: Sequence[float] = (1.0,)) -> list[float]:
    """Alphas as floats in [0, 1], duplicates (after 1-decimal keys) removed, order kept."""
    values = list(default if alphas is None else alphas)
    if not values:
        raise TearsBenchError("no alpha given: pass at least one value in [0, 1]")
    out, seen = [], set()
    for value in values:
        try:
            alpha = float(value)
        except (TypeError, ValueError):
            raise TearsBenchError(f"alpha must be a number in [0, 1], got {value!r}") from None
        if not 0.0 <= alpha <= 1.0 or alpha != alpha:
            raise TearsBenchError(f"alpha must be in [0, 1] (the weight of the text latent), got {value!r}")
        if alpha_key(alpha) not in seen:
            seen.add(alpha_key(alpha))
            out.append(alpha)
    return out


def model_table(models: Any) -> dict[str, Any]:
    """name -> model, from a mapping or a sequence of objects with `.name`."""
    if models is None:
        return {}
    if isinstance(models, Mapping):
        table = dict(models)
    else:
        if hasattr(models, "recommend"):
            models = [models]
        table = {str(getattr(m, "name", "") or type(m).__name__): m for m in models}
    for name in table:
        if name in RESERVED_KEYS:
            raise TearsBenchError(f"a model may not be named {name!r}: the task results use that key")
    if not table:
        raise TearsBenchError("no model to evaluate")
    return table


def model_alphas(model: Any, alphas: Sequence[float]) -> list[float]:
    return [1.0] if getattr(model, "text_only", False) else list(alphas)


LIMIT_SALT = 0x11A17  # keeps the --limit draw apart from the other draws seeded by the same seed


def limit_rows(n_users: int, limit: int | None, seed: int = 0) -> np.ndarray:
    """Positions of `limit` of `n_users` users drawn at random, seeded, ascending (all when None).

    The first N test users are not a sample: split order may follow ids, hence sign-up time or
    activity. The draw depends only on (seed, n_users, limit), so every task, `compare` and a
    rerun see the same users, and a smaller limit takes a subset of a larger one's users.
    """
    if limit is not None and int(limit) < 1:
        raise TearsBenchError(f"--limit must be at least 1, got {limit}")
    if limit is None or int(limit) >= n_users:
        return np.arange(n_users)
    order = np.random.default_rng([LIMIT_SALT, int(seed)]).permutation(n_users)
    return np.sort(order[: int(limit)])


def limit_users(users: Sequence, limit: int | None, seed: int = 0) -> np.ndarray:
    """The users of `limit_rows`, in their original order."""
    users = np.asarray(users)
    return users[limit_rows(len(users), limit, seed)]


def select_users(split, summaries: Mapping[int, str] | None, limit: int | None, seed: int = 0
                 ) -> tuple[np.ndarray, np.ndarray, list[str], list[dict], Counter]:
    """Test users (a seeded random `limit` of them, see `limit_users`) with a non-empty summary.

    Returns (rows into the test matrices, user indices, summary texts, skipped rows, skip counts).
    Summaries are keyed by user index (the values of `split.test_users`).
    """
    all_users = np.asarray(split.test_users)
    positions = limit_rows(len(all_users), limit, seed)
    summaries = summaries or {}
    rows, kept, texts, skipped = [], [], [], []
    for position, user in zip(positions.tolist(), all_users[positions].tolist()):
        text = summaries.get(user, summaries.get(str(user)) if not isinstance(user, str) else None)
        if not isinstance(text, str) or not text.strip():
            skipped.append(skip_row(split, user, "no summary"))
            continue
        rows.append(position)
        kept.append(user)
        texts.append(text)
    counts = Counter(r["skipped"] for r in skipped)
    return np.asarray(rows, dtype=np.int64), np.asarray(kept, dtype=np.int64), texts, skipped, counts


def skip_row(split, user: int, reason: str, **extra) -> dict:
    return {"user": int(user), "user_id": str(split.user_ids[user]), "skipped": reason, **extra}


def user_rng(seed: int, user: int) -> np.random.Generator:
    """One generator per (seed, user): draws do not depend on which other users are evaluated."""
    return np.random.default_rng([int(seed), int(user)])


def chunks(n_users: int, n_alphas: int, n_items: int, chunk_elements: int | None = None) -> list[slice]:
    size = max(1, (chunk_elements or CHUNK_ELEMENTS) // max(1, n_alphas * n_items))
    return [slice(start, min(start + size, n_users)) for start in range(0, n_users, size)]


def recommend_chunks(model, texts: Sequence[str], fold_in, alphas: Sequence[float]):
    """Yield (user slice, scores [A, u, I]) with fold-in items at -inf, a chunk of users at a time.

    The model's `recommend` already puts the fold-in items at -inf (the model interface), so the
    scores are not masked a second time.
    """
    def score(x, rows):
        return model.recommend(list(texts[rows]), x, list(alphas))

    batches = chunks(len(texts), len(alphas), fold_in.shape[1])
    for rows, scores in scored_batches(score, fold_in, batches, exclude=False):
        scores = scores.detach().cpu()
        if scores.dim() != 3 or scores.shape[0] != len(alphas):
            raise TearsBenchError(f"{getattr(model, 'name', model)}.recommend returned shape {tuple(scores.shape)}, "
                                  f"expected [alphas, users, items]")
        yield rows, scores


def top_k_all(model, texts: Sequence[str], fold_in, alphas: Sequence[float], k: int) -> torch.Tensor:
    """Ranked item indices [A, U, k] (best first) for every alpha, in user chunks."""
    return torch.cat([top_k(scores, k) for _, scores in recommend_chunks(model, texts, fold_in, alphas)], dim=1)


def decode_scores(model, z: torch.Tensor, fold_in) -> torch.Tensor:
    """Decoder logits [U, I] on the CPU with fold-in items at -inf."""
    scores = torch.as_tensor(model.decode(z)).detach().cpu().float()
    return exclude_inputs(scores, fold_in)


def genre_ndcg(ranked: torch.Tensor, genre_matrix: np.ndarray, genre: np.ndarray | int, k: int = 20) -> np.ndarray:
    """gNDCG@k of ranked lists [..., U, >=k] for one genre per user (broadcast over leading dims)."""
    shape = ranked.shape[:-1]
    flat = ranked.reshape(-1, ranked.shape[-1])
    per_row = np.broadcast_to(np.asarray(genre), shape).reshape(-1)
    return genre_ndcg_at_k(flat, genre_matrix, per_row, k=k).reshape(shape)


def bootstrap_weights(n: int, seed: int, resamples: int = BOOTSTRAP_RESAMPLES) -> np.ndarray:
    """[resamples, n] counts of each user in each resample (rows sum to n), seeded."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(resamples, n))
    offsets = (np.arange(resamples) * n)[:, None]
    return np.bincount((draws + offsets).ravel(), minlength=resamples * n).reshape(resamples, n).astype(np.float64)


def bootstrap_ci(values: np.ndarray, weights: np.ndarray, level: float = CI_LEVEL) -> np.ndarray:
    """Percentile interval of the mean over the last axis: [..., 2] (lower, upper)."""
    values = np.asarray(values, dtype=np.float64)
    means = values @ weights.T / values.shape[-1]  # [..., resamples]
    tail = 100 * (1 - level) / 2
    return np.moveaxis(np.percentile(means, [tail, 100 - tail], axis=-1), 0, -1)


def describe_values(values: np.ndarray) -> dict:
    """mean, median and quartiles of a 1-d array (None when empty), as plain floats."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return {"mean": None, "median": None, "quartiles": None}
    q1, q2, q3 = np.percentile(values, [25, 50, 75])
    return {"mean": float(values.mean()), "median": float(q2), "quartiles": [float(q1), float(q2), float(q3)]}


def ranks_of(scores: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """0-based rank of `items` [A, U, T] in `scores` [A, U, I]: how many items score strictly higher.

    Input items at -inf never count as higher, so ranks are over the non-input items.
    """
    ordered = torch.sort(scores, dim=-1).values.contiguous()
    target = torch.gather(scores, -1, items)
    return scores.shape[-1] - torch.searchsorted(ordered, target.contiguous(), right=True)


def rounded(value: float | None, digits: int = 6) -> float | None:
    return None if value is None or value != value else round(float(value), digits)

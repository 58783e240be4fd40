"""What the `serve` page does with one trained TEARS model, without any web framework.

A person picks a test user, edits the summary, moves alpha, and sees the top-N list change. Every
list is the model's own scoring (`TearsRecommender.recommend`, fold-in items excluded), the same
call the tasks make. The one-click simulated edits call the task functions themselves on a
one-user view of the split (`one_user_split`), so a simulation shows exactly the numbers the
benchmark reports for that user. A saved session is scored with the tasks' formulas too: the
flip deltas for the editor's (favourite, least favourite) of the original summary, the rank change
of every held-out item, and gNDCG@20 per genre.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from tears_bench.errors import TearsBenchError
from tears_bench.metrics import top_k
from tears_bench.models.tears import alpha_key
from tears_bench.storage import atomic_write_bytes
from tears_bench.tasks.common import decode_scores, genre_ndcg, ranks_of, rounded
from tears_bench.tasks.flip import check_pick
from tears_bench.tasks.guided import MIX, guided_texts
from tears_bench.tasks.rank import WINDOW

TEXT_LIMIT = 4000  # characters of a summary; GPT-4 summaries on ML-1M are under 1,200
MAX_N = 100
K = 20  # the tasks' gNDCG@20
SESSIONS_FILE = "serve_sessions.jsonl"
SIMULATED_TASKS = ("flip", "rank", "guided")
CACHED_USERS = 64  # original-summary scores kept in memory (a person looks at a few users)


class InputError(TearsBenchError):
    """A request the page cannot answer; `status` is the HTTP status the app sends."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


def one_user_split(split, row: int):
    """The split with one test user (row `row` of the test part): what a task sees for that user."""
    return dataclasses.replace(split, test_users=split.test_users[row:row + 1],
                               test_input=split.test_input[row:row + 1], test_target=split.test_target[row:row + 1])


class Workbench:
    """One model, its split, summaries and editor; every public method is thread-safe."""

    def __init__(self, split, summaries, recommender, editor, out_dir: Path, *, model: str, alpha: float,
                 sweep: Sequence[float], seed: int = 0, guided_control: str = "empty", run_label: str = ""):
        self.split, self.summaries, self.model, self.editor = split, summaries, recommender, editor
        self.name, self.out_dir, self.seed = model, Path(out_dir), seed
        self.alpha = check_alpha(alpha)
        self.sweep = sorted({float(a) for a in sweep})  # the run's alphas: the rank task's eligibility
        self.guided_control, self.run_label = guided_control, run_label
        self.genres = list(split.genres)
        self.genre_matrix = split.genre_matrix()
        self.titles, self.item_genres = split.item_titles, split.item_genres
        self.item_ids = [str(i) for i in split.item_ids]
        self.user_ids = [str(split.user_ids[u]) for u in split.test_users]
        self.rows = {user_id: row for row, user_id in enumerate(self.user_ids)}
        self._original = OrderedDict()  # (row, alpha key) -> scores [items]
        self._lock = threading.Lock()
        embeddings = getattr(recommender.encoder, "embeddings", None)
        if hasattr(embeddings, "load_model"):  # a frozen encoder loads its weights on the first new text
            embeddings.load_model()

    # --- looking up -------------------------------------------------------------------------
    def info(self) -> dict:
        return {"model": self.name, "dataset": self.split.dataset, "run": self.run_label, "alpha": self.alpha,
                "top_n": K, "text_limit": TEXT_LIMIT, "genres": self.genres, "text_only": self.model.text_only,
                "editor": self.editor.spec, "kind": self.split.kind, "mix": MIX, "n_users": len(self.user_ids),
                "guided_genres": self.genres[:10]}

    def search_users(self, query: str = "", limit: int = 20) -> dict:
        query = str(query).strip()
        if len(query) > 64:
            raise InputError("the user search is at most 64 characters")
        limit = max(1, min(int(limit), 200))
        found = [u for u in self.user_ids if query in u]
        inputs = np.diff(self.split.test_input.indptr)
        return {"users": [{"user_id": u, "n_history": int(inputs[self.rows[u]]),
                           "has_summary": bool(self._summary(self.rows[u]).strip())} for u in found[:limit]],
                "total": len(found)}

    def user(self, user_id: str) -> dict:
        row = self._row(user_id)
        with self._lock:
            scores = self._original_scores(row, self.alpha)
            heldout = self.split.test_target[row].indices
            ranks = self._ranks(scores, heldout)
            suggested = self._suggested_item(row)
        history = self.split.test_input[row].indices
        return {"user_id": user_id, "summary": self._summary(row), "history": [self._item(i) for i in history],
                "heldout": [{**self._item(i), "rank": int(r) + 1} for i, r in zip(heldout.tolist(), ranks)],
                "suggested_item": suggested}

    # --- editing ----------------------------------------------------------------------------
    def recommend(self, user_id: str, text: str, alpha: float, n: int = K) -> dict:
        """Top-n for `text` at `alpha` (1-based ranks), each item's rank with the original summary at
        the same alpha, and gNDCG@20 per genre before (original) and after (this text)."""
        row, text, alpha, n = self._row(user_id), check_text(text), check_alpha(alpha), check_n(n)
        started = time.perf_counter()
        with self._lock:
            original = self._original_scores(row, alpha)
            scores = self._scores(row, text, alpha)
            answer = self._compare_lists(scores, original, n)
        return {"alpha": alpha, **answer, "elapsed_ms": round(1000 * (time.perf_counter() - started), 1)}

    def simulate(self, user_id: str, task: str, alpha: float, item: int | None = None, genre: str | None = None,
                 direction: str = "more") -> dict:
        """One task's simulated edit for this user, through the task function itself."""
        row, alpha = self._row(user_id), check_alpha(alpha)
        if task not in SIMULATED_TASKS:
            raise InputError(f"unknown task {task!r}; the page simulates {', '.join(SIMULATED_TASKS)}")
        with self._lock:
            if task == "guided":
                return self._simulate_guided(row, genre, direction)
            if not self._summary(row).strip():
                raise InputError(f"user {user_id} has no summary to edit")
            return self._simulate_rank(row, alpha, item) if task == "rank" else self._simulate_flip(row, alpha)

    def save_session(self, user_id: str, edited: str, alpha: float, simulated: str | None = None) -> dict:
        """Append the edit, its lists and its scores to SESSIONS_FILE in the run folder (atomically)."""
        row, edited, alpha = self._row(user_id), check_text(edited), check_alpha(alpha)
        if simulated is not None and simulated not in SIMULATED_TASKS:
            raise InputError(f"simulated must be flip, rank, guided or null, got {simulated!r}")
        with self._lock:
            record = self._session_record(row, edited, alpha, simulated)
            path = self.out_dir / SESSIONS_FILE
            before = path.read_bytes() if path.exists() else b""
            atomic_write_bytes(path, before + (json.dumps(record) + "\n").encode("utf-8"))
        return {"saved": SESSIONS_FILE, "count": before.count(b"\n") + 1}

    # --- the model --------------------------------------------------------------------------
    def _scores(self, row: int, text: str, alpha: float) -> torch.Tensor:
        """The model's scores [items] of `text` for this user, fold-in items at -inf."""
        return self.model.recommend([text], self.split.test_input[row], [alpha])[0, 0]

    def _original_scores(self, row: int, alpha: float) -> torch.Tensor:
        key = (row, alpha_key(alpha))
        if key not in self._original:
            self._original[key] = self._scores(row, self._summary(row), alpha)
            if len(self._original) > CACHED_USERS:
                self._original.popitem(last=False)
        self._original.move_to_end(key)
        return self._original[key]

    def _compare_lists(self, scores: torch.Tensor, baseline: torch.Tensor, n: int) -> dict:
        ranked = top_k(scores[None], max(n, K))[0]
        before = top_k(baseline[None], K)[0]
        original_ranks = self._ranks(baseline, ranked[:n].numpy())
        items = [{**self._item(i), "rank": r + 1, "original_rank": int(o) + 1, "rank_change": int(o) - r,
                  "score": round(float(scores[i]), 4)}
                 for r, (i, o) in enumerate(zip(ranked[:n].tolist(), original_ranks))]
        return {"items": items, "genre_ndcg": self._genre_ndcg(before, ranked[:K])}

    def _genre_ndcg(self, before: torch.Tensor, after: torch.Tensor) -> list[dict]:
        index = np.arange(len(self.genres))
        both = torch.stack([before, after])[:, None].expand(2, len(index), -1)  # [2, G, K]
        values = genre_ndcg(both, self.genre_matrix, index[None, :], K)
        return [{"genre": g, "before": rounded(values[0, i], 4), "after": rounded(values[1, i], 4)}
                for i, g in enumerate(self.genres)]

    @staticmethod
    def _ranks(scores: torch.Tensor, items) -> list[int]:
        """0-based ranks of `items` under `scores` (the tasks' ranks_of: items scored strictly higher)."""
        items = torch.as_tensor(np.asarray(items, dtype=np.int64))
        if not len(items):
            return []
        return ranks_of(scores[None, None], items[None, None])[0, 0].tolist()

    def _suggested_item(self, row: int) -> int | None:
        """The held-out item the rank task would pick for this model: ranked in the window at every
        alpha of the sweep, the first in the user's seeded order."""
        from tears_bench.tasks.rank import first_eligible, padded_targets, target_order

        targets = padded_targets(self.split.test_target[row:row + 1])
        alphas = [1.0] if self.model.text_only else self.sweep
        scores = self.model.recommend([self._summary(row)], self.split.test_input[row], alphas)[:, 0]  # [A, items]
        ranks = np.stack([self._ranks(s, np.maximum(targets[0], 0)) for s in scores])
        eligible = (targets[0] >= 0) & ((ranks >= WINDOW[0]) & (ranks < WINDOW[1])).all(axis=0)
        user = int(self.split.test_users[row])
        column = first_eligible(target_order(np.array([user]), targets, self.seed), eligible[None])[0]
        return int(targets[0, column]) if column >= 0 else None

    # --- simulations ------------------------------------------------------------------------
    def _simulate_flip(self, row: int, alpha: float) -> dict:
        from tears_bench.tasks.flip import run_flip

        key = "1.0" if self.model.text_only else alpha_key(alpha)
        _, rows = run_flip({self.name: self.model}, one_user_split(self.split, row), self._one_summary(row),
                           self.editor, [alpha], seed=self.seed, references=(), resamples=1)
        found = rows[0]
        if "skipped" in found:
            raise InputError(f"the {self.editor.spec} editor could not flip this summary: {found['skipped']}")
        scores = found["scores"][self.name][key]
        return {"task": "flip", "edited": found["edited"],
                "message": f"swapped {found['favourite']} (favourite) and {found['least_favourite']} (least favourite)",
                "numbers": {"favourite": found["favourite"], "least_favourite": found["least_favourite"],
                            "delta_up": scores["delta_up"], "delta_down": scores["delta_down"], "alpha": alpha},
                "result": self._result(row, found["edited"], alpha)}

    def _simulate_rank(self, row: int, alpha: float, item: int | None) -> dict:
        """The rank task on this user: its own target (item None) or `item`, as the only target in a
        window of every rank, so the task's three attempts and median pick apply unchanged."""
        from tears_bench.tasks.rank import run_rank

        view, window = one_user_split(self.split, row), WINDOW
        if item is not None:
            item = self._check_item(row, item)
            view = dataclasses.replace(view, test_target=_one_item_target(item, self.split.n_items))
            window = (0, self.split.n_items)
        alphas = sorted(set(self.sweep) | {alpha})
        _, rows = run_rank({self.name: self.model}, view, self._one_summary(row), self.editor, alphas,
                           seed=self.seed, window=window, resamples=1)
        found = rows[0]
        if "skipped" in found:
            raise InputError(f"no rank edit for this user: {found['skipped']}")
        ranks = found["ranks"][self.name]["1.0" if self.model.text_only else alpha_key(alpha)]
        attempt = found["attempts"][ranks["attempt"]]
        return {"task": "rank", "edited": attempt["edited"],
                "message": f"described {found['target_title']} as \"{attempt['description']}\" and wrote it in",
                "numbers": {"item": found["target_item"], "title": found["target_title"],
                            "description": attempt["description"], "rank_before": ranks["original"] + 1,
                            "rank_after": ranks["edited"] + 1, "rank_change": ranks["rank_change"],
                            "attempt": ranks["attempt"], "alpha": alpha},
                "result": self._result(row, attempt["edited"], alpha)}

    def _simulate_guided(self, row: int, genre: str | None, direction: str) -> dict:
        from tears_bench.tasks.guided import run_guided

        if genre not in self.genres[:10]:
            raise InputError(f"guided takes one of the 10 most common genres: {', '.join(self.genres[:10])}; "
                             f"got {genre!r}")
        if direction not in ("more", "less"):
            raise InputError(f"direction must be more or less, got {direction!r}")
        _, rows = run_guided({self.name: self.model}, one_user_split(self.split, row), self._one_summary(row),
                             seed=self.seed, control=self.guided_control)
        if not rows or "skipped" in rows[0]:
            raise InputError("guided needs this user's summary (a text-only model has no CF latent)")
        guided, control = self._guided_lists(row, genre, direction)
        return {"task": "guided", "edited": None,
                "message": f"asked for {direction} {genre} (mixed at {MIX} with the user's latent)",
                "numbers": {"genre": genre, "direction": direction, "delta": rows[0][direction][genre], "mix": MIX},
                "result": {"alpha": None, **self._compare_lists(guided, control, K)}}

    def _guided_lists(self, row: int, genre: str, direction: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores of the guided latent and of its control, as the guided task builds them."""
        fold_in = self.split.test_input[row:row + 1]
        z = (self.model.text_latent([self._summary(row)]) if self.model.text_only
             else self.model.cf_latent(fold_in)).detach().cpu().float()
        more, less = guided_texts(genre, self.split.kind)
        z_text = self.model.text_latent([more if direction == "more" else less]).detach().cpu().float()
        z_empty = self.model.text_latent([""]).detach().cpu().float()
        if direction == "more":
            guided = MIX * z_text + (1 - MIX) * z
            control = z if self.guided_control == "cf" else MIX * z_empty + (1 - MIX) * z
        else:
            guided, control = (z - z_text) / 2, (z - z_empty) / 2
        return decode_scores(self.model, guided, fold_in)[0], decode_scores(self.model, control, fold_in)[0]

    def _result(self, row: int, text: str, alpha: float) -> dict:
        return {"alpha": alpha, **self._compare_lists(self._scores(row, text, alpha),
                                                      self._original_scores(row, alpha), K)}

    # --- sessions ---------------------------------------------------------------------------
    def _session_record(self, row: int, edited: str, alpha: float, simulated: str | None) -> dict:
        """The edit and its numbers under the tasks' definitions, at `alpha`."""
        original = self._summary(row)
        before, after = self._original_scores(row, alpha), self._scores(row, edited, alpha)
        top_before, top_after = top_k(before[None], K)[0], top_k(after[None], K)[0]
        heldout = self.split.test_target[row].indices
        ranks_before, ranks_after = self._ranks(before, heldout), self._ranks(after, heldout)
        return {
            "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "model": self.name,
            "dataset": self.split.dataset, "user": int(self.split.test_users[row]), "user_id": self.user_ids[row],
            "alpha": alpha_key(alpha), "simulated": simulated, "editor": self.editor.spec,
            "original": original, "edited": edited,
            "lists": {"original": [self.item_ids[i] for i in top_before.tolist()],
                      "edited": [self.item_ids[i] for i in top_after.tolist()]},
            "genre_ndcg": self._genre_ndcg(top_before, top_after),
            "flip": self._flip_numbers(original, top_before, top_after),
            "heldout_ranks": [{"item_id": self.item_ids[i], "original": b, "edited": a, "rank_change": b - a}
                              for i, b, a in zip(heldout.tolist(), ranks_before, ranks_after)],
        }

    def _flip_numbers(self, original: str, top_before: torch.Tensor, top_after: torch.Tensor) -> dict | None:
        """The flip task's deltas for the editor's (favourite, least favourite) of the original text."""
        if not original.strip():
            return None
        pick = check_pick(self.editor.find_genres_many([original], self.genres)[0], self.genres)
        if not pick:
            return {"skipped": pick.reason}
        favourite, least = pick
        g = {name: genre_ndcg(torch.stack([top_before, top_after])[:, None], self.genre_matrix,
                              self.genres.index(name), K)[:, 0] for name in pick}
        return {"favourite": favourite, "least_favourite": least, "delta_up": rounded(g[least][1] - g[least][0]),
                "delta_down": rounded(g[favourite][0] - g[favourite][1])}

    # --- checks -----------------------------------------------------------------------------
    def _row(self, user_id) -> int:
        row = self.rows.get(str(user_id).strip())
        if row is None:
            raise InputError(f"unknown user id {str(user_id)[:64]!r}: not a test user of {self.split.dataset}", 404)
        return row

    def _summary(self, row: int) -> str:
        text = self.summaries.get(int(self.split.test_users[row]))
        return text if isinstance(text, str) else ""

    def _one_summary(self, row: int) -> dict:
        return {int(self.split.test_users[row]): self._summary(row)}

    def _check_item(self, row: int, item) -> int:
        try:
            item = int(item)
        except (TypeError, ValueError):
            raise InputError(f"item must be an item index, got {item!r}") from None
        if not 0 <= item < self.split.n_items:
            raise InputError(f"item {item} is outside the catalogue (0..{self.split.n_items - 1})")
        if item in set(self.split.test_input[row].indices.tolist()):
            raise InputError(f"item {item} ({self.titles[item]}) is in the user's history: it is never recommended")
        return item

    def _item(self, item: int) -> dict:
        return {"item": int(item), "item_id": self.item_ids[item], "title": self.titles[item],
                "genres": list(self.item_genres[item])}


def _one_item_target(item: int, n_items: int):
    import scipy.sparse as sp

    return sp.csr_matrix((np.ones(1, dtype=np.float32), (np.zeros(1, dtype=np.int64), np.array([item]))),
                         shape=(1, n_items))


def check_alpha(alpha) -> float:
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise InputError(f"alpha must be a number in [0, 1], got {alpha!r}") from None
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise InputError(f"alpha must be in [0, 1] (the weight of the text), got {alpha!r}")
    return value


def check_text(text) -> str:
    if not isinstance(text, str):
        raise InputError("the summary must be text")
    if len(text) > TEXT_LIMIT:
        raise InputError(f"the summary is {len(text)} characters; the limit is {TEXT_LIMIT}", 413)
    return text


def check_n(n) -> int:
    try:
        value = int(n)
    except (TypeError, ValueError):
        raise InputError(f"n must be a whole number in 1..{MAX_N}, got {n!r}") from None
    if not 1 <= value <= MAX_N:
        raise InputError(f"n must be in 1..{MAX_N}, got {n!r}")
    return value

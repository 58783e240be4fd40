"""A fake TEARS model with the tasks' model interface, hand-made summaries, and tests of the fake.

The fake's latent space is the genre list: text_latent = +1 for each genre a sentence names
without a dislike cue, -1 with one ("dislikes", "avoids", "not", "hate"); cf_latent = the genre
histogram of the fold-in; decode(z) = z @ genre_matrix plus a tiny per-item term that breaks ties.
So a ranking follows the genres of the latent, and at alpha 0 the text has no effect at all.
Other test modules import it (`from test_tasks_fake import ...`).
"""
from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import torch

from tears_bench.data.split import build_split
from tears_bench.data.synthetic import generate
from tears_bench.metrics import exclude_inputs

_DISLIKE = re.compile(r"\b(?:dislikes?|avoids?|not|hates?|never)\b", re.IGNORECASE)


class FakeTears:
    def __init__(self, split, name: str = "fake-tears", text_only: bool = False, seed: int = 0):
        self.name, self.text_only = name, text_only
        self.genres = list(split.genres)
        self.genre_matrix = torch.as_tensor(split.genre_matrix(), dtype=torch.float32)  # [G, I]
        rng = np.random.default_rng(seed)
        self.item_term = torch.as_tensor(rng.permutation(split.n_items) * 1e-6, dtype=torch.float32)
        names = sorted(self.genres, key=len, reverse=True)
        body = "|".join(re.escape(g).replace(r"\ ", "[ -]") for g in names)
        self.pattern = re.compile(rf"\b({body})s?\b", re.IGNORECASE)
        self.calls = 0

    def _genre_index(self, word: str) -> int:
        word = word.lower().replace("-", " ")
        return self.genres.index(word if word in self.genres else word[:-1])

    def text_latent(self, summaries):
        z = torch.zeros(len(summaries), len(self.genres))
        for row, text in enumerate(summaries):
            for clause in re.split(r"[.;]|\bbut\b", text):
                sign = -1.0 if _DISLIKE.search(clause) else 1.0
                for match in self.pattern.finditer(clause):
                    z[row, self._genre_index(match.group(1))] = sign
        return z

    def cf_latent(self, fold_in):
        if self.text_only:
            raise RuntimeError("text only")
        dense = torch.as_tensor((fold_in > 0).toarray(), dtype=torch.float32)
        hist = dense @ self.genre_matrix.T
        return hist / hist.sum(dim=1, keepdim=True).clamp(min=1)

    def decode(self, z):
        return z @ self.genre_matrix + self.item_term

    def recommend(self, summaries, fold_in, alphas):
        self.calls += 1
        z_text = self.text_latent(summaries)
        if self.text_only:
            latents = [z_text for _ in alphas]
        else:
            z_cf = self.cf_latent(fold_in)
            latents = [a * z_text + (1 - a) * z_cf for a in alphas]
        return torch.stack([exclude_inputs(self.decode(z), fold_in) for z in latents])


@lru_cache(maxsize=2)
def small_split(users: int = 300, items: int = 400, seed: int = 1):
    return build_split(generate(users=users, items=items, seed=seed))


def genre_tastes(split, user: int) -> list[str]:
    """The user's genres from best to worst by summed (rating - 3) over their summary set."""
    index = {g: i for i, g in enumerate(split.genres)}
    score = np.zeros(len(split.genres))
    seen = np.zeros(len(split.genres))
    for item, rating in split.summary_set(user):
        for genre in split.catalog.genres[item]:
            if genre in index:
                score[index[genre]] += rating - 3
                seen[index[genre]] += 1
    order = sorted(range(len(split.genres)), key=lambda g: (-score[g], -seen[g], g))
    return [split.genres[g] for g in order]


def hand_summaries(split, users=None) -> dict[int, str]:
    """One short summary per test user: two liked genres, one disliked, a neutral sentence."""
    out = {}
    for user in (split.test_users if users is None else users):
        tastes = genre_tastes(split, int(user))
        best, second, worst = tastes[0], tastes[1], tastes[-1]
        out[int(user)] = (f"Summary: The user enjoys {best} movies and also likes {second} movies. "
                          f"They appreciate strong characters and clever endings. "
                          f"The user does not enjoy {worst} movies.")
    return out


# --- tests of the fake itself ------------------------------------------------------------------

def test_fake_text_latent_reads_likes_and_dislikes():
    split = small_split()
    model = FakeTears(split)
    z = model.text_latent(["Summary: The user enjoys drama movies but dislikes horror. Loves sci-fi."])[0]
    assert z[split.genres.index("drama")] == 1 and z[split.genres.index("horror")] == -1
    assert z[split.genres.index("sci fi")] == 1
    assert int((z != 0).sum()) == 3


def test_fake_ranking_follows_the_latent_genre():
    split = small_split()
    model = FakeTears(split)
    g = split.genres.index("horror")
    z = torch.zeros(1, len(split.genres))
    z[0, g] = 1.0
    top = torch.topk(model.decode(z), 20).indices[0].numpy()
    assert split.genre_matrix()[g, top].all()


def test_fake_alpha_zero_ignores_text():
    split = small_split()
    model = FakeTears(split)
    fold_in = split.test_input[:5]
    a = model.recommend(["Summary: loves horror"] * 5, fold_in, [0.0, 1.0])
    b = model.recommend(["Summary: loves comedy"] * 5, fold_in, [0.0, 1.0])
    assert torch.equal(a[0], b[0]) and not torch.equal(a[1], b[1])

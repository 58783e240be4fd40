"""TEARS Base and TEARS-<VAE>: mixing, alignment options, training, caching, LoRA."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tears_bench.models.alignment import ALIGNMENTS
from tears_bench.models.tears import Tears
from tears_bench.models.tears_trainer import SWEEP_ALPHAS, train_tears
from tears_bench.models.trainer import get_trained
from tears_bench.data import get_split, model_input
from tests.tiny_encoders import build_tiny_encoders

DATASET = "synthetic:users=200,items=300,seed=4"
GENRE_WORDS = ["drama", "comedy", "action", "romance", "thriller", "horror", "adventure", "war", "crime"]


@pytest.fixture(scope="module")
def encoders(tmp_path_factory):
    return build_tiny_encoders(tmp_path_factory.mktemp("tiny"))


def word_summaries(split) -> dict[int, str]:
    """Short summaries in the tiny encoder's vocabulary, built from each user's best-rated genre."""
    out = {}
    for user in range(len(split.user_ids)):
        genres = [g for item, rating in split.summary_set(user) if rating > 3
                  for g in split.catalog.genres[item] if g in GENRE_WORDS]
        liked = max(sorted(set(genres)), key=genres.count) if genres else "drama"  # ties: alphabetical
        out[user] = f"summary : the user loves {liked} movies and avoids horror films ."
    return out


def small_config(encoder, **extra):
    return {"encoder": encoder, "epochs": 3, "patience": 3, "batch_size": 32, **extra}


def test_alpha_zero_is_the_cf_model_and_alpha_one_ignores_the_fold_in(encoders):
    split = get_split(DATASET)
    cf = get_trained(split, "multvae", config={"epochs": 3}, seed=0, device="cpu", verbose=False)
    from tears_bench.text import build_encoder
    encoder = build_encoder(encoders["bert"])
    net = Tears(encoder.dim, split.n_items, cf=cf.model).eval()
    users, inputs, _ = split.part("test")
    ratings = torch.from_numpy(model_input(inputs).toarray())
    texts = [f"the user loves {g} movies" for g in np.resize(GENRE_WORDS, len(users))]
    scores = net.scores(encoder.encode(texts), ratings, [0.0, 1.0])
    with torch.no_grad():
        cf_scores = cf.model.score(ratings)
    torch.testing.assert_close(scores[0], cf_scores)  # alpha 0 = the CF VAE (decoder not yet tuned)
    other_texts = net.scores(encoder.encode(["comedy"] * len(users)), ratings, [0.0])
    torch.testing.assert_close(other_texts[0], scores[0])  # and the text plays no part in it
    shuffled = ratings[torch.randperm(len(users))]
    torch.testing.assert_close(net.scores(encoder.encode(texts), shuffled, [1.0])[0], scores[1])


def test_training_writes_the_alpha_sweep_and_is_cached(encoders):
    split = get_split(DATASET)
    summaries = word_summaries(split)
    del summaries[int(split.test_users[0])]  # one test user without a summary
    trained = train_tears(split, "tears-multvae", summaries, config=small_config(encoders["bert"]), device="cpu",
                          verbose=False)
    m = trained.metrics
    assert list(m["by_alpha"]) == [f"{a:.1f}" for a in SWEEP_ALPHAS]
    best = f"{m['best_alpha']:.1f}"
    assert m["test"] == m["by_alpha"][best]["test"]
    assert m["by_alpha"][best]["val"]["ndcg@20"] == max(v["val"]["ndcg@20"] for v in m["by_alpha"].values())
    assert m["users_without_summary"]["test"] == 1
    # The baseline is evaluated on exactly the users TEARS is evaluated on.
    assert m["baseline"]["test"]["n_users"] == m["test"]["n_users"] == len(split.test_users) - 1
    again = train_tears(split, "tears-multvae", summaries, config=small_config(encoders["bert"]), device="cpu",
                        verbose=False)
    assert again.from_cache and again.metrics["test"] == m["test"]
    # The reloaded model ranks exactly as the trained one.
    users, inputs, _ = split.part("test")
    texts = [summaries.get(int(u), "comedy") for u in users]
    torch.testing.assert_close(again.recommender.recommend(texts, inputs, [0.3]),
                               trained.recommender.recommend(texts, inputs, [0.3]))


def test_recommend_excludes_the_fold_in_for_every_alpha(encoders):
    split = get_split(DATASET)
    trained = train_tears(split, "tears-multvae", word_summaries(split), config=small_config(encoders["bert"]),
                          device="cpu", verbose=False)
    users, inputs, _ = split.part("test")
    texts = ["summary : the user loves comedy"] * len(users)
    scores = trained.recommender.recommend(texts, inputs, [0.0, 0.5, 1.0])
    assert scores.shape == (3, len(users), split.n_items)
    mask = torch.from_numpy(inputs.toarray() > 0)
    assert torch.isinf(scores[:, mask]).all() and torch.isfinite(scores[:, ~mask]).all()


@pytest.mark.parametrize("align", sorted(ALIGNMENTS))
def test_each_alignment_trains_and_lowers_its_loss(encoders, align):
    split = get_split(DATASET)
    trained = train_tears(split, "tears-multvae", word_summaries(split),
                          config=small_config(encoders["bert"], align=align, epochs=4, patience=10), device="cpu",
                          verbose=False)
    history = trained.metrics["history"]
    # The reconstruction term falls; the total may not, since beta anneals up from 0 over 10 epochs.
    nll = [h["nll"] for h in history]
    assert len(nll) == 4 and nll[-1] < nll[0]


def test_tears_base_is_text_only(encoders):
    split = get_split(DATASET)
    summaries = word_summaries(split)
    trained = train_tears(split, "tears-base", summaries, config=small_config(encoders["bert"]), device="cpu",
                          verbose=False)
    assert trained.recommender.text_only and trained.metrics["best_alpha"] == 1.0
    assert "baseline" not in trained.metrics
    users, inputs, _ = split.part("test")
    texts = [summaries[int(u)] for u in users]
    scores = trained.recommender.recommend(texts, inputs, [0.0, 1.0])
    torch.testing.assert_close(scores[0], scores[1])


def test_lora_mode_trains_the_encoder(encoders):
    split = get_split(DATASET)
    trained = train_tears(split, "tears-multvae", word_summaries(split),
                          config=small_config(encoders["bert"], encoder_mode="lora", epochs=1, lora_r=4),
                          device="cpu", verbose=False)
    encoder = trained.recommender.encoder
    lora = [p for n, p in encoder.named_parameters() if "lora_" in n]
    assert lora and all(p.requires_grad for p in lora)
    assert any(p.abs().sum() > 0 for n, p in encoder.named_parameters() if "lora_B" in n)  # B starts at zero
    reloaded = train_tears(split, "tears-multvae", word_summaries(split),
                           config=small_config(encoders["bert"], encoder_mode="lora", epochs=1, lora_r=4),
                           device="cpu", verbose=False)
    assert reloaded.from_cache
    texts = ["summary : the user loves war movies"] * 3
    torch.testing.assert_close(reloaded.recommender.text_latent(texts), trained.recommender.text_latent(texts))


def test_bad_options_are_refused():
    from tears_bench.errors import TearsBenchError
    split = get_split(DATASET)
    with pytest.raises(TearsBenchError, match="unknown alignment"):
        train_tears(split, "tears-multvae", {0: "x"}, config={"align": "cosine"})
    with pytest.raises(TearsBenchError, match="unknown TEARS model"):
        train_tears(split, "tears-ease", {0: "x"})


def test_segment_pooling_concatenates_the_parts(encoders):
    from tears_bench.text import build_encoder
    from tears_bench.text.segments import EMPTY_SEGMENT, SegmentedEncoder, split_segments

    text = "Summary: one. Two! Three? Four. Five."
    assert split_segments(text, 2) == ["Summary: one. Two!", "Three? Four. Five."]
    assert split_segments("Only one sentence.", 3) == [EMPTY_SEGMENT, "Only one sentence.", EMPTY_SEGMENT]
    inner = build_encoder(encoders["bert"])
    segmented = SegmentedEncoder(inner, 2)
    assert segmented.dim == 2 * inner.dim and segmented.identity != inner.identity
    expected = torch.cat([inner.encode(["Summary: one. Two!"]), inner.encode(["Three? Four. Five."])], dim=1)
    torch.testing.assert_close(segmented.encode([text]), expected)


def test_tears_trains_with_segments(encoders):
    split = get_split(DATASET)
    trained = train_tears(split, "tears-multvae", word_summaries(split),
                          config=small_config(encoders["bert"], segments=2), device="cpu", verbose=False)
    assert trained.recommender.encoder.dim == 64 and trained.metrics["config"]["segments"] == 2
    again = train_tears(split, "tears-multvae", word_summaries(split),
                        config=small_config(encoders["bert"], segments=2), device="cpu", verbose=False)
    assert again.from_cache

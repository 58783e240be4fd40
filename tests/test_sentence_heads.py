"""Heads over a summary's sentence embeddings (tears_bench.text.sentence_states, models.text_heads)."""
from __future__ import annotations

import math

import pytest
import torch

from tears_bench.models.tears_trainer import train_tears
from tears_bench.models.text_heads import AttentionPoolingHead
from tears_bench.data import get_split
from tears_bench.text import build_encoder
from tears_bench.text.sentence_states import SentenceSetEncoder, split_sentences
from tears_bench.text.token_states import TokenStates

DATASET = "synthetic:users=200,items=300,seed=4"

pytestmark = pytest.mark.usefixtures("one_thread", "fast_cf")


def test_split_sentences_cuts_at_sentence_ends_semicolons_and_line_breaks():
    text = "Summary: The user loves war films. They avoid horror! Sometimes comedy; rarely drama\n\nMusicals?  "
    assert split_sentences(text) == ["Summary: The user loves war films.", "They avoid horror!", "Sometimes comedy;",
                                     "rarely drama", "Musicals?"]
    assert split_sentences("More drama movies") == ["More drama movies"]
    assert split_sentences("  ") == [""]  # an empty summary stays one (empty) text, as the linear head sees it


def test_each_sentence_is_embedded_alone_through_the_embedding_cache(tiny):
    encoder = SentenceSetEncoder(build_encoder(tiny))
    texts = ["the user loves horror . they dislike drama .", "summary : action ."]
    sets = encoder.encode(texts)
    assert [len(item) for item in sets.items] == [2, 1]
    alone = encoder.embeddings.embed(["the user loves horror .", "they dislike drama .", "summary : action ."])
    assert torch.equal(sets.items[0], alone[:2]) and torch.equal(sets.items[1], alone[2:])
    # An edit that keeps a sentence reuses its cached vector: only the new sentence is computed.
    before = encoder.embeddings.stats["computed"]
    encoder.encode(["the user loves horror . they dislike comedy ."])
    assert encoder.embeddings.stats["computed"] - before == 1
    assert encoder.identity.endswith("|sentences") and encoder.dim == encoder.embeddings.dim


def test_the_null_slot_takes_its_share_of_the_attention():
    head = AttentionPoolingHead(dim=2, out_dim=2, queries=1, null_slot=True)
    sentences = TokenStates([torch.tensor([[2.0, 0.0], [0.0, 2.0]])], dim=2)
    states, mask = sentences.padded()
    # All logits 0 at the start: each sentence and the null slot get a third; the null slot adds nothing.
    assert head.attention(states, mask)[0, 0].tolist() == pytest.approx([1 / 3, 1 / 3])
    assert head.pool(states, mask)[0, 0].tolist() == pytest.approx([2 / 3, 2 / 3])
    with torch.no_grad():
        head.null_logit.fill_(math.log(2.0))  # the null slot weighs e^log2 = 2 against 1 + 1
    assert head.attention(states, mask)[0, 0].tolist() == pytest.approx([0.25, 0.25])


def test_auto_is_sentence_attention_for_a_frozen_encoder_read_whole_and_linear_otherwise():
    from tears_bench.models.text_heads import TEXT_HEADS, resolve_text_head
    from tears_bench.commands import TEXT_HEAD_CHOICES

    assert resolve_text_head("auto", "frozen", 1) == "sentence-attention"
    assert resolve_text_head("auto", "lora", 1) == "linear"
    assert resolve_text_head("auto", "frozen", 4) == "linear"
    assert resolve_text_head("attention", "frozen", 1) == "attention"
    assert TEXT_HEAD_CHOICES == ("auto",) + TEXT_HEADS  # the CLI's copy (no torch import for --help)


def summaries_for(split):
    genres = ["horror", "drama", "comedy", "action", "romance"]
    return {u: f"summary : the user loves {genres[u % 5]} . they dislike {genres[(u + 2) % 5]} ."
            for u in range(len(split.user_ids))}


@pytest.mark.parametrize("name", ["tears-multvae", "tears-base", "tears-recvae", "tears-macridvae"])
def test_tears_trains_with_the_sentence_head_by_default_and_reloads_from_the_cache(tiny, name):
    split = get_split(DATASET)
    config = {"epochs": 3, "patience": 3, "batch_size": 64, "encoder": tiny}  # text_head auto
    if name == "tears-macridvae":
        config["cf_config"] = {"epochs": 3, "patience": 3, "hidden": 64}
    trained = train_tears(split, name, summaries_for(split), config=config, device="cpu", verbose=False)
    assert len(trained.metrics["history"]) == 3
    assert trained.metrics["encoder"].endswith("|sentences")
    assert trained.metrics["config"]["text_head"] == "sentence-attention"
    assert isinstance(trained.recommender.net.head, AttentionPoolingHead)
    again = train_tears(split, name, summaries_for(split), config=config, device="cpu", verbose=False)
    assert again.from_cache and again.metrics["by_alpha"] == trained.metrics["by_alpha"]
    users, fold_in, _ = split.part("test")
    loves = ["summary : the user loves horror . they dislike drama ."] * 5
    flipped = ["summary : the user loves drama . they dislike horror ."] * 5
    a = trained.recommender.recommend(loves, fold_in[:5], [0.0, 1.0])
    b = again.recommender.recommend(flipped, fold_in[:5], [0.0, 1.0])
    if name != "tears-base":  # alpha 0 is the CF latent alone
        assert torch.equal(a[0], b[0])
    assert not torch.equal(a[1], b[1])  # the same two genres, liked the other way round

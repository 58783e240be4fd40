"""The attention text head over cached token states (models.text_heads, tears_bench.text.token_states)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import tears_bench.models.trainer as trainer
from tears_bench.models.tears_trainer import train_tears
from tears_bench.models.text_heads import AttentionPoolingHead
from tears_bench.data import get_split
from tears_bench.errors import TearsBenchError
from tears_bench.text import build_encoder
from tears_bench.text.embedding_cache import text_digest
from tears_bench.text.token_states import TokenStateEncoder, TokenStates

DATASET = "synthetic:users=200,items=300,seed=4"
ATTENTION = {"epochs": 4, "patience": 4, "batch_size": 64, "text_head": "attention"}

pytestmark = pytest.mark.usefixtures("one_thread", "fast_cf")



def states_of(*texts_as_rows) -> TokenStates:
    return TokenStates([torch.tensor(rows, dtype=torch.float16) for rows in texts_as_rows], dim=4)


# ------------------------------------------------------------------------------------ the head


def test_padding_tokens_get_zero_weight_and_change_nothing():
    head = AttentionPoolingHead(dim=4, out_dim=2, queries=2)
    with torch.no_grad():
        head.queries.copy_(torch.tensor([[2.0, 0, 0, 0], [0, -2.0, 0, 0]]))
    short = [[1, 0, 0, 0], [0, 1, 0, 0]]
    long = [[0, 0, 1, 0], [1, 1, 0, 0], [0, 0, 0, 1]]
    states, mask = states_of(short, long).padded()
    assert mask.tolist() == [[True, True, False], [True, True, True]]
    weights = head.attention(states, mask)
    assert weights[0, :, 2].tolist() == [0.0, 0.0]
    # Query 1 over the short text: logits q.h / sqrt(4) = [1, 0] -> softmax [e, 1] / (e + 1).
    e = math.e
    assert weights[0, 0].tolist() == pytest.approx([e / (e + 1), 1 / (e + 1), 0.0], abs=1e-7)
    # Query 2: logits [0, -1] -> [1, 1/e] / (1 + 1/e).
    assert weights[0, 1].tolist() == pytest.approx([1 / (1 + 1 / e), (1 / e) / (1 + 1 / e), 0.0], abs=1e-7)
    pooled = head.pool(states, mask)
    assert pooled[0, 0].tolist() == pytest.approx([e / (e + 1), 1 / (e + 1), 0, 0], abs=1e-7)
    alone = head.pool(*states_of(short).padded())
    assert torch.equal(alone[0], pooled[0])


def test_a_single_query_over_a_one_token_text_returns_that_tokens_state():
    head = AttentionPoolingHead(dim=4, out_dim=3, queries=1)
    with torch.no_grad():
        head.queries.copy_(torch.tensor([[5.0, -3.0, 0.5, 1.0]]))
        head.out.weight.copy_(torch.arange(12, dtype=torch.float32).reshape(3, 4))
    token = [0.5, -1.0, 2.0, 0.25]
    states, mask = states_of([token]).padded()
    assert head.pool(states, mask)[0, 0].tolist() == token
    # The bias-free Linear on top: rows [0..3], [4..7], [8..11] dotted with the token.
    expected = [sum(w * t for w, t in zip(range(r * 4, r * 4 + 4), token)) for r in range(3)]
    assert head(states_of([token]))[0].tolist() == pytest.approx(expected)


def test_zero_queries_start_as_mean_pooling():
    head = AttentionPoolingHead(dim=4, out_dim=2, queries=3)
    rows = [[1, 2, 3, 4], [3, 2, 1, 0], [2, 2, 2, 2], [0, 0, 0, 8]]
    pooled = head.pool(*states_of(rows).padded())
    assert pooled.shape == (1, 3, 4)
    for k in range(3):
        assert pooled[0, k].tolist() == pytest.approx([1.5, 1.5, 1.5, 3.5])


def test_token_states_select_rows_and_pad():
    tokens = states_of([[1, 1, 1, 1]], [[2, 2, 2, 2], [3, 3, 3, 3]], [[4, 4, 4, 4]])
    picked = tokens[torch.tensor([1, 2])]
    states, mask = picked.padded()
    assert states.dtype == torch.float32 and states.shape == (2, 2, 4)
    assert states[:, :, 0].tolist() == [[2, 3], [4, 0]] and mask.tolist() == [[True, True], [True, False]]
    assert len(tokens[np.array([0])]) == 1 and len(tokens[1:]) == 2


# ------------------------------------------------------------------------------------ the cache


def test_token_states_are_cached_per_text_and_do_not_depend_on_company(tiny):
    texts = ["the user loves horror and dislikes drama .", "the user hates horror but enjoys drama .",
             "summary : action ."]
    first = TokenStateEncoder(build_encoder(tiny))
    together = first.encode(texts)
    assert first.stats == {"computed": 3, "cached": 0}
    # The states are the encoder's last hidden state of the text alone, stored as float16.
    inner = first.embeddings.encoder
    ids, mask = inner.collate(inner.tokenize([texts[0]]))
    with torch.no_grad():
        hidden = inner.model(input_ids=ids, attention_mask=mask).last_hidden_state[0]
    assert together.items[0].dtype == torch.float16 and together.items[0].shape == (ids.shape[1], first.dim)
    assert torch.equal(together.items[0], hidden.half())
    # Their mean is the cached mean-pooled embedding, up to float16 rounding.
    pooled = first.embeddings.embed([texts[0]])[0]
    assert torch.allclose(together.items[0].float().mean(0), pooled, atol=2e-3)

    again = TokenStateEncoder(build_encoder(tiny))  # a fresh process: everything from disk
    reversed_order = again.encode(texts[::-1])
    assert again.stats == {"computed": 0, "cached": 3}
    for a, b in zip(together.items, reversed_order.items[::-1]):
        assert torch.equal(a, b)
    files = sorted(p.name for p in first.store.folder.rglob("*.npy"))
    assert files == sorted(f"{text_digest(t).hex()}.npy" for t in texts)


@pytest.mark.parametrize("damage", [
    lambda p: p.write_bytes(p.read_bytes()[:40]),
    lambda p: p.write_bytes(b"<html>502 Bad Gateway</html>"),
    lambda p: np.save(p, np.zeros((3, 5), dtype=np.float16)),  # a wrong width
])
def test_a_corrupt_token_state_file_is_quarantined_and_recomputed(tiny, damage, capsys):
    text = "the user loves comedy ."
    encoder = TokenStateEncoder(build_encoder(tiny))
    reference = encoder.encode([text]).items[0].clone()
    path = encoder.store.path(text_digest(text))
    damage(path)
    capsys.readouterr()
    fresh = TokenStateEncoder(build_encoder(tiny))
    assert torch.equal(fresh.encode([text]).items[0], reference)
    assert fresh.stats["computed"] == 1
    assert f"{path} is corrupt" in capsys.readouterr().err
    assert len(list(path.parent.glob(f"{path.name}.corrupt-*"))) == 1 and path.is_file()


# ------------------------------------------------------------------------------------ TEARS with the head


def summaries_for(split):
    genres = ["horror", "drama", "comedy", "action", "romance"]
    return {u: f"summary : the user loves {genres[u % 5]} and dislikes {genres[(u + 2) % 5]} ."
            for u in range(len(split.user_ids))}


@pytest.mark.parametrize("name", ["tears-multvae", "tears-base", "tears-recvae", "tears-macridvae"])
def test_tears_trains_with_the_attention_head(tiny, name):
    split = get_split(DATASET)
    config = {**ATTENTION, "encoder": tiny}
    if name == "tears-macridvae":  # its own options (no "latent"): a short CF training
        config["cf_config"] = {"epochs": 4, "patience": 4, "hidden": 64}
    trained = train_tears(split, name, summaries_for(split), config=config, device="cpu", verbose=False)
    history = trained.metrics["history"]
    assert len(history) == 4
    if name == "tears-multvae":  # on 200 synthetic users TEARS Base's epoch losses are too noisy to order
        assert history[-1]["loss"] < history[0]["loss"]
    head = trained.recommender.net.head
    assert isinstance(head, AttentionPoolingHead) and head.queries.abs().sum() > 0  # it trained
    assert trained.metrics["encoder"].endswith("|token-states")
    again = train_tears(split, name, summaries_for(split), config=config, device="cpu", verbose=False)
    assert again.from_cache and again.metrics["by_alpha"] == trained.metrics["by_alpha"]
    assert torch.equal(again.recommender.net.head.queries, head.queries)


def test_a_resumed_attention_head_training_is_bit_identical(tiny, tmp_path, monkeypatch):
    split = get_split(DATASET)
    config = {**ATTENTION, "encoder": tiny}
    reference = train_tears(split, "tears-multvae", summaries_for(split), config=config, device="cpu",
                            verbose=False)
    monkeypatch.setenv("TEARS_BENCH_HOME", str(tmp_path / "other"))
    original, seen = trainer._save_checkpoint, []

    def save(path, state):
        original(path, state)
        if path.parent.name.startswith("tears-"):
            seen.append(path)
            if len(seen) == 2:
                raise KeyboardInterrupt
    with monkeypatch.context() as patch:
        patch.setattr(trainer, "_save_checkpoint", save)
        with pytest.raises(KeyboardInterrupt):
            train_tears(split, "tears-multvae", summaries_for(split), config=config, device="cpu", verbose=False)
    resumed = train_tears(split, "tears-multvae", summaries_for(split), config=config, device="cpu", verbose=False)
    assert not resumed.from_cache and len(seen) == 2
    assert resumed.metrics["by_alpha"] == reference.metrics["by_alpha"]
    assert [h["loss"] for h in resumed.metrics["history"]] == [h["loss"] for h in reference.metrics["history"]]
    assert torch.equal(resumed.recommender.net.head.queries, reference.recommender.net.head.queries)


def test_alpha_zero_ignores_the_text_and_alpha_one_reads_it(tiny):
    split = get_split(DATASET)
    trained = train_tears(split, "tears-multvae", summaries_for(split), config={**ATTENTION, "encoder": tiny},
                          device="cpu", verbose=False)
    users, fold_in, _ = split.part("test")
    n = min(20, len(users))
    loves = ["summary : the user loves horror and dislikes drama ."] * n
    flipped = ["summary : the user loves drama and dislikes horror ."] * n
    a = trained.recommender.recommend(loves, fold_in[:n], [0.0, 1.0])
    b = trained.recommender.recommend(flipped, fold_in[:n], [0.0, 1.0])
    assert torch.equal(a[0], b[0])
    assert not torch.equal(a[1], b[1])


@pytest.mark.parametrize("config, message", [
    ({"text_head": "attention", "encoder_mode": "lora"}, "text_head attention"),
    ({"text_head": "attention", "segments": 4}, "text_head attention"),
    ({"text_head": "transformer"}, "unknown text_head"),
    ({"text_head": "attention", "text_queries": 0}, "text_queries"),
])
def test_text_head_options_are_checked(config, message):
    split = get_split(DATASET)
    with pytest.raises(TearsBenchError, match=message):
        train_tears(split, "tears-multvae", summaries_for(split), config=config, device="cpu", verbose=False)


def test_run_with_the_attention_head_encodes_edited_summaries_through_the_cache(tiny, tmp_path):
    from tears_bench.harness import RunConfig, run_benchmark
    from tears_bench.storage import cache_dir

    config = RunConfig(tasks=["flip"], dataset=DATASET, encoder=tiny, epochs=2, alphas=[0.0, 1.0],
                       output=str(tmp_path / "run"), text_head="attention")
    run_benchmark(config)
    split = get_split(DATASET)
    files = list(cache_dir("token-states").rglob("*.npy"))
    assert len(files) > len(split.user_ids)  # the users' summaries and the flipped ones
    assert (tmp_path / "run").is_dir()
    with pytest.raises(TearsBenchError, match="text_head attention"):
        run_benchmark(RunConfig(tasks=["flip"], dataset=DATASET, encoder=tiny, text_head="attention",
                                encoder_mode="lora", output=str(tmp_path / "lora")))


def test_train_command_takes_the_text_head(tiny, tmp_path):
    import json

    from tears_bench.cli import main

    out = tmp_path / "train"
    assert main(["train", "--model", "tears-base", "--dataset", DATASET, "--encoder", tiny, "--epochs", "2",
                 "--text-head", "attention", "--device", "cpu", "--quiet", "--output", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["text_head"] == "attention" and metrics["encoder"].endswith("|token-states")
    state = torch.load(out / "model.pt", weights_only=True)
    assert state["net.head.queries"].shape == (4, 32)  # K = 4 queries over the tiny BERT's 32 dimensions
    assert "net.head.weight" not in state


def test_cache_token_states_fills_the_cache_once(tiny):
    from tears_bench.text.token_states import cache_token_states

    texts = ["summary : the user loves war films .", "summary : the user avoids musical films ."] * 2
    first = cache_token_states(texts, tiny, progress=False)
    assert (first["texts"], first["computed"]) == (2, 2) and first["seconds"] > 0
    again = cache_token_states(texts, tiny, progress=False)
    assert (again["texts"], again["computed"], again["folder"]) == (2, 0, first["folder"])

"""Text encoders: spec parsing, pooling, the on-disk embedding cache, LoRA mode.

Tiny randomly initialised BERT and T5 models (with WordLevel tokenizers) are built in a temporary
folder; nothing is downloaded. One test embeds three sentences with the bundled MiniLM offline.
"""
from __future__ import annotations

import os

import pytest
import torch

from tears_bench.errors import TearsBenchError
from tears_bench.text import (
    EmbeddingStore,
    FrozenEmbeddings,
    TextEncoder,
    build_encoder,
    embedding_cache,
    parse_encoder_spec,
)


TEXTS = [
    "the user likes action films",
    "a user hates horror",
    "the user loves slow romance and old drama movies with a thriller or comedy",
    "comedy",
    "the user likes action films",  # a duplicate
    "new sci-fi but never horror",  # "never" is unknown
]


class _Counter:
    """Counts forward calls of a module (and can fail after a number of them)."""

    def __init__(self, module, fail_after: int | None = None):
        self.calls, self.fail_after = 0, fail_after
        self.handle = module.register_forward_hook(self)

    def __call__(self, module, args, output):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt


# ------------------------------------------------------------------------------------------ specs
def test_specs(tiny_models, tmp_path):
    for name in ("minilm", "default", " MiniLM "):
        spec = parse_encoder_spec(name)
        assert os.path.isdir(spec.source) and spec.local_only and spec.name.endswith("all-MiniLM-L6-v2")
    spec = parse_encoder_spec(tiny_models["bert"])
    assert spec.is_path and spec.local_only and spec.name == "bert"
    hub = parse_encoder_spec("hf:google-t5/t5-base")
    assert hub.source == "google-t5/t5-base" and not hub.is_path
    for bad in ("t5-base", "", "hf:", "openai:gpt-4"):
        with pytest.raises(TearsBenchError, match="minilm.*hf:<name-or-path>"):
            parse_encoder_spec(bad)
    with pytest.raises(TearsBenchError, match="no such folder"):
        parse_encoder_spec(f"hf:{tmp_path / 'missing'}")


def test_unavailable_offline_name(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(TearsBenchError, match="not available offline"):
        TextEncoder.from_spec("hf:no-such-org-xyz/no-such-encoder-xyz")


def test_unknown_mode(tiny_models):
    with pytest.raises(TearsBenchError, match="frozen.*lora"):
        build_encoder(tiny_models["bert"], mode="full")


# ---------------------------------------------------------------------------------------- pooling
def test_bert_mean_pooling_matches_hand_computation(tiny_models):
    encoder = TextEncoder.from_spec(tiny_models["bert"])
    assert (encoder.pooling, encoder.dim, encoder.max_length) == ("mean", 32, 64)
    texts = TEXTS[:4]
    batch = encoder.tokenizer(texts, padding=True, return_tensors="pt")
    mask = batch["attention_mask"]
    assert len(set(mask.sum(1).tolist())) > 1  # really padded
    with torch.no_grad():
        hidden = encoder.model(input_ids=batch["input_ids"], attention_mask=mask).last_hidden_state
        got = encoder(texts)
    for i in range(len(texts)):
        n = int(mask[i].sum())
        assert torch.allclose(got[i], hidden[i, :n].mean(0), atol=1e-5)


def test_t5_uses_encoder_only_and_pools_the_eos_token(tiny_models):
    encoder = TextEncoder.from_spec(tiny_models["t5"])
    assert type(encoder.model).__name__ == "T5EncoderModel"
    assert (encoder.pooling, encoder.dim, encoder.max_length) == ("eos", 32, 512)
    texts = TEXTS[:4]
    input_ids, mask = encoder.collate(encoder.tokenize(texts))
    lengths = mask.sum(1)
    assert len(set(lengths.tolist())) == len(texts)  # different lengths, padded
    eos = encoder.tokenizer.eos_token_id
    assert all(int(input_ids[i, n - 1]) == eos for i, n in enumerate(lengths.tolist()))  # </s> appended
    with torch.no_grad():
        hidden = encoder.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
        got = encoder(texts)
        alone = torch.cat([encoder([t]) for t in texts])
    manual = torch.stack([hidden[i, int(lengths[i]) - 1] for i in range(len(texts))])
    assert torch.equal(got, manual)
    assert torch.allclose(got, alone, atol=1e-5)  # padding does not leak into the eos state
    assert not torch.allclose(got, (hidden * mask[..., None]).sum(1) / lengths[:, None], atol=1e-3)


def test_truncation_keeps_the_eos(tiny_models):
    encoder = TextEncoder.from_spec(tiny_models["t5"], max_length=4)
    ids = encoder.tokenize(["the user likes action films and comedy"])[0]
    assert len(ids) == 4 and ids[-1] == encoder.tokenizer.eos_token_id


# -------------------------------------------------------------------------------- frozen + cache
def test_cache_is_hit_and_survives_a_new_object(tiny_models, tmp_path):
    first = FrozenEmbeddings(spec=tiny_models["t5"], root=tmp_path, batch_size=2)
    counter = _Counter(first.encoder.model)
    cold = first.embed(TEXTS)
    assert cold.shape == (len(TEXTS), 32) and cold.dtype == torch.float32
    assert first.stats["computed"] == len(set(TEXTS)) and counter.calls == 5  # one unpadded text a call on the CPU
    assert torch.equal(cold[0], cold[4])
    with torch.no_grad():
        direct = first.encoder(TEXTS)
    assert torch.allclose(cold, direct, atol=1e-5)  # length-sorted batching changes nothing

    calls = counter.calls
    warm = first.embed(list(reversed(TEXTS)))
    assert counter.calls == calls  # the model did not run at all
    assert torch.equal(warm, cold.flip(0))

    second = FrozenEmbeddings(spec=tiny_models["t5"], root=tmp_path)  # as a new process would
    assert len(second.store) == len(set(TEXTS))
    assert torch.equal(second.embed(TEXTS), cold)
    assert not second.model_loaded  # weights never even loaded
    second.embed(TEXTS + ["the new user"])
    assert second.model_loaded and second.stats["computed"] == 1


def test_cache_key_follows_the_encoder_settings(tiny_models, tmp_path):
    a = FrozenEmbeddings(spec=tiny_models["t5"], root=tmp_path)
    b = FrozenEmbeddings(spec=tiny_models["t5"], root=tmp_path, max_length=8)
    c = FrozenEmbeddings(spec=tiny_models["t5"], root=tmp_path, pooling="mean")
    d = FrozenEmbeddings(spec=tiny_models["bert"], root=tmp_path)
    assert len({x.store.folder for x in (a, b, c, d)}) == 4
    suffix = "" if a.precision == "fp32" else f":{a.precision}"  # the default precision is the CPU's
    assert a.identity.startswith("t5@") and a.identity.endswith(":eos:512" + suffix)


def test_unpadded_batches_group_equal_lengths_longest_first():
    from tears_bench.text.frozen import unpadded_batches

    ids = [[1, 2], [1, 2, 3], [4, 5], [6], [7, 8], [9, 9, 9]]
    assert unpadded_batches(ids, 2) == [[1, 5], [0, 2], [4], [3]]
    assert unpadded_batches(ids, 1) == [[1], [5], [0], [2], [4], [3]]


def test_vectors_do_not_depend_on_what_was_cached_before(tiny_models, tmp_path):
    """A cache filled in pieces (an interrupted or shared run) gives bit-identical vectors."""
    texts = TEXTS + ["the user hates horror films", "a user loves comedy", "the user enjoys slow drama"]
    whole = FrozenEmbeddings(spec=tiny_models["bert"], root=tmp_path / "whole").embed(texts)
    pieces = FrozenEmbeddings(spec=tiny_models["bert"], root=tmp_path / "pieces")
    pieces.embed(texts[1:3])
    pieces.embed(texts[-2:])  # texts of equal length embedded apart, then with others
    assert torch.equal(pieces.embed(texts), whole)


def test_cpu_calls_have_one_shape_and_a_vector_ignores_its_companions_and_position(tiny_models, tmp_path):
    from tears_bench.text.frozen import CPU_ROWS

    words = ["horror", "drama", "comedy", "action", "romance", "war", "crime", "music", "western", "sci"]
    texts = [f"the user loves {a} and avoids {b}" for a in words for b in words[:2] if a != b]
    together = FrozenEmbeddings(spec=tiny_models["bert"], root=tmp_path / "together")
    lengths = {len(row) for row in together.encoder.tokenize(texts)}
    vectors = together.embed(texts)
    # One call per CPU_ROWS texts of a length, the last one filled up with copies.
    per_length = [sum(len(row) == n for row in together.encoder.tokenize(texts)) for n in lengths]
    assert together.stats["batches"] == sum(-(-n // CPU_ROWS) for n in per_length) < len(texts)
    for i in (0, len(texts) - 1, 7):  # first, last and a middle position of their call
        alone = FrozenEmbeddings(spec=tiny_models["bert"], root=tmp_path / f"alone{i}").embed([texts[i]])
        assert torch.equal(alone[0], vectors[i])


def test_interrupted_run_keeps_finished_batches(tiny_models, tmp_path):
    emb = FrozenEmbeddings(spec=tiny_models["bert"], root=tmp_path, batch_size=1, flush_rows=1)
    _Counter(emb.encoder.model, fail_after=3)
    with pytest.raises(KeyboardInterrupt):
        emb.embed(TEXTS)
    again = FrozenEmbeddings(spec=tiny_models["bert"], root=tmp_path)
    assert len(again.store) == 3
    assert again.embed(TEXTS).shape == (len(TEXTS), 32)
    assert again.stats["computed"] == len(set(TEXTS)) - 3


def test_store_compacts_and_round_trips(tmp_path):
    import numpy as np

    store = EmbeddingStore("k", 4, identity={"x": 1}, root=tmp_path)
    rng = np.random.default_rng(0)
    digests = [embedding_cache.text_digest(str(i)) for i in range(30)]
    vectors = rng.standard_normal((30, 4)).astype(np.float32)
    for i in range(0, 30, 2):
        store.add(digests[i:i + 2], vectors[i:i + 2])
        store.flush()
    parts = list((tmp_path / "k").glob("part-*.npz"))
    assert 1 <= len(parts) <= embedding_cache.COMPACT_AFTER
    reloaded = EmbeddingStore("k", 4, root=tmp_path)
    assert np.array_equal(reloaded.get(digests[::-1]), vectors[::-1])
    assert (tmp_path / "k" / "meta.json").exists()


def test_a_big_part_is_left_alone_while_small_additions_are_merged(tmp_path):
    """Size-tiered compaction: rows added one at a time (serve adds a sentence an edit) are merged
    among themselves; the big part is never rewritten, and every vector reads back the same."""
    import numpy as np

    rng = np.random.default_rng(1)
    digests = [embedding_cache.text_digest(f"t{i}") for i in range(1000 + 40)]
    vectors = rng.standard_normal((1040, 4)).astype(np.float32)
    store = EmbeddingStore("k", 4, root=tmp_path)
    store.add(digests[:1000], vectors[:1000])
    store.flush()
    big = next((tmp_path / "k").glob("part-*.npz"))
    stamp = big.stat().st_mtime_ns
    for i in range(1000, 1040):  # 40 flushes of one row: several compactions
        store.add(digests[i:i + 1], vectors[i:i + 1])
        store.flush()
        assert np.array_equal(store.get(digests[i - 3:i + 1]), vectors[i - 3:i + 1])
    assert big.exists() and big.stat().st_mtime_ns == stamp, "the big part was rewritten"
    parts = sorted((tmp_path / "k").glob("part-*.npz"))
    assert big in parts and len(parts) <= embedding_cache.COMPACT_AFTER
    order = rng.permutation(1040)  # rows from the big part, merged parts and their blocks alike
    assert np.array_equal(store.get([digests[i] for i in order]), vectors[order])
    reloaded = EmbeddingStore("k", 4, root=tmp_path)
    assert len(reloaded) == 1040 and np.array_equal(reloaded.get([digests[i] for i in order]), vectors[order])


def test_frozen_wrapper_api(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setenv("TEARS_BENCH_HOME", str(tmp_path))
    enc = build_encoder(tiny_models["bert"])
    assert enc.mode == "frozen" and enc.dim == 32 and enc.trainable_parameters() == []
    assert list(enc.parameters()) == [] and dict(enc.state_dict()) == {}
    assert enc.precompute(TEXTS) == len(set(TEXTS))
    enc.train()
    out = enc.encode(TEXTS[:2])
    assert out.shape == (2, 32) and not out.requires_grad
    assert any((tmp_path / "embeddings").glob("*/part-*.npz"))
    assert enc.identity.startswith("bert@")


# -------------------------------------------------------------------------------------------- lora
@pytest.mark.parametrize("kind,targets", [("bert", ["query", "key", "value"]), ("t5", ["q", "k", "v"])])
def test_lora_training_step(tiny_models, kind, targets):
    torch.manual_seed(0)
    enc = build_encoder(tiny_models[kind], mode="lora", lora_r=4, lora_dropout=0.0)
    assert enc.mode == "lora" and enc.lora["targets"] == targets
    assert (enc.lora["r"], enc.lora["alpha"]) == (4, 16)
    trainable = dict((n, p) for n, p in enc.named_parameters() if p.requires_grad)
    assert trainable and all("lora_" in n for n in trainable)
    assert {id(p) for p in enc.trainable_parameters()} == {id(p) for p in trainable.values()}
    frozen_before = {n: p.detach().clone() for n, p in enc.named_parameters() if not p.requires_grad}
    lora_before = {n: p.detach().clone() for n, p in trainable.items()}

    head = torch.nn.Linear(enc.dim, 1)
    target = torch.tensor([[1.0], [-1.0], [1.0], [-1.0]])
    optimizer = torch.optim.AdamW(list(enc.trainable_parameters()) + list(head.parameters()), lr=1e-2)
    enc.train()
    losses = []
    for _ in range(8):
        out = enc.encode(TEXTS[:4])
        assert out.requires_grad
        loss = torch.nn.functional.mse_loss(head(out), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert any(not torch.equal(lora_before[n], p) for n, p in trainable.items())
    assert all(torch.equal(frozen_before[n], p) for n, p in enc.named_parameters() if not p.requires_grad)
    state = enc.lora_state_dict()
    assert state and all("lora_" in k for k in state)


def test_lora_defaults_follow_the_paper(tiny_models):
    enc = build_encoder(tiny_models["t5"], mode="lora")
    assert (enc.lora["r"], enc.lora["alpha"], enc.lora["dropout"]) == (64, 16, 0.4)
    assert "+lora(r=64" in enc.identity


# --------------------------------------------------------------------------------- real MiniLM
def test_bundled_minilm_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TEARS_BENCH_HOME", str(tmp_path))
    enc = build_encoder("minilm")
    assert enc.dim == 384 and enc.identity.startswith("sentence-transformers/all-MiniLM-L6-v2@")
    vectors = torch.nn.functional.normalize(enc.encode([
        "The user loves action movies and thrillers.",
        "This viewer enjoys action films and thrilling suspense.",
        "My grandmother bakes bread every Sunday morning.",
    ]), dim=1)
    similar, dissimilar = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert similar > dissimilar + 0.2

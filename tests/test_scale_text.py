"""Scale of the text caches: the embedding store memory-maps bounded shards, and token states or
sentence sets beyond the resident budget are read a batch at a time, with unchanged results."""
from __future__ import annotations

import zipfile

import numpy as np
import pytest
import torch

from tears_bench.data import get_split
from tears_bench.models.tears_trainer import train_tears
from tears_bench.text import build_encoder, embedding_cache, token_states
from tears_bench.text.embedding_cache import EmbeddingStore, text_digest
from tears_bench.text.sentence_states import SentenceSetEncoder
from tears_bench.text.token_states import StoredTokenStates, TokenStateEncoder, TokenStates

pytestmark = pytest.mark.usefixtures("one_thread", "fast_cf")

TEXTS = ["the user loves horror . they dislike drama .", "summary : action .", "the user enjoys war films .",
         "romance , never comedy . old westerns too .", "the user loves horror ."]


def _rows(n: int, dim: int = 4):
    digests = [text_digest(str(i)) for i in range(n)]
    return digests, np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)


def test_the_store_merges_parts_into_bounded_shards_and_rewrites_each_row_a_few_times(tmp_path, monkeypatch):
    monkeypatch.setattr(embedding_cache, "SHARD_ROWS", 64)
    written = []
    original = EmbeddingStore._write_part
    monkeypatch.setattr(EmbeddingStore, "_write_part",
                        lambda self, d, v: written.append(len(d)) or original(self, d, v))
    store = EmbeddingStore("k", 4, root=tmp_path)
    digests, vectors = _rows(1000)
    for start in range(0, 1000, 4):  # 250 flushes of 4 rows
        store.add(digests[start:start + 4], vectors[start:start + 4])
        store.flush()
        # Flushed rows are read from memory maps: nothing but the index grows in memory.
        assert all(isinstance(b, np.memmap) or len(b) == 0 for b in store._blocks)
    # Tiers of 4 and 32 rows, then shards of 64: each row written at most three times, not once per
    # compaction as when every compaction rewrote the whole store.
    assert sum(written) <= 3 * 1000
    parts = sorted((tmp_path / "k").glob("part-*.npz"))
    sizes = [len(np.load(p)["digests"]) for p in parts]
    assert sum(sizes) == 1000 and max(sizes) <= 64
    assert len(parts) <= 1000 // 64 + 2 * (embedding_cache.COMPACT_AFTER - 1)
    assert np.array_equal(store.get(digests[::-1]), vectors[::-1])
    reloaded = EmbeddingStore("k", 4, root=tmp_path)
    assert len(reloaded) == 1000 and np.array_equal(reloaded.get(digests[::7]), vectors[::7])


def test_a_part_whose_vectors_fail_their_crc_is_quarantined(tmp_path, capsys):
    store = EmbeddingStore("k", 4, root=tmp_path)
    digests, vectors = _rows(100)
    store.add(digests, vectors)
    store.flush()
    (part,) = (tmp_path / "k").glob("part-*.npz")
    with zipfile.ZipFile(part) as archive:
        at = archive.getinfo("vectors.npy").header_offset + 400  # inside the 1,600 bytes of vectors
    data = bytearray(part.read_bytes())
    data[at] ^= 0xFF
    part.write_bytes(bytes(data))
    reloaded = EmbeddingStore("k", 4, root=tmp_path)
    assert len(reloaded) == 0
    assert "bad CRC-32 for vectors.npy" in capsys.readouterr().err


def test_token_states_beyond_the_budget_are_read_a_batch_at_a_time(tiny, monkeypatch):
    eager = TokenStateEncoder(build_encoder(tiny)).encode(TEXTS)
    assert isinstance(eager, TokenStates)
    monkeypatch.setattr(token_states, "MAX_RESIDENT_BYTES", 0)
    encoder = TokenStateEncoder(build_encoder(tiny))
    stored = encoder.encode(TEXTS)
    assert isinstance(stored, StoredTokenStates) and len(stored) == len(TEXTS)
    assert encoder.stats == {"computed": 0, "cached": 5}  # all five cached by the first encoder
    loads = []
    load = encoder.store.load
    monkeypatch.setattr(encoder.store, "load", lambda digest: loads.append(digest) or load(digest))
    batch = stored[torch.tensor([2, 0])]
    assert len(loads) == 2  # only the batch's files are read
    assert all(torch.equal(a, b) for a, b in zip(batch.items, eager[[2, 0]].items))
    for a, b in zip(stored.padded(), eager.padded()):
        assert torch.equal(a, b)


def test_sentence_sets_beyond_the_budget_are_read_a_batch_at_a_time(tiny, monkeypatch):
    eager = SentenceSetEncoder(build_encoder(tiny)).encode(TEXTS)
    monkeypatch.setattr(token_states, "MAX_RESIDENT_BYTES", 0)
    encoder = SentenceSetEncoder(build_encoder(tiny))
    stored = encoder.encode(TEXTS)
    assert isinstance(stored, StoredTokenStates)
    gets = []
    get = encoder.embeddings.store.get
    monkeypatch.setattr(encoder.embeddings.store, "get", lambda digests: gets.append(len(digests)) or get(digests))
    batch = stored[[3, 1]]
    assert gets == [3]  # the three sentences of texts 3 and 1, in one read
    assert [len(x) for x in batch.items] == [2, 1]
    assert all(torch.equal(a, b) for a, b in zip(batch.items, eager[[3, 1]].items))


def summaries_for(split):
    genres = ["horror", "drama", "comedy", "action", "romance"]
    return {u: f"summary : the user loves {genres[u % 5]} and dislikes {genres[(u + 2) % 5]} ."
            for u in range(len(split.user_ids))}


def test_tears_trains_the_same_from_token_states_read_batch_by_batch(tiny, tmp_path, monkeypatch):
    split = get_split("synthetic:users=200,items=300,seed=4")
    config = {"epochs": 3, "patience": 3, "batch_size": 64, "text_head": "attention", "encoder": tiny}
    in_memory = train_tears(split, "tears-multvae", summaries_for(split), config=config, device="cpu", verbose=False)
    monkeypatch.setenv("TEARS_BENCH_HOME", str(tmp_path / "other"))
    monkeypatch.setattr(token_states, "MAX_RESIDENT_BYTES", 0)
    from_disk = train_tears(split, "tears-multvae", summaries_for(split), config=config, device="cpu", verbose=False)
    assert not from_disk.from_cache
    assert from_disk.metrics["by_alpha"] == in_memory.metrics["by_alpha"]
    assert torch.equal(from_disk.recommender.net.head.queries, in_memory.recommender.net.head.queries)

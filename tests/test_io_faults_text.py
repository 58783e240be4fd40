"""The text-embedding cache under faults (a truncated or garbled part file) and the embedding
progress bar (on a terminal only)."""
from __future__ import annotations

import io
import sys

import numpy as np
import pytest
import torch

from tears_bench.text import EmbeddingStore, FrozenEmbeddings, embedding_cache

from tests.tiny_encoders import build_tiny_encoders

TEXTS = ["the user likes action films", "a user hates horror", "comedy and drama", "old western movies",
         "the user loves slow romance", "sci-fi but not war"]


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return build_tiny_encoders(tmp_path_factory.mktemp("encoders"))["bert"]


def _parts(folder):
    return sorted(folder.glob("part-*.npz"))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "flip-bytes"])
def test_corrupt_part_is_quarantined_and_its_texts_embedded_again(bert, tmp_path, capsys, damage):
    first = FrozenEmbeddings(spec=bert, root=tmp_path, batch_size=2, flush_rows=2)
    reference = first.embed(TEXTS)
    parts = _parts(first.store.folder)
    assert len(parts) == 3  # 6 texts, flushed every 2 rows
    bad = parts[1]
    data = bad.read_bytes()
    bad.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"<html>502 Bad Gateway</html>" * 4,
                     "empty": b"", "flip-bytes": data[:150] + bytes(b ^ 0xFF for b in data[150:200]) + data[200:]
                     }[damage])
    capsys.readouterr()

    again = FrozenEmbeddings(spec=bert, root=tmp_path, batch_size=2)  # as the next run would
    assert len(again.store) == 4  # the two rows of the damaged part are missing, nothing crashed
    err = capsys.readouterr().err
    assert err.startswith(f"tears-bench: warning: {bad} is corrupt (") and "moved to" in err
    assert not bad.exists()
    quarantined = list(bad.parent.glob(f"{bad.name}.corrupt-*"))
    assert len(quarantined) == 1

    vectors = again.embed(TEXTS)
    assert again.stats["computed"] == 2 and again.stats["cached"] == 4
    assert torch.allclose(vectors, reference, atol=1e-6)
    third = FrozenEmbeddings(spec=bert, root=tmp_path)
    assert len(third.store) == 6 and torch.equal(third.embed(TEXTS), vectors)
    assert not third.model_loaded and capsys.readouterr().err == ""  # quarantined once, never again


def test_part_with_wrong_shapes_is_quarantined(tmp_path, capsys):
    store = EmbeddingStore("k", 4, root=tmp_path)
    digests = [embedding_cache.text_digest(t) for t in TEXTS[:3]]
    store.add(digests, np.ones((3, 4), np.float32))
    store.flush()
    (tmp_path / "k" / "part-0-bad.npz").write_bytes(_npz(digests=np.zeros((2, 32), np.uint8),
                                                         vectors=np.zeros((2, 5), np.float32)))
    reloaded = EmbeddingStore("k", 4, root=tmp_path)
    assert len(reloaded) == 3 and np.array_equal(reloaded.get(digests), np.ones((3, 4), np.float32))
    assert "part-0-bad.npz is corrupt (ValueError: digests (2, 32) and vectors (2, 5) do not match 4" \
        in capsys.readouterr().err


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal, progress, shown", [
    (False, None, False), (True, None, True), (True, False, False), (False, True, True)])
def test_embedding_progress_bar_only_on_a_terminal(bert, tmp_path, monkeypatch, terminal, progress, shown):
    stream = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    embeddings = FrozenEmbeddings(spec=bert, root=tmp_path, batch_size=2, progress=progress)
    embeddings.embed(TEXTS)
    output = stream.getvalue()
    assert ("embedding:" in output and "/6 " in output) == shown  # tqdm rate-limits its redraws
    assert shown or output == ""

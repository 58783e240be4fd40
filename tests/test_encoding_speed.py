"""The fast frozen-embedding path (bf16 on CPUs with native bf16): close to fp32, independent of
batch companions and cache state, and never mixed with fp32 vectors in the cache. No timing asserts:
speed is measured by benchmarks/bench_encoding.py."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from tears_bench.errors import TearsBenchError
from tears_bench.storage import stable_hash
from tears_bench.text import FrozenEmbeddings, TextEncoder, build_encoder, encoders, parse_encoder_spec


REPO = Path(__file__).resolve().parents[1]
TEXTS = [
    "the user likes action films",
    "a user hates horror",
    "the user loves slow romance and old drama movies with a thriller or comedy",
    "comedy",
    "the user enjoys sci-fi and fantasy but avoids war movies",
    "the user dislikes musical and western films",
]
MINILM_TEXTS = [
    "The user loves gritty crime dramas and war epics, and avoids slapstick comedies.",
    "They enjoy animated family adventures; horror does not appeal to them at all.",
    "Summary: a fan of romantic comedies from the 1990s who dislikes science fiction.",
]


def _cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cosine_similarity(a, b, dim=1)


@pytest.mark.parametrize("kind", ["bert", "t5"])
def test_bf16_vectors_within_cosine_of_fp32_on_tiny_encoders(tiny_models, tmp_path, kind):
    fp32 = FrozenEmbeddings(spec=tiny_models[kind], root=tmp_path, precision="fp32")
    bf16 = FrozenEmbeddings(spec=tiny_models[kind], root=tmp_path, precision="bf16")
    exact, fast = fp32.embed(TEXTS), bf16.embed(TEXTS)
    assert fast.dtype == torch.float32 and fast.shape == exact.shape == (len(TEXTS), 32)
    assert bf16.encoder.model.dtype == torch.bfloat16 and fp32.encoder.model.dtype == torch.float32
    assert not torch.equal(fast, exact)  # the bf16 path really ran
    assert float(_cosine(fast, exact).min()) >= 0.99


def test_bf16_minilm_within_cosine_of_fp32():
    fp32 = TextEncoder.from_spec("minilm", precision="fp32")
    bf16 = TextEncoder.from_spec("minilm", precision="bf16")
    with torch.inference_mode():
        exact = torch.cat([fp32([text]) for text in MINILM_TEXTS])
        fast = torch.cat([bf16([text]) for text in MINILM_TEXTS])
    cosine = _cosine(fast, exact)
    assert float(cosine.min()) >= 0.99 and float(cosine.mean()) >= 0.999
    # Still a sentence encoder: each text is nearest to its own fp32 vector.
    similarity = torch.nn.functional.normalize(fast, dim=1) @ torch.nn.functional.normalize(exact, dim=1).T
    assert similarity.argmax(dim=1).tolist() == [0, 1, 2]


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_vector_does_not_depend_on_companions_or_cache(tiny_models, tmp_path, precision):
    target = TEXTS[2]
    alone = FrozenEmbeddings(spec=tiny_models["bert"], root=tmp_path / "alone", precision=precision).embed([target])
    crowd = FrozenEmbeddings(spec=tiny_models["bert"], root=tmp_path / "crowd", precision=precision)
    together = crowd.embed(TEXTS + ["the user likes action films and comedy"])
    pieces = FrozenEmbeddings(spec=tiny_models["bert"], root=tmp_path / "pieces", precision=precision)
    pieces.embed(TEXTS[:2])
    pieces.embed(TEXTS[4:])  # the target is computed last, after a partial cache
    assert torch.equal(together[2:3], alone)
    assert torch.equal(pieces.embed(TEXTS)[2:3], alone)


def test_minilm_bf16_vector_does_not_depend_on_companions(tmp_path):
    alone = FrozenEmbeddings(spec="minilm", root=tmp_path / "a", precision="bf16").embed(MINILM_TEXTS[1:2])
    together = FrozenEmbeddings(spec="minilm", root=tmp_path / "b", precision="bf16").embed(MINILM_TEXTS)
    assert torch.equal(together[1:2], alone)


def test_cache_identity_differs_between_precisions(tiny_models, tmp_path):
    fp32 = FrozenEmbeddings(spec=tiny_models["bert"], root=tmp_path, precision="fp32")
    bf16 = FrozenEmbeddings(spec=f"{tiny_models['bert']}:bf16", root=tmp_path)
    assert bf16.precision == "bf16" and fp32.precision == "fp32"
    assert fp32.store.folder != bf16.store.folder and fp32.info != bf16.info
    assert bf16.identity == fp32.identity + ":bf16"
    assert {k: v for k, v in bf16.info.items() if k != "precision"} == fp32.info
    # fp32 keeps the key it had before precisions existed, so existing fp32 caches stay valid.
    assert "precision" not in fp32.info and fp32.info["format"] == 3 and fp32.info["dtype"] == "float32"
    assert fp32.store.folder.name == stable_hash(fp32.info)
    # The same text gets a vector in each cache, never one read from the other.
    fp32.embed(TEXTS[:1])
    bf16.embed(TEXTS[:1])
    assert len(fp32.store) == len(bf16.store) == 1 and bf16.stats["computed"] == 1
    # A TEARS model keys on the short identity: it differs too.
    lora_free = {build_encoder(tiny_models["bert"], precision=p, cache_root=tmp_path).identity for p in ("fp32", "bf16")}
    assert len(lora_free) == 2


def test_precision_suffix_and_errors(tiny_models):
    assert parse_encoder_spec("minilm").precision == "fp32"  # the default: the same vectors on every CPU
    assert parse_encoder_spec("minilm:auto").precision == "auto"
    assert parse_encoder_spec("MiniLM:FP32").precision == "fp32"
    spec = parse_encoder_spec(f"{tiny_models['t5']}:bf16")
    assert spec.precision == "bf16" and spec.name == "t5" and spec.is_path
    assert parse_encoder_spec("hf:org/model:fp32").source == "org/model"
    with pytest.raises(TearsBenchError, match="':fp32', ':bf16' or ':auto'"):
        parse_encoder_spec("minilm:fp16")
    with pytest.raises(TearsBenchError, match="LoRA trains in fp32"):
        build_encoder(f"{tiny_models['bert']}:bf16", mode="lora")
    with pytest.raises(TearsBenchError, match="unknown encoder precision 'int4'"):
        encoders.resolve_precision("int4")
    # A bare TextEncoder (it may be trained) is fp32 unless asked otherwise; so is LoRA.
    assert TextEncoder.from_spec(tiny_models["bert"]).precision == "fp32"
    assert build_encoder(tiny_models["bert"], mode="lora", lora_r=2).encoder.precision == "fp32"


def test_auto_precision_follows_the_hardware(monkeypatch, tiny_models, tmp_path):
    monkeypatch.setattr(encoders, "cpu_has_native_bf16", lambda: True)
    assert encoders.resolve_precision("auto", "cpu") == "bf16"
    assert encoders.resolve_precision(None, "cuda") == "fp32"
    assert FrozenEmbeddings(spec=f"{tiny_models['bert']}:auto", root=tmp_path).precision == "bf16"
    monkeypatch.setattr(encoders, "cpu_has_native_bf16", lambda: False)  # bf16 would be emulated, slower
    assert encoders.resolve_precision("auto", "cpu") == "fp32"
    assert FrozenEmbeddings(spec=f"{tiny_models['bert']}:auto", root=tmp_path).precision == "fp32"
    assert FrozenEmbeddings(spec=tiny_models["bert"], root=tmp_path).precision == "fp32"  # no suffix: fp32
    assert encoders.resolve_precision("bf16", "cpu") == "bf16"  # asked for explicitly: honoured


def benchmark_module():
    """benchmarks/bench_encoding.py, imported as a module (benchmarks/ is no package)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import bench_encoding
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    return bench_encoding


def test_benchmark_table_on_a_tiny_encoder(tiny_models, tmp_path, capsys):
    bench_encoding = benchmark_module()
    out = tmp_path / "rows.json"
    assert bench_encoding.main(["--texts", "6", "--encoder", tiny_models["bert"], "--batch-sizes", "4",
                                "--json", str(out)]) == 0
    rows = {row["method"].split(",")[0] + row["method"].split(",")[1]: row for row in json.loads(out.read_text())["rows"]}
    reference = rows["transformers fp32 padded batches of 4"]
    assert reference["speedup"] == 1.0 and reference["cos_min"] == pytest.approx(1.0, abs=1e-6)
    assert rows["tears-bench fp32 unpadded"]["cos_min"] > 0.99999  # fp32 unpadded = padded, to rounding
    assert rows["tears-bench bf16 unpadded"]["cos_min"] >= 0.99
    assert len(rows) == 5 and all(row["seconds"] > 0 for row in rows.values())
    assert "texts/s" in capsys.readouterr().out


def test_benchmark_can_embed_the_sentences_of_the_texts(tiny_models, tmp_path, capsys):
    bench_encoding = benchmark_module()
    from tears_bench.text.sentence_states import split_sentences

    source = tmp_path / "summaries.json"
    texts = ["The user loves war films. They avoid horror!", "Summary: comedy; drama. Musicals?"]
    source.write_text(json.dumps(dict(enumerate(texts))))
    assert bench_encoding.main(["--texts", "2", "--summaries", str(source), "--sentences", "--encoder",
                                tiny_models["bert"], "--batch-sizes", "4", "--no-int8", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    n = sum(len(split_sentences(t)) for t in texts)
    assert n == 5 and out.startswith(f"{n} texts from the sentences of summaries.json")

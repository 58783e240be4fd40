"""The one-off encoding cost, side by side: plain transformers fp32 against the frozen-embedding path.

    python benchmarks/bench_encoding.py [--texts N] [--summaries FILE] [--sentences] [--encoder minilm]

Texts: by default N offline template summaries of a synthetic dataset (built here, no data files);
``--summaries FILE`` takes the first N summaries of a JSON file ({user: summary}, or a list), e.g.
../shared/data/summaries/tears-gpt4-ml-1m.json; ``--sentences`` embeds their sentences instead (what the
default text head caches). Every method embeds the same texts, model already
loaded (loading takes about a second and is the same for all), in one process:

- the reference: ``transformers.AutoModel`` in fp32, right-padded batches in input order (one row per
  ``--batch-sizes`` value), mean pooling -- what a user would write without this suite;
- ``FrozenEmbeddings`` (tears_bench.text.frozen) at each precision: unpadded, calls of one fixed shape,
  vectors written to the disk cache as in a real run; the one marked "default" is what ``minilm``
  gives on this machine;
- int8 dynamic quantisation of every Linear layer (torch.ao quantize_dynamic), unpadded: measured for
  the record, not offered (see docs/decisions.md, "The one-off encoding");
- a cache hit: a fresh encoder object reading all vectors back from disk.

The texts are split into ``--rounds`` chunks and every method embeds each chunk in turn (after an
untimed warm-up text), so load from other processes on a shared machine falls on all methods alike.
Columns: texts/s, seconds (summed over the rounds), speed-up over the first reference row, and the min / mean cosine of each
text's vector to that row's. All caches go to a temporary TEARS_BENCH_HOME, removed at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path


def load_summaries(path: Path) -> list[str]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    values = data.values() if isinstance(data, dict) else data
    return [str(v["summary"] if isinstance(v, dict) else v) for v in values]


def template_texts(n: int) -> list[str]:
    from tears_bench.data.registry import get_split
    from tears_bench.summaries.template import template_summaries

    split = get_split(f"synthetic:users={max(n, 50)},items=300")
    return list(template_summaries(split, range(n)).values())[:n]


def _timed(function):
    import torch

    start = time.perf_counter()
    with torch.inference_mode():
        result = function()
    return time.perf_counter() - start, result


def plain_transformers(source: str, texts: list[str], batch_size: int, max_length: int):
    """What a user would write: fp32 AutoModel, padded batches in input order, mean pooling."""
    from transformers import AutoModel, AutoTokenizer

    from tears_bench.text.encoders import mean_pool

    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    model = AutoModel.from_pretrained(source, local_files_only=True).eval()

    def run(texts):
        import torch

        out = []
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start:start + batch_size], padding=True, truncation=True,
                              max_length=max_length, return_tensors="pt")
            out.append(mean_pool(model(**batch).last_hidden_state, batch["attention_mask"]))
        return torch.cat(out)

    return run


def ours(spec: str, texts: list[str], precision: str, root: Path):
    from tears_bench.text import FrozenEmbeddings

    embeddings = FrozenEmbeddings(spec=spec, precision=precision, root=root, progress=False)
    embeddings.encoder  # noqa: B018 -- load the weights outside the timed part, as for the others
    return embeddings.embed


def int8_dynamic(spec: str, texts: list[str]):
    import torch

    from tears_bench.text import TextEncoder
    from tears_bench.text.frozen import unpadded_batches

    encoder = TextEncoder.from_spec(spec, precision="fp32")
    with torch.inference_mode():  # torch.ao is deprecated in favour of torchao, still shipped with torch
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            encoder.model = torch.ao.quantization.quantize_dynamic(encoder.model, {torch.nn.Linear},
                                                                   dtype=torch.qint8)
    def run(texts):
        ids = encoder.tokenize(texts)
        rows = [None] * len(texts)
        for batch in unpadded_batches(ids, 1):
            vectors = encoder.encode_ids(*encoder.collate([ids[i] for i in batch]))
            for i, vector in zip(batch, vectors):
                rows[i] = vector
        return torch.stack(rows)

    return run


def cache_hit(spec: str, texts: list[str], precision: str, root: Path):
    from tears_bench.text import FrozenEmbeddings

    def run():
        fresh = FrozenEmbeddings(spec=spec, precision=precision, root=root)
        vectors = fresh.embed(texts)
        assert not fresh.model_loaded
        return vectors

    return _timed(run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=256, help="how many texts (default 256)")
    parser.add_argument("--summaries", default=None, help="a summaries JSON file (default: template summaries)")
    parser.add_argument("--encoder", default="minilm", help="encoder spec, without a precision suffix")
    parser.add_argument("--batch-sizes", default="32", help="reference batch sizes, comma-separated (default 32)")
    parser.add_argument("--precisions", default="fp32,bf16", help="our precisions to run (default fp32,bf16)")
    parser.add_argument("--no-int8", action="store_true", help="skip the int8 dynamic quantisation row")
    parser.add_argument("--rounds", type=int, default=8,
                        help="texts split into this many chunks, every method run on each chunk in turn, so "
                             "that load from other processes falls on all methods alike (default 8)")
    parser.add_argument("--sentences", action="store_true",
                        help="embed the texts' sentences, as the default text head (sentence-attention) does")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)

    home = tempfile.mkdtemp(prefix="tears-bench-encoding-")
    os.environ["TEARS_BENCH_HOME"] = home
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        return _run(args, Path(home))
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _run(args, home: Path) -> int:
    import torch
    from transformers.utils import logging as hf_logging

    from tears_bench.text.encoders import cpu_has_native_bf16
    from tears_bench.text.loading import resolve_encoder
    from tears_bench.text.spec import parse_encoder_spec

    hf_logging.disable_progress_bar()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.summaries:
        texts, source_name = load_summaries(Path(args.summaries))[: args.texts], Path(args.summaries).name
    else:
        texts, source_name = template_texts(args.texts), "template summaries (synthetic dataset)"
    if args.sentences:
        from tears_bench.text.sentence_states import split_sentences
        texts, source_name = [s for t in texts for s in split_sentences(t)], f"the sentences of {source_name}"
    resolved = resolve_encoder(args.encoder)
    lengths = [len(row) for row in resolved.tokenizer(texts, truncation=True, max_length=resolved.max_length)["input_ids"]]
    default = parse_encoder_spec(args.encoder).precision  # what a run with this --encoder computes in
    print(f"{len(texts)} texts from {source_name}: {sum(lengths) / len(lengths):.0f} tokens on average, "
          f"longest {max(lengths)}; encoder {resolved.spec.name}, max_length {resolved.max_length}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, native bf16: "
          f"{'yes' if cpu_has_native_bf16() else 'no'}; load average {os.getloadavg()[0]:.2f}", flush=True)

    rows, reference = [], None
    methods = {}
    for batch_size in [int(b) for b in args.batch_sizes.split(",") if b.strip()]:
        methods[f"transformers fp32, padded batches of {batch_size}, input order"] = plain_transformers(
            resolved.spec.source, texts, batch_size, resolved.max_length)
    for precision in [p.strip() for p in args.precisions.split(",") if p.strip()]:
        label = "default" if precision == default else "option"
        methods[f"tears-bench {precision}, unpadded, fixed-shape calls ({label})"] = ours(
            args.encoder, texts, precision, home / "embeddings")
    if not args.no_int8:
        methods["int8 dynamic quantisation of Linear layers, unpadded (not offered)"] = int8_dynamic(args.encoder, texts)
    for run in methods.values():  # warm-up (thread pools, kernels): not timed, not cached
        _timed(lambda: run.__self__.encoder([texts[0] + " warm-up"]) if hasattr(run, "__self__") else run([texts[0]]))
    seconds = {name: 0.0 for name in methods}
    parts = {name: [] for name in methods}
    rounds = max(1, min(args.rounds, len(texts)))
    for r in range(rounds):
        chunk = texts[r * len(texts) // rounds:(r + 1) * len(texts) // rounds]
        for name, run in methods.items():
            spent, vectors = _timed(lambda: run(chunk))
            seconds[name] += spent
            parts[name].append(vectors.float())
        print(f"  round {r + 1}/{rounds} done, load average {os.getloadavg()[0]:.2f}", file=sys.stderr, flush=True)

    def add(method: str, seconds: float, vectors) -> None:
        nonlocal reference
        vectors = vectors.float()
        if reference is None:
            reference = (seconds, vectors)
        cosine = torch.nn.functional.cosine_similarity(vectors, reference[1], dim=1)
        rows.append({"method": method, "texts_per_s": len(texts) / seconds, "seconds": seconds,
                     "speedup": reference[0] / seconds, "cos_min": float(cosine.min()),
                     "cos_mean": float(cosine.mean())})

    for name in methods:
        add(name, seconds[name], torch.cat(parts[name]))
    if default in args.precisions.split(","):
        add(f"tears-bench {default}, cache hit (fresh object, from disk)",
            *cache_hit(args.encoder, texts, default, home / "embeddings"))

    width = max(len(row["method"]) for row in rows)
    print(f"\n{'method':<{width}} | texts/s | seconds | speed-up | cos min | cos mean")
    print(f"{'-' * width}-|--------:|--------:|---------:|--------:|--------:")
    for row in rows:
        print(f"{row['method']:<{width}} | {row['texts_per_s']:7.1f} | {row['seconds']:7.2f} | "
              f"{row['speedup']:7.2f}x | {row['cos_min']:.5f} | {row['cos_mean']:.5f}")
    print(f"(load average at the end {os.getloadavg()[0]:.2f}; speed-up and cosine against the first row)")
    if args.json:
        Path(args.json).write_text(json.dumps({"texts": len(texts), "source": source_name, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

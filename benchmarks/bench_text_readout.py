"""How much of the ranking can any read-out of the summary text reach? A table of ridge read-outs.

    python benchmarks/bench_text_readout.py [--dataset ../shared/data/ml-1m-positives]
        [--summaries file:../shared/data/summaries/tears-gpt4-ml-1m.json] [--encoder minilm]
        [--segments 4] [--tears tears-base,tears-multvae] [--json out.json]

For the users that have a summary, each row fits a ridge regression (text_readout.py, beside this
script: closed form, lambda chosen on validation NDCG@20) from one feature vector per user to the
training users' positives, and ranks the held-out users' items with it (fold-in excluded):
  - the frozen encoder's embedding of the whole summary, and of its K segments (--segments);
  - TF-IDF words of the summary (no encoder at all);
  - the genres the summary names, with the sentiment the offline editor's lexicon reads for each;
  - for reference, not text: the genre profile of the user's fold-in ratings.
Popularity and, with --tears, the named TEARS models at alpha 1 (text only; trained or read from
the cache) are scored on the same users. The last column is the test gain over popularity with a
95% paired bootstrap interval over test users.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(REPO, "..", "shared", "data")


def _parts(split, summaries):
    """name -> (texts, fold_in, targets) for train / val / test users with a summary."""
    out = {}
    for name in ("train", "val", "test"):
        users, fold_in, targets = split.part(name)
        rows = np.flatnonzero([int(u) in summaries for u in users])
        out[name] = ([summaries[int(users[r])] for r in rows], fold_in[rows], targets[rows])
    return out


def _genre_sentiment(texts, genres):
    """Per genre of the list: the lexicon's sentiment score and whether the text names it."""
    from tears_bench.tasks.editors.offline import genre_scores

    index = {g: i for i, g in enumerate(genres)}
    features = np.zeros((len(texts), 2 * len(genres)))
    for row, text in enumerate(texts):
        for genre, (score, _) in genre_scores(text, genres).items():
            features[row, index[genre]] = score
            features[row, len(genres) + index[genre]] = 1.0
    return features


def _genre_profile(fold_in, genre_matrix):
    """Share of each genre among the fold-in items (ratings, not text)."""
    counts = np.asarray((fold_in > 0).astype(np.float64) @ genre_matrix.T.astype(np.float64))
    sums = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, sums, out=np.zeros_like(counts), where=sums > 0)


def _feature_sets(args, split, parts):
    """label -> {train, val, test} feature matrices, built lazily in the table's order."""
    from text_readout import tfidf_features
    from tears_bench.text import build_encoder
    from tears_bench.text.segments import SegmentedEncoder

    texts = {name: parts[name][0] for name in parts}
    encoder = build_encoder(args.encoder)
    yield f"{args.encoder} embedding, frozen", {n: encoder.encode(t).numpy() for n, t in texts.items()}
    if args.segments > 1:
        segmented = SegmentedEncoder(encoder, args.segments)
        yield (f"{args.encoder}, {args.segments} segments, frozen",
               {n: segmented.encode(t).numpy() for n, t in texts.items()})
    train, val, test = tfidf_features(texts["train"], texts["val"], texts["test"], min_df=args.min_df)
    yield "TF-IDF words", {"train": train, "val": val, "test": test}
    yield "genres named (lexicon sentiment)", {n: _genre_sentiment(t, split.genres) for n, t in texts.items()}
    genre_matrix = split.genre_matrix()
    yield "reference: genre profile of the fold-in ratings", {
        n: _genre_profile(parts[n][1], genre_matrix) for n in parts}


def _evaluate(scores, fold_in, targets):
    """Per-user test NDCG@20 and Recall@20, fold-in items excluded."""
    import torch

    from tears_bench.metrics import exclude_inputs, ndcg_at_k, recall_at_k

    masked = exclude_inputs(torch.as_tensor(np.asarray(scores), dtype=torch.float32), fold_in)
    dense = torch.from_numpy(targets.toarray())
    return ndcg_at_k(masked, dense, 20), recall_at_k(masked, dense, 20)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=os.path.join(SHARED, "ml-1m-positives"))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--summaries", default="file:" + os.path.join(SHARED, "summaries", "tears-gpt4-ml-1m.json"))
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--segments", type=int, default=4)
    parser.add_argument("--min-df", type=int, default=5, help="TF-IDF: words in at least this many training summaries")
    parser.add_argument("--tears", default="", help="comma-separated TEARS models to score at alpha 1 (text only)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    from tears_bench.tasks.common import bootstrap_ci, bootstrap_weights
    from tears_bench.data import get_split
    from text_readout import select_ridge
    from tears_bench.summaries.registry import get_summaries

    split = get_split(args.dataset, data_dir=args.data_dir)
    summaries = get_summaries(split, args.summaries)
    parts = _parts(split, summaries)
    (_, _, train_y), (_, val_in, val_y), (_, test_in, test_y) = parts["train"], parts["val"], parts["test"]
    popularity = np.asarray(train_y.sum(axis=0), dtype=np.float64)
    rows = []

    def add(label, dim, lam, val_scores, test_scores, seconds):
        val_ndcg, _ = _evaluate(val_scores, val_in, val_y)
        test_ndcg, test_recall = _evaluate(test_scores, test_in, test_y)
        rows.append({"features": label, "dim": dim, "lambda": lam, "val_ndcg@20": float(np.nanmean(val_ndcg)),
                     "test_ndcg@20": float(np.nanmean(test_ndcg)), "test_recall@20": float(np.nanmean(test_recall)),
                     "per_user": test_ndcg, "seconds": seconds})

    add("popularity", None, None, np.repeat(popularity, val_in.shape[0], 0),
        np.repeat(popularity, test_in.shape[0], 0), 0.0)
    for label, features in _feature_sets(args, split, parts):
        started = time.perf_counter()
        readout = select_ridge(features["train"], train_y, features["val"], val_in, val_y)
        add(label, features["train"].shape[1], readout.lam, readout.scores(features["val"]),
            readout.scores(features["test"]), time.perf_counter() - started)
    for name in filter(None, args.tears.split(",")):
        from tears_bench.models.tears_trainer import train_tears
        started = time.perf_counter()
        recommender = train_tears(split, name, summaries, verbose=False).recommender
        val_scores = recommender.recommend(parts["val"][0], val_in, [1.0])[0]
        test_scores = recommender.recommend(parts["test"][0], test_in, [1.0])[0]
        add(f"{name}, alpha 1 (trained model)", None, None, val_scores.numpy(), test_scores.numpy(),
            time.perf_counter() - started)

    weights = bootstrap_weights(len(rows[0]["per_user"]), args.seed)
    for row in rows:
        gain = row["per_user"] - rows[0]["per_user"]
        row["test_gain"] = float(np.mean(gain))
        row["test_gain_ci"] = [float(v) for v in bootstrap_ci(gain, weights)]
    _print(split, summaries, parts, rows)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump([{k: v for k, v in r.items() if k != "per_user"} for r in rows], handle, indent=2)
    return 0


def _print(split, summaries, parts, rows):
    sizes = " / ".join(f"{len(parts[n][0])} {n}" for n in parts)
    print(f"{split.dataset} (split {split.hash}), summaries {summaries.metadata.get('summarizer')}: users with a "
          f"summary {sizes}")
    print("| features | dim | lambda | val NDCG@20 | test NDCG@20 | test Recall@20 | test gain over pop [95% CI] | s |")
    print("|---|---:|---:|---:|---:|---:|---|---:|")
    for r in rows:
        low, high = r["test_gain_ci"]
        dim = "" if r["dim"] is None else str(r["dim"])
        lam = "" if r["lambda"] is None else f"{r['lambda']:g}"
        print(f"| {r['features']} | {dim} | {lam} | {r['val_ndcg@20']:.4f} | {r['test_ndcg@20']:.4f} | "
              f"{r['test_recall@20']:.4f} | {r['test_gain']:+.4f} [{low:+.4f}, {high:+.4f}] | {r['seconds']:.1f} |")


if __name__ == "__main__":
    raise SystemExit(main())

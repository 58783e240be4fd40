"""Speed of the uniqueness task: sentence-BLEU and word-level Levenshtein over random user pairs.

    python benchmarks/bench_uniqueness.py [SUMMARIES.json] [--pairs 2000 10000] [--nltk-check 300]

Runs `run_uniqueness` on a JSON file of summaries ({user: summary}; default: the authors' GPT-4
ML-1M summaries beside the project) for each pair count, cold (tokenising included) each time,
and times nltk's own sentence_bleu on a sample of the same pairs for comparison (also checking
that both give the same numbers). Prints one table.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / ".." / "shared" / "data" / "summaries" / "tears-gpt4-ml-1m.json"
sys.path.insert(0, str(REPO))

from tears_bench.tasks.uniqueness import Corpus, pair_metrics, run_uniqueness, sample_pairs, tokenize  # noqa: E402


def nltk_time(texts: list[str], pairs: int, seed: int) -> tuple[float, float]:
    """Seconds per pair of nltk's sentence_bleu + rapidfuzz on token lists, and the largest BLEU gap."""
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
    from rapidfuzz.distance import Levenshtein

    ia, ib = sample_pairs(len(texts), pairs, seed)
    smoothing = SmoothingFunction().method1
    start = time.perf_counter()
    reference = []
    for i, j in zip(ia.tolist(), ib.tolist()):
        hyp, ref = tokenize(texts[i]), tokenize(texts[j])
        reference.append(sentence_bleu([ref], hyp, smoothing_function=smoothing))
        Levenshtein.distance(hyp, ref)
    seconds = (time.perf_counter() - start) / pairs
    corpus = Corpus(texts)
    ours = pair_metrics(corpus, ia, corpus, ib)[0]
    return seconds, float(np.abs(np.array(reference) - ours).max())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("summaries", nargs="?", default=str(DEFAULT))
    parser.add_argument("--pairs", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--nltk-check", type=int, default=300, help="pairs timed with nltk (0: skip)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    path = Path(args.summaries)
    if not path.is_file():
        print(f"summaries not found: {path}", file=sys.stderr)
        return 2
    summaries = {k: v for k, v in json.loads(path.read_text(encoding="utf-8")).items() if isinstance(v, str)}
    print(f"{path.name}: {len(summaries):,} summaries")
    print(f"{'pairs':>8} {'seconds':>8} {'pairs/s':>9} {'BLEU mean':>10} {'Lev mean':>9} {'Lev norm':>9}")
    for pairs in args.pairs:
        start = time.perf_counter()
        result, _ = run_uniqueness(summaries=summaries, seed=args.seed, pairs=pairs)
        seconds = time.perf_counter() - start
        between = result["between_users"]
        print(f"{pairs:>8,} {seconds:>8.2f} {pairs / seconds:>9,.0f} {between['bleu_mean']:>10.4f} "
              f"{between['levenshtein_mean']:>9.1f} {between['levenshtein_normalised_mean']:>9.3f}")
    if args.nltk_check:
        per_pair, gap = nltk_time(list(summaries.values()), args.nltk_check, args.seed)
        print(f"nltk sentence_bleu + rapidfuzz on token lists: {per_pair * 1e3:.2f} ms/pair "
              f"(10,000 pairs ~ {per_pair * 1e4:.0f} s); largest BLEU difference from ours {gap:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Summary uniqueness (protocol section 6): how different the summaries of different users are.

Reported for one or more summary *sources*, on the users every source has a non-empty summary
for (the shared users; `limit` takes a seeded random subset of them):
- length in words (whitespace split) per source: mean, median, min, max;
- between users: `pairs` distinct ordered pairs (a, b), a != b, of shared users, drawn without
  replacement (seeded), at most n (n - 1) of them: sentence BLEU and word-level Levenshtein
  distance (also divided by the longer summary's length), for the first source;
- within users (two sources or more): the same metrics between the sources of each user.
Low between-user BLEU and large between-user distance mean unique summaries. The result reports
`n_users` and the pairs actually drawn; `min_users` refuses fewer shared users (`tears-bench run`
asks for MIN_SHARED_USERS) rather than averaging a handful of pairs drawn over and over. An explicit
`limit` below it is a quick run: allowed, and its tables mark the values thin (tears_bench/report/table.py).

Texts are lower-cased and tokenised with nltk's wordpunct pattern (no data files needed).
BLEU is nltk's `sentence_bleu(references=[b], hypothesis=a, smoothing_function=method1)` with
the default 4-gram weights, reimplemented over pre-counted n-grams so that 10,000 pairs take a
second (tests check it against nltk itself). The distance is rapidfuzz's Levenshtein over word ids.
"""
from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

import numpy as np
from rapidfuzz.distance import Levenshtein
from rapidfuzz.process import cpdist

from tears_bench.tasks.common import rounded
from tears_bench.errors import TearsBenchError

PAIRS = 2000
MIN_SHARED_USERS = 20  # below this, between-user statistics repeat a few pairs (20 users: 380 ordered pairs)
MAX_ORDER = 4
EPSILON = 0.1  # nltk SmoothingFunction().method1's epsilon


# nltk's wordpunct_tokenize pattern, run by the standard `re` module (twice as fast as nltk's
# `regex`; the two differ only on zero-width characters such as U+200C).
_TOKEN = re.compile(r"\w+|[^\w\s]+")


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


class Vocabulary(dict):
    """word -> id, a new id for each unseen word."""

    def __missing__(self, word: str) -> int:
        self[word] = index = len(self)
        return index


class Corpus:
    """Texts with, computed on first use: word ids, word-id strings (for rapidfuzz) and n-gram tables.

    An n-gram of word ids (w1..wn) is coded as the base-V number with digits w1+1..wn+1, so codes
    of different orders never collide; a document's table is its sorted unique codes, their counts
    and their orders. Word ids come from a vocabulary shared by the corpora compared.
    """

    def __init__(self, texts: Sequence[str], vocabulary: Vocabulary | None = None):
        self.texts = list(texts)
        self.vocabulary = Vocabulary() if vocabulary is None else vocabulary
        self._ids: dict[int, np.ndarray] = {}
        self._tables: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._strings: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.texts)

    def ids(self, i: int) -> np.ndarray:
        if i not in self._ids:
            self._ids[i] = np.fromiter(map(self.vocabulary.__getitem__, tokenize(self.texts[i])), dtype=np.int64)
        return self._ids[i]

    def length(self, i: int) -> int:
        return len(self.ids(i))

    def string(self, i: int) -> str:
        """Text i as one character per word (rapidfuzz then compares words, not letters)."""
        if i not in self._strings:
            codes = self.ids(i) + 1
            codes = np.where(codes < 0xD800, codes, codes + 0x800).astype("<u4")  # no surrogates
            self._strings[i] = codes.tobytes().decode("utf-32-le")
        return self._strings[i]

    def table(self, i: int, base: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sorted unique n-gram codes, counts, orders 0..3) of text i, for codes in base `base`.

        Exact codes while base**4 fits in 63 bits (vocabularies up to 55,000 words); beyond, a
        rolling hash modulo 2**64 (collisions are then possible but vanishingly rare).
        """
        if (i, base) not in self._tables:
            exact = base ** MAX_ORDER < 2 ** 63
            digits = (self.ids(i) + 1).astype(np.int64 if exact else np.uint64)
            multiplier = base if exact else np.uint64(0x9E3779B97F4A7C15)
            codes, orders, code = [], [], digits
            with np.errstate(over="ignore"):
                for n in range(MAX_ORDER):
                    if n:
                        code = code[:-1] * multiplier + digits[n:] + (0 if exact else np.uint64(n))
                    codes.append(code)
                    orders.append(np.full(code.shape, n, dtype=np.int64))
            unique, first, counts = np.unique(np.concatenate(codes), return_index=True, return_counts=True)
            self._tables[(i, base)] = (unique, counts, np.concatenate(orders)[first])
        return self._tables[(i, base)]


def _clipped_matches(hyp, ref) -> np.ndarray:
    """sum over n-grams of min(count in hyp, count in ref), per order: [MAX_ORDER]."""
    h_codes, h_counts, h_orders = hyp
    r_codes, r_counts, _ = ref
    if not len(h_codes) or not len(r_codes):
        return np.zeros(MAX_ORDER)
    at = np.searchsorted(r_codes, h_codes).clip(max=len(r_codes) - 1)
    hit = r_codes[at] == h_codes
    matched = np.minimum(h_counts[hit], r_counts[at[hit]])
    return np.bincount(h_orders[hit], weights=matched, minlength=MAX_ORDER)


def bleu_from_matches(matches: np.ndarray, hyp_len: np.ndarray, ref_len: np.ndarray) -> np.ndarray:
    """nltk's sentence_bleu (one reference, method1 smoothing, uniform 4-gram weights), vectorised.

    matches: [P, 4] clipped n-gram matches; hyp_len, ref_len: [P] token counts.
    """
    hyp_len = np.asarray(hyp_len, dtype=np.float64)
    ref_len = np.asarray(ref_len, dtype=np.float64)
    totals = np.maximum(1.0, hyp_len[:, None] - np.arange(MAX_ORDER)[None, :])
    precision = np.where(matches > 0, matches, EPSILON) / totals
    log_mean = np.log(precision).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        penalty = np.where(hyp_len > ref_len, 1.0, np.exp(1 - ref_len / np.maximum(hyp_len, 1)))
    bleu = penalty * np.exp(log_mean)
    return np.where((hyp_len == 0) | (matches[:, 0] == 0), 0.0, bleu)


def sentence_bleu(hypothesis: str, reference: str) -> float:
    """BLEU of one text against another (the same numbers nltk's sentence_bleu gives)."""
    corpus = Corpus([hypothesis, reference])  # one corpus, so one vocabulary
    return float(pair_metrics(corpus, np.array([0]), corpus, np.array([1]))[0][0])


def pair_metrics(a: Corpus, ia: np.ndarray, b: Corpus, ib: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BLEU (hypothesis a[i], reference b[j]), Levenshtein distance and distance / longer length."""
    if a.vocabulary is not b.vocabulary:
        raise ValueError("corpora compared must share one Vocabulary")
    ia, ib = np.asarray(ia, dtype=np.int64), np.asarray(ib, dtype=np.int64)
    if not len(ia):
        return np.zeros(0), np.zeros(0), np.zeros(0)
    # Tokenise everything first: the base of the n-gram codes is the final vocabulary size.
    hyp_len = np.array([a.length(i) for i in ia.tolist()])
    ref_len = np.array([b.length(j) for j in ib.tolist()])
    base = len(a.vocabulary) + 1
    matches = np.stack([_clipped_matches(a.table(i, base), b.table(j, base)) for i, j in zip(ia.tolist(), ib.tolist())])
    bleu = bleu_from_matches(matches, hyp_len, ref_len)
    distance = cpdist([a.string(i) for i in ia.tolist()], [b.string(j) for j in ib.tolist()],
                      scorer=Levenshtein.distance, workers=-1).astype(np.float64)
    return bleu, distance, distance / np.maximum(np.maximum(hyp_len, ref_len), 1)


def sample_pairs(n: int, pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """min(pairs, n (n - 1)) distinct ordered pairs (i, j), i != j, drawn without replacement, seeded.

    Pair code c in [0, n (n - 1)) is i = c // (n - 1) and j = c % (n - 1), skipping i itself, so
    every ordered pair of distinct indices is equally likely and none repeats.
    """
    total = n * (n - 1)
    if n < 2 or pairs <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    codes = rng.permutation(total) if pairs >= total else rng.choice(total, size=int(pairs), replace=False)
    first, second = np.divmod(codes.astype(np.int64), n - 1)
    second += second >= first  # skip i itself
    return first, second


def _sources(summaries: Any, sources: Mapping[str, Mapping] | None) -> dict[str, dict]:
    """Named sources: {name: {user: text}}. `summaries` is one source or a mapping of sources."""
    named: dict[str, dict] = {}
    if summaries:
        values = list(summaries.values())
        if values and all(isinstance(v, Mapping) for v in values):
            named.update({str(k): dict(v) for k, v in summaries.items()})
        else:
            named["summaries"] = dict(summaries)
    for name, source in (sources or {}).items():
        named[str(name)] = dict(source)
    for name, source in named.items():
        bad = [u for u, t in source.items() if not isinstance(t, str)]
        if bad:
            raise TearsBenchError(f"summary source {name!r}: user {bad[0]!r} has no text ({type(source[bad[0]]).__name__})")
    if not named:
        raise TearsBenchError("the uniqueness task needs at least one source of summaries")
    return named


def _length_stats(texts: Sequence[str]) -> dict:
    words = np.array([len(t.split()) for t in texts])
    if not words.size:
        return {"n": 0, "mean": None, "median": None, "min": None, "max": None}
    return {"n": int(words.size), "mean": rounded(words.mean(), 3), "median": rounded(np.median(words), 3),
            "min": int(words.min()), "max": int(words.max())}


def _metric_stats(bleu: np.ndarray, distance: np.ndarray, normalised: np.ndarray) -> dict:
    if not bleu.size:
        return {"pairs": 0, "bleu_mean": None, "bleu_median": None, "levenshtein_mean": None,
                "levenshtein_median": None, "levenshtein_normalised_mean": None}
    return {"pairs": int(bleu.size), "bleu_mean": rounded(bleu.mean()), "bleu_median": rounded(np.median(bleu)),
            "levenshtein_mean": rounded(distance.mean(), 3), "levenshtein_median": rounded(np.median(distance), 3),
            "levenshtein_normalised_mean": rounded(normalised.mean())}


def shared_users(named: Mapping[str, Mapping]) -> list:
    """Users with a non-empty summary in every source, in a stable order."""
    sources = list(named.values())
    users = [u for u in sources[0] if sources[0][u].strip()
             and all(isinstance(s.get(u), str) and s[u].strip() for s in sources[1:])]
    return sorted(users, key=lambda u: (str(type(u)), u))


def run_uniqueness(models=None, split=None, summaries: Any = None, editor=None, alphas=None, seed: int = 0,
                   limit: int | None = None, *, sources: Mapping[str, Mapping] | None = None,
                   pairs: int = PAIRS, min_users: int = 0) -> tuple[dict, list[dict]]:
    """Models, editor and alphas are not used (uniqueness is a property of the summaries)."""
    if int(pairs) < 0:
        raise TearsBenchError(f"the number of pairs must be >= 0, got {pairs}")
    if limit is not None and int(limit) < 1:
        raise TearsBenchError(f"--limit must be at least 1, got {limit}")
    named = _sources(summaries, sources)
    names = list(named)
    users = shared_users(named)
    available = len(users)
    if limit is not None and int(limit) < len(users):
        chosen = np.sort(np.random.default_rng(seed).choice(len(users), size=int(limit), replace=False))
        users = [users[i] for i in chosen.tolist()]
    if available < min_users:  # an explicit --limit below it is a quick run, shown thin with its n
        shared = "shared by every source" if len(names) > 1 else "with a summary"
        raise TearsBenchError(
            f"uniqueness needs at least {min_users} users {shared}, got {available} in {', '.join(names)}: "
            f"with fewer, the between-user pairs repeat a handful of users")
    vocabulary = Vocabulary()
    first = named[names[0]]
    corpus = Corpus([first[u] for u in users], vocabulary)

    result: dict[str, Any] = {"sources": names, "n_users": len(users),
                              "length": {n: _length_stats([s[u] for u in users]) for n, s in named.items()}}
    rows: list[dict] = []
    if len(users) >= 2 and pairs:
        ia, ib = sample_pairs(len(users), int(pairs), seed)
        bleu, distance, normalised = pair_metrics(corpus, ia, corpus, ib)
        result["between_users"] = {"source": names[0], "n_users": len(users), **_metric_stats(bleu, distance, normalised)}
        rows += [{"kind": "between", "source": names[0], "users": [_jsonable(users[i]), _jsonable(users[j])],
                  "bleu": rounded(b), "levenshtein": int(d)}
                 for i, j, b, d in zip(ia.tolist(), ib.tolist(), bleu, distance)]
    else:
        result["between_users"] = {"source": names[0], "n_users": len(users),
                                   **_metric_stats(np.zeros(0), np.zeros(0), np.zeros(0)),
                                   "note": "fewer than two users" if len(users) < 2 else "pairs = 0"}

    within = []
    for x in range(len(names)):
        for y in range(x + 1, len(names)):
            a, b = named[names[x]], named[names[y]]
            common = users  # every source has every shared user
            if not common:
                continue
            ref = corpus if x == 0 else Corpus([a[u] for u in common], vocabulary)
            position = {u: i for i, u in enumerate(users)}
            ref_index = np.array([position[u] for u in common]) if x == 0 else np.arange(len(common))
            hyp = Corpus([b[u] for u in common], vocabulary)
            bleu, distance, normalised = pair_metrics(hyp, np.arange(len(common)), ref, ref_index)
            within.append((names[x], names[y], bleu, distance, normalised))
            rows += [{"kind": "within", "sources": [names[x], names[y]], "user": _jsonable(u), "bleu": rounded(bv),
                      "levenshtein": int(dv)} for u, bv, dv in zip(common, bleu, distance)]
    if within:
        result["within_user"] = {
            **_metric_stats(*(np.concatenate([w[i] for w in within]) for i in (2, 3, 4))),
            "by_source_pair": {f"{x}|{y}": _metric_stats(b, d, nd) for x, y, b, d, nd in within},
        }
    else:
        result["within_user"] = None
    result["meta"] = {"seed": seed, "pairs_requested": int(pairs), "users_shared": available,
                      "pairs_possible": len(users) * (len(users) - 1), "tokenizer": "nltk wordpunct_tokenize, lower case",
                      "bleu": "sentence BLEU-4, uniform weights, nltk SmoothingFunction().method1",
                      "levenshtein": "word-level (insert/delete/substitute a word = 1)",
                      "length": "words (whitespace split)"}
    return result, rows


def _jsonable(user: Any) -> Any:
    return int(user) if isinstance(user, (int, np.integer)) else str(user)


class UserTexts(dict):
    """{original user id: summary} of one source, with the source's label, metadata and key."""

    def __init__(self, texts: Mapping[str, str], label: str, metadata: dict, key: str):
        super().__init__(texts)
        self.label, self.metadata, self.key = label, metadata, key


def needs_split(specs: Sequence[str]) -> bool:
    """Whether any source is written from the dataset (template, LLM) rather than read from a file."""
    from tears_bench.summaries.registry import resolve

    return any(resolve(spec).kind not in ("file", "published") for spec in specs)


def summary_sources(specs: Sequence[str], split=None, *, llm_base_url: str | None = None,
                    concurrency: int = 8, timeout: float | None = None,
                    llm_mode: str = "online") -> dict[str, UserTexts]:
    """spec -> UserTexts for the uniqueness task, keyed by original user id so sources line up.

    file: and published sources are read whole (every user of the file, no split needed). The
    template is written for every user of the split; an LLM is asked about the split's test users
    only, since each user is a paid request. Labels are the summarizer names (`file:NAME.json`), or
    the spec as given when two sources would share a label.
    """
    from tears_bench.storage import stable_hash
    from tears_bench.summaries.importer import normalise_user_id, published_file, read_summary_file
    from tears_bench.summaries.registry import get_summaries, resolve

    out: dict[str, UserTexts] = {}
    for spec in specs:
        summarizer = resolve(spec)
        if summarizer.kind in ("file", "published"):
            path = summarizer.path if summarizer.kind == "file" else published_file(summarizer.name)[0]
            texts: dict[str, str] = {}
            for key, text in read_summary_file(path).items():
                texts.setdefault(normalise_user_id(key), text.strip())
            texts = {u: t for u, t in texts.items() if t}
            metadata = {"summarizer": summarizer.name, "model": summarizer.model,
                        "prompt_version": summarizer.prompt_version, "parameters": summarizer.parameters}
            key = stable_hash({"summarizer": summarizer.name, **summarizer.parameters})
        else:
            if split is None:
                raise TearsBenchError(f"summary source {spec} is written from a dataset: give --dataset")
            users = None if summarizer.kind == "template" else split.test_users.tolist()
            found = get_summaries(split, spec, llm_base_url=llm_base_url, users=users, concurrency=concurrency,
                                  timeout=timeout, llm_mode=llm_mode)
            texts, metadata, key = found.by_user_id(), found.metadata, found.key
        out[spec] = UserTexts(texts, summarizer.name, metadata, key)
    labels = [s.label for s in out.values()]
    for spec, source in out.items():
        if labels.count(source.label) > 1:
            source.label = spec
    return out

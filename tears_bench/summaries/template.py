"""The `template` summarizer: offline, deterministic, no model.

It writes the four parts of protocol.md section 3 from the user's summary-set ratings alone:
1. genres enjoyed, 2. plot points enjoyed, 3. genres not enjoyed, 4. plot points not enjoyed that
others may like. Genre scores combine how the user rates a genre against their own mean (shrunk
towards 0 for few items) with how over- or under-represented the genre is in their history
compared with the catalogue, so positives-only data (every rating a like) still yields dislikes:
genres common in the catalogue but absent or rare in the user's history.

Downstream offline editors read these summaries for sentiment cues next to genre names, so:
genre names are the dataset's genre list verbatim (lower case, e.g. "sci fi", "film noir"); the
favourite genre comes first with the strongest positive cue, the least favourite first in part 3
with the strongest negative cue; a sentence never mixes a positive and a negative cue; the
plot-point parts name no genre at all. Phrasing variants are picked by a hash of the user id.
"""
from __future__ import annotations

import random
import re
import zlib
from dataclasses import dataclass
from typing import Iterable

import numpy as np

TEMPLATE_VERSION = "template-v1"
MIN_WORDS, MAX_WORDS = 100, 200  # the target; the hard bounds checked by tests are 60-320
_LIFT_WEIGHT = 0.25  # how much over/under-representation counts next to the rating deviation
_SHRINK = 2.0  # pseudo-items pulling a genre's rating deviation towards 0

# Plot points per genre, for parts 2 and 4. No genre name may appear in them (checked at run time).
PLOT_POINTS = {
    "drama": ["emotionally rich character journeys", "personal struggles told with depth"],
    "comedy": ["witty banter and light-hearted mishaps", "absurd situations played for laughs"],
    "romance": ["heartfelt relationships and longing", "couples finding their way to each other"],
    "thriller": ["tense suspense and sudden twists", "characters racing against a ticking clock"],
    "action": ["high-stakes chases and set pieces", "heroes fighting against the odds"],
    "adventure": ["quests to far-off places", "daring expeditions into the unknown"],
    "children's": ["gentle tales for the whole family", "young heroes growing up"],
    "sci fi": ["speculative technology and other worlds", "space travel and artificial minds"],
    "crime": ["heists, investigations and moral grey zones", "gangsters, detectives and double-crosses"],
    "horror": ["dread, gore and the supernatural", "monsters stalking isolated victims"],
    "war": ["soldiers under fire and sacrifice on the battlefield", "the human cost of armed conflict"],
    "mystery": ["puzzles, clues and hidden motives", "whodunits that keep the answer back"],
    "musical": ["song-and-dance storytelling", "stories carried by their songs"],
    "animation": ["colourful hand-drawn or computer-made worlds", "cartoon characters with big personalities"],
    "documentary": ["real people and true events", "factual portraits of the world"],
    "western": ["frontier showdowns and lone gunslingers", "cattle drives and dusty outlaw towns"],
    "film noir": ["shadowy detectives and fatal temptations", "cynical anti-heroes in rain-soaked cities"],
    "fantasy": ["magic, myth and enchanted realms", "wizards, dragons and impossible quests"],
}
_STOPWORDS = set("""a an the and or of in on at to for from with without by about into over under is are be
was were it its this that these those my your his her our their me you him them we they i de la le les
el del das der die und il un une part ii iii iv vs story""".split())
# Sentiment words never used as title motifs: they would read as cues to a genre-parsing editor.
_CUE_WORDS = {"love", "loves", "loved", "lover", "lovers", "like", "likes", "enjoy", "enjoys", "fan", "fans",
              "hate", "hates", "dislike", "dislikes", "avoid", "avoids", "favourite", "favorite"}

_MOTIF_MIN_TITLES = 3
_YEAR = re.compile(r"\((\d{4})\)\s*$")
_WORD = re.compile(r"[a-z]+")


@dataclass
class _Context:
    """Everything about the catalogue that every user's summary needs, computed once."""

    genres: list[str]
    item_genres: dict[int, list[int]]
    item_decade: dict[int, int | None]
    item_words: dict[int, list[str]]
    share: np.ndarray  # share of vocabulary items carrying each genre
    plots: dict[int, list[str]]  # plot phrases per genre, none naming any genre of the list
    noun: str  # "movies" or "books"
    person: str  # "viewer" or "reader"


def build_context(split) -> _Context:
    genres = list(split.genres)
    index = {g: k for k, g in enumerate(genres)}
    items = np.unique(split.summary_items)
    catalog = split.catalog
    banned = set(" ".join(genres).split())
    item_genres, item_decade, item_words = {}, {}, {}
    for item in items.tolist():
        item_genres[item] = [index[g] for g in catalog.genres[item] if g in index]
        item_decade[item] = _decade(catalog, item)
        words = _WORD.findall(_YEAR.sub("", catalog.titles[item]).lower())
        item_words[item] = list(dict.fromkeys(
            w for w in words if len(w) >= 4 and w not in _STOPWORDS and w not in _CUE_WORDS and w not in banned))
    # Motifs are words shared by several titles ("night", "star"), not one-off names.
    titles_with = {}
    for words in item_words.values():
        for w in words:
            titles_with[w] = titles_with.get(w, 0) + 1
    item_words = {i: [w for w in words if titles_with[w] >= _MOTIF_MIN_TITLES] for i, words in item_words.items()}
    # A genre name inside a plot phrase would confuse a reader of genre cues: such phrases are dropped.
    names = [re.compile(rf"\b{re.escape(g)}\b") for g in genres]
    plots = {k: [x for x in PLOT_POINTS.get(g, []) if not any(n.search(x) for n in names)]
             for k, g in enumerate(genres)}
    share = np.zeros(len(genres))
    for item in split.vocab.tolist():
        for g in catalog.genres[item]:
            if g in index:
                share[index[g]] += 1
    share /= max(1, len(split.vocab))
    books = split.kind == "books"
    return _Context(genres, item_genres, item_decade, item_words, share, plots,
                    "books" if books else "movies", "reader" if books else "viewer")


def _decade(catalog, item: int) -> int | None:
    year = catalog.years[item] if catalog.years and item < len(catalog.years) else ""
    match = re.match(r"\d{4}", str(year)) or _YEAR.search(catalog.titles[item])
    if not match:
        return None
    return int(match.group(match.lastindex or 0)) // 10 * 10


def template_summaries(split, users: Iterable[int]) -> dict[int, str]:
    context = build_context(split)
    return {int(u): template_summary(split, int(u), context) for u in users}


def template_summary(split, user: int, context: _Context | None = None) -> str:
    context = context or build_context(split)
    pairs = split.summary_set(user)
    rng = random.Random(zlib.crc32(str(split.user_ids[user]).encode()))
    profile = _profile(context, pairs)
    return _write(context, profile, rng)


@dataclass
class _Profile:
    scores: np.ndarray
    counts: np.ndarray
    deviation: np.ndarray
    likes: list[int]
    dislikes: list[int]
    lukewarm: list[int]
    liked_items: list[int]
    disliked_items: list[int]
    mean: float
    spread: float
    rated: bool  # the user's ratings vary (False on positives-only data)
    n_items: int


def _profile(context: _Context, pairs: list[tuple[int, float]]) -> _Profile:
    n_genres = len(context.genres)
    items = [item for item, _ in pairs]
    ratings = np.array([r for _, r in pairs], dtype=float) if pairs else np.zeros(0)
    mean = float(ratings.mean()) if len(ratings) else 0.0
    spread = float(ratings.std()) if len(ratings) else 0.0
    counts, sums = np.zeros(n_genres), np.zeros(n_genres)
    for item, rating in pairs:
        for g in context.item_genres.get(item, []):
            counts[g] += 1
            sums[g] += rating - mean
    deviation = sums / (counts + _SHRINK)
    expected = len(pairs) * context.share
    lift = np.log((counts + 0.5) / (expected + 0.5))
    scores = deviation + _LIFT_WEIGHT * lift
    order = np.argsort(-scores, kind="stable")
    likes = [int(g) for g in order if counts[g] >= 1 and scores[g] > 0.02][:3]
    if not likes and n_genres:  # everything below par: the least bad genre they watch still leads
        watched = [int(g) for g in order if counts[g] >= 1]
        likes = watched[:1]
    rest = [int(g) for g in order[::-1] if int(g) not in likes]
    dislikes = [g for g in rest if scores[g] < -0.02][:3] or rest[:1]
    lukewarm = [int(g) for g in order if counts[g] >= 2 and abs(scores[g]) <= 0.05
                and int(g) not in likes and int(g) not in dislikes][:1]
    rated = spread > 0
    liked_items = [item for item, r in pairs if r >= max(4.0, mean)] if rated else items
    disliked_items = [item for item, r in pairs if r < min(3.0, mean)] if rated else []
    return _Profile(scores, counts, deviation, likes, dislikes, lukewarm, liked_items, disliked_items,
                    mean, spread, rated, len(pairs))


# -- wording
def _positive_verb(score: float) -> str:
    if score >= 0.6:
        return "especially loves"
    if score >= 0.25:
        return "really enjoys"
    return "enjoys"


def _negative_verb(score: float, watched: bool) -> str:
    if not watched:
        return "avoids"
    if score <= -0.6:
        return "strongly dislikes"
    if score <= -0.25:
        return "does not enjoy"
    return "is not a fan of"


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _pair(phrases: list[str]) -> str:
    """Two plot phrases that may contain 'and' themselves, joined unambiguously."""
    return phrases[0] if len(phrases) == 1 else f"{phrases[0]}, as well as {phrases[1]}"


def _plot(context: _Context, genre: int, rng: random.Random) -> str | None:
    options = context.plots.get(genre)
    return options[rng.randrange(len(options))] if options else None


def _motifs(context: _Context, items: list[int], rng: random.Random, k: int = 3) -> list[str]:
    counts: dict[str, int] = {}
    for item in items:
        for word in context.item_words.get(item, []):
            counts[word] = counts.get(word, 0) + 1
    ranked = sorted(counts, key=lambda w: (-counts[w], zlib.crc32(w.encode()) ^ rng.getrandbits(8)))
    return ranked[:k]


def _era(context: _Context, items: list[int]) -> int | None:
    counts: dict[int, int] = {}
    for item in items:
        decade = context.item_decade.get(item)
        if decade is not None:
            counts[decade] = counts.get(decade, 0) + 1
    return max(counts, key=lambda d: (counts[d], d)) if counts else None


def _write(context: _Context, p: _Profile, rng: random.Random) -> str:
    noun = context.noun
    they = rng.choice(["the user", f"this {context.person}", "the user"])
    They = they[0].upper() + they[1:]
    genres = context.genres
    likes, dislikes = p.likes, p.dislikes

    def g(k: int) -> str:
        return f"{genres[k]} {noun}"

    # Part 1: genres enjoyed. The favourite first, with the strongest cue.
    part1 = []
    if likes:
        fav = likes[0]
        verb = _positive_verb(p.scores[fav])
        part1.append(rng.choice([
            f"Summary: {They} {verb} {g(fav)}.",
            f"Summary: Above all, {they} {verb} {g(fav)}.",
            f"Summary: When choosing {noun}, {they} {verb} {g(fav)} most of all.",
        ]))
        if len(likes) > 1:
            others = _join([genres[k] for k in likes[1:]])
            part1.append(rng.choice([
                f"They also enjoy {others} {noun}.",
                f"{others[0].upper() + others[1:]} {noun} are other genres they enjoy.",
                f"Beyond that, they enjoy {others} {noun} as well.",
            ]))
    else:
        part1.append(f"Summary: {They} has no clear favourite genre among these {noun}.")

    # Part 2: plot points enjoyed (no genre names).
    part2 = []
    plots = [x for x in (_plot(context, k, rng) for k in likes) if x]
    if plots:
        part2.append(rng.choice([
            f"They are drawn to stories of {_pair(plots)}.",
            f"What pulls them in: {_pair(plots)}.",
            f"They gravitate towards {_pair(plots)}.",
        ]))
    motifs = _motifs(context, p.liked_items, rng)
    if motifs:
        quoted = _join([f"\u201c{m}\u201d" for m in motifs])
        part2.append(rng.choice([
            f"Motifs such as {quoted} recur in the titles they pick.",
            f"Recurring motifs in their choices include {quoted}.",
        ]))
    era = _era(context, p.liked_items)
    era_sentence = None
    if era is not None:
        era_sentence = rng.choice([
            f"Much of what they pick comes from the {era}s.",
            f"They often return to {noun} from the {era}s.",
            f"Their choices lean towards the {era}s.",
        ])

    # Part 3: genres not enjoyed. The least favourite first, with the strongest cue.
    part3 = []
    if dislikes:
        worst = dislikes[0]
        watched = p.counts[worst] >= 1 and p.rated
        verb = _negative_verb(p.scores[worst], watched)
        part3.append(rng.choice([
            f"On the other hand, {they} {verb} {g(worst)}.",
            f"In contrast, {they} {verb} {g(worst)}.",
            f"By contrast, {they} {verb} {g(worst)}.",
        ]))
        if not watched:
            part3.append(f"{genres[worst][0].upper() + genres[worst][1:]} {noun} are common, yet they rarely "
                         f"choose them and do not seem drawn to them.")
        if len(dislikes) > 1:
            more = _join([genres[k] for k in dislikes[1:]])
            part3.append(rng.choice([
                f"They are also not a fan of {more} {noun}.",
                f"They also avoid {more} {noun}.",
            ]))
    if p.lukewarm:
        part3.append(f"They are lukewarm about {g(p.lukewarm[0])}, which appear without standing out.")

    # Part 4: plot points not enjoyed that others may like (no genre names).
    part4 = []
    bad_plots = [x for x in (_plot(context, k, rng) for k in dislikes) if x]
    if bad_plots:
        part4.append(rng.choice([
            f"Stories built on {_pair(bad_plots)} leave them cold, although many other "
            f"{context.person}s find them gripping.",
            f"Plots centred on {_pair(bad_plots)} do not hold their interest, even if plenty of "
            f"other {context.person}s are drawn to them.",
            f"They tend to pass on {_pair(bad_plots)}, which others often find thrilling.",
        ]))
    bad_motifs = _motifs(context, p.disliked_items, rng, k=2)
    if bad_motifs:
        quoted_bad = _join([f"\u201c{m}\u201d" for m in bad_motifs])
        part4.append(f"Titles evoking {quoted_bad} tend to fall flat for them.")

    extras = _extras(context, p, rng)
    body = part1 + part2 + part3 + part4
    # Lengthen with optional sentences up to the target, never past the maximum.
    optional = [s for s in [era_sentence] + extras if s]
    text = " ".join(body)
    for sentence in optional:
        if len(text.split()) >= MIN_WORDS + rng.randrange(0, 40):
            break
        candidate = _insert(body, sentence, len(part1) + len(part2))
        if len(" ".join(candidate).split()) <= MAX_WORDS:
            body = candidate
            text = " ".join(body)
    return text


def _insert(body: list[str], sentence: str, position: int) -> list[str]:
    """Optional sentences (era, habits) go between the enjoyed and not-enjoyed parts."""
    return body[:position] + [sentence] + body[position:]


def _extras(context: _Context, p: _Profile, rng: random.Random) -> list[str]:
    noun, person = context.noun, context.person
    n_genres = int((p.counts > 0).sum())
    sentences = []
    if n_genres >= 8:
        sentences.append(rng.choice([
            f"Their taste is broad, ranging over {n_genres} different genres.",
            f"They sample widely, touching {n_genres} genres in all.",
        ]))
    else:
        sentences.append(rng.choice([
            f"Their taste is focused, staying within {n_genres} genres.",
            f"They keep to a narrow circle of {n_genres} genres.",
        ]))
    if p.rated:
        if p.mean >= 4.0:
            sentences.append(rng.choice([
                f"They are a generous {person} who is pleased by most of what they choose.",
                f"Most {noun} they pick leave them satisfied.",
            ]))
        elif p.mean <= 3.0:
            sentences.append(rng.choice([
                f"They are a demanding {person} and few {noun} fully win them over.",
                f"They are hard to please, and many {noun} disappoint them.",
            ]))
        else:
            sentences.append(rng.choice([
                f"They are a balanced {person}, clear about what works for them and what does not.",
                f"Their reactions are measured: some {noun} impress them, others leave them indifferent.",
            ]))
        if p.spread >= 1.1:
            sentences.append("Their reactions swing widely from one title to the next.")
    else:
        sentences.append(rng.choice([
            f"They return to the same kinds of {noun} with steady enthusiasm.",
            f"Their choices show a consistent and well-defined taste in {noun}.",
        ]))
    sentences.append(rng.choice([
        "Character and atmosphere matter to them as much as the premise.",
        "They value a well-told story over spectacle.",
        "A strong central premise is what first catches their attention.",
        f"They seem to appreciate {noun} with a clear and confident tone.",
    ]))
    return sentences


def word_count(text: str) -> int:
    return len(text.split())


__all__ = ["TEMPLATE_VERSION", "template_summaries", "template_summary", "build_context", "word_count"]

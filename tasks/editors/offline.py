"""The offline editor: deterministic, no network, reads only the summary text (protocol 7).

find_genres scores every genre of the list from its mentions: each mention takes the sentiment of
the nearest cue of its clause ("enjoys", "does not enjoy", "avoids"...), clauses being split on
contrast words ("but", "while", "whereas", ";", "however", "conversely"...). A clause without a
cue inherits from the clause (or sentence) before it, inverted after a contrast word; mentions in
a clause about what *others* enjoy count as mildly disliked (the fourth part of a TEARS summary).
Favourite = highest positive score, least favourite = lowest negative score, ties going to the
genre mentioned first; no negative genre -> None.

flip swaps the two genres' words and nothing else (byte-identical elsewhere). describe_item builds
"<adjective> <genre> <movies|books> about <title word>" from the item's genres and title.
insert_sentence replaces the sentence most similar to the description (attempt k: the k-th most
similar) with "The user also enjoys <five words>.".
"""
from __future__ import annotations

import re
from typing import Sequence

from tears_bench.tasks.editors import lexicon as lx
from tears_bench.tasks.editors.base import Editor, GenrePair

_WORD = re.compile(r"[a-z]+(?:n't|'t)?", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n\s*\n")
_STOPWORDS = frozenset(
    "a an the of and or in on at to for with by from about as is are was were be been that this these those "
    "it its their they them user users user's who which what when where how than then there also very more most "
    "film films movie movies book books story stories part ii iii la le les de el".split())
_GENERIC_TAIL = re.compile(r"^(.+?)([ -](?:films?|movies?|books?|stories|story|novels?|entertainment|fare))$",
                           re.IGNORECASE)
UNCUED_WEIGHT = 0.2  # a genre named with no sentiment anywhere near it leans liked


class OfflineEditor(Editor):
    name = "offline"
    spec = "offline"
    deterministic = True

    def find_genres(self, summary: str, genre_list: Sequence[str]) -> GenrePair | None:
        scores = genre_scores(summary, genre_list)
        liked = [(s, first, g) for g, (s, first) in scores.items() if s > 0]
        disliked = [(s, first, g) for g, (s, first) in scores.items() if s < 0]
        if not liked or not disliked:
            return None
        favourite = min(liked, key=lambda t: (-t[0], t[1]))[2]
        least = min(disliked, key=lambda t: (t[0], t[1]))[2]
        return favourite, least

    def flip(self, summary: str, favourite: str, least: str) -> str:
        return swap_genres(summary, favourite, least)

    def describe_item(self, title: str, genres: Sequence[str], kind: str = "movies", attempt: int = 0) -> str:
        return five_word_description(title, genres, kind)

    def insert_sentence(self, summary: str, five_words: str, attempt: int = 0, kind: str = "movies") -> str:
        return replace_sentence(summary, f"The user also enjoys {five_words}.", five_words, attempt)


# --- genre scoring ------------------------------------------------------------------------------

def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, trailing whitespace excluded."""
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        if text[start:match.start()].strip():
            spans.append((start, match.start()))
        start = match.end()
    if text[start:].strip():
        spans.append((start, len(text.rstrip())))
    return spans


def _clauses(sentence: str) -> list[tuple[str, bool]]:
    """Clauses of a sentence with whether a contrast word introduced each one."""
    out, start, contrast = [], 0, False
    for match in lx.MARKER_PATTERN.finditer(sentence):
        out.append((sentence[start:match.start()], contrast))
        start, contrast = match.end(), lx.CONTRAST[int(match.lastgroup[1:])]
    out.append((sentence[start:], contrast))
    return out


def _cues(clause: str) -> list[tuple[int, float]]:
    """(position, signed weight) of the sentiment cues of a clause; negated positives turn negative."""
    negative_rx, negative_w = lx.NEGATIVE_PATTERNS
    positive_rx, positive_w = lx.POSITIVE_PATTERNS
    taken = [(m.start(), m.end(), -negative_w[int(m.lastgroup[1:])]) for m in negative_rx.finditer(clause)]
    cues = [(start, weight) for start, _, weight in taken]
    for m in positive_rx.finditer(clause):
        if any(m.start() < e and s < m.end() for s, e, _ in taken):
            continue
        weight = positive_w[int(m.lastgroup[1:])]
        before = [w.lower() for w in _WORD.findall(clause[:m.start()])][-lx.NEGATION_WINDOW:]
        negated = any(w in lx.NEGATIONS or w.endswith("n't") or w.endswith("'t") for w in before)
        cues.append((m.start(), -weight if negated else weight))
    return sorted(cues)


def _has_negation(clause: str) -> bool:
    return any(w.lower() in ("not", "never", "no", "nor") or w.lower().endswith("n't") for w in _WORD.findall(clause))


def genre_scores(summary: str, genre_list: Sequence[str]) -> dict[str, tuple[float, int]]:
    """genre -> (sentiment score, position of its first mention) for the genres the text names."""
    lexicon = lx.lexicon_for(tuple(genre_list))
    scores: dict[str, list] = {}
    previous_sentence = 0.0
    for s_start, s_end in sentence_spans(summary):
        sentence = summary[s_start:s_end]
        previous_clause = 0.0
        offset = 0
        for clause, contrast in _clauses(sentence):
            position = sentence.find(clause, offset) + s_start
            offset = position - s_start + len(clause)
            mentions = lexicon.mentions(clause)
            cues = _cues(clause)
            clause_polarity = 0.0
            if lx.OTHERS.search(clause):
                polarity = lambda start: -lx.OTHERS_WEIGHT  # noqa: E731
                clause_polarity = -1.0
            elif cues:
                polarity = lambda start, cues=cues: _nearest_cue(cues, start)  # noqa: E731
                clause_polarity = cues[-1][1]
            else:
                inherited = _inherit(clause, contrast, previous_clause, previous_sentence)
                polarity = lambda start, w=inherited: w  # noqa: E731
                clause_polarity = inherited if abs(inherited) != UNCUED_WEIGHT else 0.0
            for start, _, genre, _, weight in mentions:
                entry = scores.setdefault(genre, [0.0, position + start])
                entry[0] += polarity(start) * weight
            if clause_polarity:
                previous_clause = clause_polarity
        if previous_clause:
            previous_sentence = previous_clause
    return {g: (round(s, 6), first) for g, (s, first) in scores.items()}


def _nearest_cue(cues: list[tuple[int, float]], start: int) -> float:
    before = [w for pos, w in cues if pos <= start]
    return before[-1] if before else cues[0][1]


def _inherit(clause: str, contrast: bool, previous_clause: float, previous_sentence: float) -> float:
    if _has_negation(clause):
        return -1.0
    if previous_clause:
        return 0.7 * (-1 if contrast else 1) * (1 if previous_clause > 0 else -1)
    if previous_sentence:
        return 0.5 * (-1 if contrast else 1) * (1 if previous_sentence > 0 else -1)
    return -UNCUED_WEIGHT if contrast else UNCUED_WEIGHT


# --- flip --------------------------------------------------------------------------------------

def swap_genres(summary: str, favourite: str, least: str) -> str:
    """Every word of `favourite` becomes the matching word of `least` and vice versa; nothing else moves."""
    favourite, least = lx.normalise(favourite), lx.normalise(least)
    lexicon = lx.lexicon_for((favourite, least))
    other = {favourite: least, least: favourite}
    pieces, last = [], 0
    for start, end, genre, form, _ in lexicon.mentions(summary):
        if genre not in other:
            continue
        text, forms = summary[start:end], lexicon.forms[other[genre]]
        head = _GENERIC_TAIL.match(text)
        if head:  # "family films" -> "comedy films": keep the generic word, swap the genre word
            replacement = _match_case(head.group(1), forms.noun) + head.group(2)
        else:
            replacement = _match_case(text, forms.get(form))
        pieces += [summary[last:start], replacement]
        last = end
    pieces.append(summary[last:])
    return "".join(pieces)


def _match_case(original: str, replacement: str) -> str:
    letters = [c for c in original if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return replacement.upper()
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


# --- rank: five-word descriptions and sentence insertion ---------------------------------------

def title_keyword(title: str) -> str:
    """The title's most telling word: the longest non-stop-word (first on ties), lower-case."""
    title = re.sub(r"\(\s*\d{4}\s*\)|\([^)]*\)", " ", title)
    words = [w.lower() for w in re.findall(r"[A-Za-z]+", title)]
    content = [w for w in words if w not in _STOPWORDS and len(w) > 2] or [w for w in words if len(w) > 1]
    return max(content, key=len) if content else "life"


def five_word_description(title: str, genres: Sequence[str], kind: str = "movies") -> str:
    """'<adjective> <genre> <movies|books> about <keyword>': exactly five lower-case words.

    Two genres: the first's adjective and the second's name ("dramatic thriller movies about
    river"); one: a second adjective of it ("emotional drama movies about redemption").
    """
    names = [lx.normalise(g) for g in genres][:2]
    noun = "books" if kind == "books" else "movies"
    if not names:
        words = ["engaging", "memorable", noun]
    elif len(names) == 2 and names[0] != names[1]:
        words = [lx.concept_forms(names[0]).adj, names[1], noun]
    else:
        words = [lx.concept_forms(names[0]).adj2, names[0], noun]
    words = [w.replace(" ", "-").lower() for w in words] + ["about", title_keyword(title)]
    return " ".join(words)


def _content_words(text: str) -> set[str]:
    return {w.lower().rstrip("s") for w in re.findall(r"[A-Za-z]+", text) if w.lower() not in _STOPWORDS}


def replace_sentence(summary: str, new_sentence: str, description: str, attempt: int = 0) -> str:
    """Replace the (attempt+1)-th most similar non-first sentence by `new_sentence`.

    Similarity = shared content words (genre words count through their adjectives too); ties go
    to the later sentence. A one-sentence summary gets the new sentence appended instead, so the
    user's only sentence is not lost.
    """
    spans = sentence_spans(summary)
    if len(spans) < 2:
        body = summary.rstrip()
        return f"{body} {new_sentence}" if body else f"Summary: {new_sentence}"
    target = _content_words(description)
    candidates = sorted(range(1, len(spans)),
                        key=lambda i: (-len(target & _content_words(summary[spans[i][0]:spans[i][1]])), -i))
    chosen = candidates[attempt % len(candidates)]
    start, end = spans[chosen]
    return summary[:start] + new_sentence + summary[end:]

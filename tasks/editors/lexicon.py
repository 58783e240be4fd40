"""Genre words and sentiment cues of the offline editor.

A *concept* is a genre as people write about it ("sci-fi", "science fiction", "space opera"); it
maps onto whichever of its `aliases` the dataset's genre list contains. Only genres of the list
count. Every surface form carries a grammatical `form` (noun, plural, adj), used by the flip to
put the right word back, and a `weight` (how surely the word means the genre).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

NOUN, PLURAL, ADJ = "noun", "plural", "adj"


@dataclass(frozen=True)
class Concept:
    aliases: tuple[str, ...]  # dataset genre names (normalised) this concept stands for
    noun: str
    plural: str
    adj: str
    adj2: str  # a second adjective, for five-word item descriptions of single-genre items
    surfaces: tuple[tuple[str, str, float], ...] = field(default=())  # (text, form, weight)


def _c(aliases, noun, plural, adj, adj2, *surfaces) -> Concept:
    return Concept(tuple(aliases), noun, plural, adj, adj2, tuple(surfaces))


CONCEPTS: tuple[Concept, ...] = (
    _c(["action"], "action", "action", "action-packed", "explosive",
       ("action", NOUN, 1.0), ("action-packed", ADJ, 1.0), ("action packed", ADJ, 1.0)),
    _c(["adventure"], "adventure", "adventures", "adventurous", "epic",
       ("adventure", NOUN, 1.0), ("adventures", PLURAL, 1.0), ("adventurous", ADJ, 0.7)),
    _c(["animation", "anime"], "animation", "animated films", "animated", "colourful",
       ("animation", NOUN, 1.0), ("animations", PLURAL, 1.0), ("animated", ADJ, 1.0),
       ("cartoon", NOUN, 0.7), ("cartoons", PLURAL, 0.7)),
    _c(["children's", "children", "family", "kids"], "children's", "children's films", "family-friendly",
       "wholesome",
       ("children's", NOUN, 1.0), ("childrens", NOUN, 1.0), ("children's films", PLURAL, 1.0),
       ("children's movies", PLURAL, 1.0), ("family-friendly", ADJ, 1.0), ("family friendly", ADJ, 1.0),
       ("family films", PLURAL, 1.0), ("family movies", PLURAL, 1.0), ("family entertainment", NOUN, 1.0),
       ("family-oriented", ADJ, 0.8), ("kids", NOUN, 0.7), ("kid-friendly", ADJ, 0.8)),
    _c(["comedy", "humor"], "comedy", "comedies", "comedic", "funny",
       ("comedy", NOUN, 1.0), ("comedies", PLURAL, 1.0), ("comedic", ADJ, 0.8), ("humor", NOUN, 0.6),
       ("humour", NOUN, 0.6), ("humorous", ADJ, 0.6), ("funny", ADJ, 0.6), ("comedy-drama", NOUN, 0.5)),
    _c(["crime", "true crime"], "crime", "crime", "crime-ridden", "gritty",
       ("crime", NOUN, 1.0), ("criminal", ADJ, 0.6), ("heist", NOUN, 0.7), ("heists", PLURAL, 0.7),
       ("gangster", NOUN, 0.7), ("gangsters", PLURAL, 0.7), ("mafia", NOUN, 0.6)),
    _c(["documentary", "nonfiction", "non fiction"], "documentary", "documentaries", "documentary", "factual",
       ("documentary", NOUN, 1.0), ("documentaries", PLURAL, 1.0), ("docudrama", NOUN, 0.6)),
    _c(["drama"], "drama", "dramas", "dramatic", "emotional",
       ("drama", NOUN, 1.0), ("dramas", PLURAL, 1.0), ("dramatic", ADJ, 0.5)),
    _c(["fantasy"], "fantasy", "fantasy", "fantastical", "magical",
       ("fantasy", NOUN, 1.0), ("fantasies", PLURAL, 1.0), ("fantastical", ADJ, 0.8), ("magical", ADJ, 0.6),
       ("magic", NOUN, 0.5)),
    _c(["film noir", "noir"], "film noir", "films noirs", "noir", "shadowy",
       ("film noir", NOUN, 1.0), ("film-noir", NOUN, 1.0), ("films noirs", PLURAL, 1.0),
       ("film noirs", PLURAL, 1.0), ("noir", NOUN, 0.9), ("neo-noir", NOUN, 0.7)),
    _c(["horror"], "horror", "horror", "scary", "chilling",
       ("horror", NOUN, 1.0), ("horrors", PLURAL, 0.8), ("scary", ADJ, 0.7), ("slasher", NOUN, 0.7),
       ("slashers", PLURAL, 0.7)),
    _c(["musical", "music"], "musical", "musicals", "musical", "tuneful",
       ("musical", NOUN, 1.0), ("musicals", PLURAL, 1.0)),
    _c(["mystery"], "mystery", "mysteries", "mysterious", "puzzling",
       ("mystery", NOUN, 1.0), ("mysteries", PLURAL, 1.0), ("mysterious", ADJ, 0.5), ("whodunit", NOUN, 0.8),
       ("whodunits", PLURAL, 0.8), ("whodunnit", NOUN, 0.8)),
    _c(["romance"], "romance", "romances", "romantic", "heartfelt",
       ("romance", NOUN, 1.0), ("romances", PLURAL, 1.0), ("romantic", ADJ, 0.8), ("love stories", PLURAL, 0.8),
       ("love story", NOUN, 0.8), ("rom-com", NOUN, 0.6), ("rom-coms", PLURAL, 0.6)),
    _c(["sci fi", "science fiction", "scifi"], "sci-fi", "sci-fi", "sci-fi", "futuristic",
       ("sci-fi", NOUN, 1.0), ("sci fi", NOUN, 1.0), ("scifi", NOUN, 1.0), ("science fiction", NOUN, 1.0),
       ("science-fiction", NOUN, 1.0), ("space opera", NOUN, 0.8), ("space operas", PLURAL, 0.8),
       ("outer space", NOUN, 0.6), ("space", NOUN, 0.5), ("futuristic", ADJ, 0.5)),
    _c(["thriller", "suspense"], "thriller", "thrillers", "suspenseful", "tense",
       ("thriller", NOUN, 1.0), ("thrillers", PLURAL, 1.0), ("suspense", NOUN, 0.6), ("suspenseful", ADJ, 0.6)),
    _c(["war", "military"], "war", "war", "wartime", "gritty",
       ("war", NOUN, 1.0), ("wars", PLURAL, 0.8), ("wartime", ADJ, 1.0), ("war-time", ADJ, 1.0),
       ("war-centered", ADJ, 1.0), ("military", ADJ, 0.5)),
    _c(["western", "westerns"], "western", "westerns", "western", "dusty",
       ("western", NOUN, 1.0), ("westerns", PLURAL, 1.0), ("cowboy", NOUN, 0.7), ("cowboys", PLURAL, 0.7)),
    # Common book genres (goodbooks-style shelves).
    _c(["fiction"], "fiction", "fiction", "fictional", "literary", ("fiction", NOUN, 1.0), ("novels", PLURAL, 0.4)),
    _c(["historical fiction", "historical"], "historical fiction", "historical fiction", "historical", "period",
       ("historical fiction", NOUN, 1.0), ("historical novels", PLURAL, 0.9), ("historical", ADJ, 0.6)),
    _c(["young adult", "ya"], "young adult", "young adult books", "young-adult", "coming-of-age",
       ("young adult", NOUN, 1.0), ("young-adult", ADJ, 1.0), ("ya", NOUN, 0.8), ("teen", ADJ, 0.5)),
    _c(["classics", "classic"], "classics", "classics", "classic", "timeless",
       ("classics", PLURAL, 1.0), ("classic literature", NOUN, 1.0), ("classic", ADJ, 0.5)),
    _c(["nonfiction", "non fiction"], "non-fiction", "non-fiction", "non-fiction", "factual",
       ("nonfiction", NOUN, 1.0), ("non-fiction", NOUN, 1.0), ("non fiction", NOUN, 1.0)),
    _c(["biography", "memoir", "biographies"], "biography", "biographies", "biographical", "personal",
       ("biography", NOUN, 1.0), ("biographies", PLURAL, 1.0), ("biographical", ADJ, 1.0),
       ("memoir", NOUN, 0.8), ("memoirs", PLURAL, 0.8), ("autobiography", NOUN, 0.8)),
    _c(["history"], "history", "history books", "historical", "period", ("history", NOUN, 1.0)),
    _c(["paranormal", "supernatural"], "paranormal", "paranormal", "paranormal", "eerie",
       ("paranormal", ADJ, 1.0), ("supernatural", ADJ, 0.8), ("vampire", NOUN, 0.6), ("vampires", PLURAL, 0.6)),
    _c(["contemporary"], "contemporary", "contemporary", "contemporary", "modern", ("contemporary", ADJ, 1.0)),
    _c(["poetry"], "poetry", "poetry", "poetic", "lyrical", ("poetry", NOUN, 1.0), ("poems", PLURAL, 0.8),
       ("poetic", ADJ, 0.6)),
    _c(["graphic novels", "comics", "manga"], "graphic novels", "graphic novels", "illustrated", "graphic",
       ("graphic novel", NOUN, 1.0), ("graphic novels", PLURAL, 1.0), ("comics", PLURAL, 0.8), ("manga", NOUN, 0.8)),
    _c(["chick lit"], "chick lit", "chick lit", "chick-lit", "breezy", ("chick lit", NOUN, 1.0), ("chick-lit", NOUN, 1.0)),
    _c(["self help"], "self-help", "self-help books", "self-help", "motivational", ("self-help", NOUN, 1.0),
       ("self help", NOUN, 1.0)),
    _c(["philosophy"], "philosophy", "philosophy", "philosophical", "reflective", ("philosophy", NOUN, 1.0),
       ("philosophical", ADJ, 0.7)),
    _c(["religion", "christian", "spirituality"], "religion", "religious books", "religious", "spiritual",
       ("religion", NOUN, 1.0), ("religious", ADJ, 0.8), ("christian", ADJ, 0.8), ("spirituality", NOUN, 0.7)),
    _c(["psychology"], "psychology", "psychology", "psychological", "introspective", ("psychology", NOUN, 1.0)),
    _c(["science"], "science", "science", "scientific", "curious", ("popular science", NOUN, 1.0),
       ("science", NOUN, 0.8)),
    _c(["business"], "business", "business books", "business", "practical", ("business", NOUN, 1.0)),
    _c(["sports"], "sports", "sports", "sporting", "competitive", ("sports", NOUN, 1.0), ("sport", NOUN, 1.0)),
)

# Sentiment cues: (regex, polarity, weight). Negative cues are matched first, so "least favourite"
# or "dislikes" are never read as their positive substrings.
NEGATIVE_CUES: tuple[tuple[str, float], ...] = (
    (r"least favou?rite", 1.5), (r"dislik(?:e|es|ed|ing)", 1.5), (r"hat(?:e|es|ed)", 1.5),
    (r"avoid(?:s|ed|ing|ance)?", 1.2), (r"disfavou?r(?:s|ed|ing)?", 1.2), (r"steer(?:s|ed|ing)? clear",
    1.2), (r"sh(?:y|ies|ied|ying) away", 1.0), (r"lack (?:of )?(?:interest|enthusiasm|appreciation|appeal)", 1.0),
    (r"less (?:appreciated|enjoyed|enjoyable|favou?red|interested|inclined|appealing|engaged|impressed|keen|"
     r"receptive|liked|drawn|preferred|captivated|enthused|popular with)", 0.8),
    (r"(?:un|dis)interest(?:ed)?", 1.0), (r"avers(?:e|ion)", 1.0), (r"unappealing", 1.0), (r"distaste", 1.0),
    (r"rarely", 0.7), (r"seldom", 0.7), (r"miss(?:es)? the mark", 0.8), (r"falls? flat", 0.8),
    (r"turn(?:s|ed)? off|off-putting|put off", 0.8), (r"(?:tire[sd]?|weary) of", 0.8),
    (r"(?:do|does|did|are|is)(?: not|n't) (?:align|match|suit|rank highly|fit|sit well)", 1.0),
    (r"disappoint(?:ed|ing|s|ment)?", 0.8), (r"indifferen(?:t|ce)", 0.7), (r"bor(?:ed|ing)", 0.7),
    (r"critical of", 0.8), (r"not (?:a fan|for them|to (?:their|the user's|his|her) tast(?:e|es))", 1.2),
)
POSITIVE_CUES: tuple[tuple[str, float], ...] = (
    (r"lov(?:e|es|ed|ing)", 1.5), (r"ador(?:e|es|ed)", 1.5), (r"favou?rites?", 1.5),
    (r"enjoy(?:s|ed|ing|ment|able)?", 1.0), (r"likes|liked|(?:they|user|users|to|would|does|do) like",
    1.0), (r"appreciat(?:e|es|ed|ing|ion|ive)", 1.0), (r"prefer(?:s|red|ring|ence|ences)?", 1.0),
    (r"favou?r(?:s|ed|ing)?", 1.0), (r"drawn (?:to|towards?)", 1.0),
    (r"gravitat(?:e|es|ed|ing) (?:towards?|to)", 1.0), (r"penchant", 1.0), (r"fond(?:ness)? (?:of|for)", 1.0),
    (r"resonat(?:e|es|ed|ing)", 1.0), (r"affinity", 1.0), (r"inclination", 1.0), (r"inclined (?:to|towards?)", 0.8),
    (r"interest(?:ed|s)?", 0.7), (r"attracted to", 1.0), (r"keen on", 1.0), (r"fascinat(?:ed|es|ion|ing)",
    0.7), (r"receptive", 0.7), (r"admir(?:e|es|ed|ation)", 1.0), (r"relish(?:es)?", 1.0),
    (r"delight(?:s|ed)?", 1.0), (r"appeal(?:s|ing|ed)?", 0.7), (r"a fan of|fans? of", 1.0),
    (r"seek(?:s)? out", 0.7), (r"embrac(?:e|es|ed)", 0.7), (r"thrives? on", 0.7), (r"captivat(?:ed|es|ing)",
    0.7), (r"intrigu(?:ed|es|ing)", 0.5), (r"values?", 0.5), (r"passion(?:ate)? (?:for|about)", 1.2),
    (r"rat(?:es|ed) (?:highly|well)|highly rat(?:es|ed)", 0.8),
)
# A positive cue with one of these among the few words before it turns negative ("does not enjoy").
NEGATIONS = frozenset({"not", "n't", "never", "no", "nor", "hardly", "little", "less", "lacks", "lack",
                       "without", "neither", "barely", "scarcely", "seldom", "rarely"})
NEGATION_WINDOW = 3
# Clauses split on these; the flag says whether the marker signals a contrast.
CLAUSE_MARKERS = (
    (r";", False), (r":", False), (r"\bbut\b", True), (r"\bwhile\b", True), (r"\bwhilst\b", True),
    (r"\bwhereas\b", True), (r"\bhowever\b", True), (r"\bconversely\b", True), (r"\bon the other hand\b", True),
    (r"\bin contrast\b", True), (r"\bnevertheless\b", True), (r"\balthough\b", True), (r"\bthough\b", True),
    (r"\byet\b", True), (r"\bon the contrary\b", True),
)
# The fourth part of a TEARS summary lists what the user does NOT enjoy but others may: a mention
# there counts as (mildly) disliked whatever its cue says.
OTHERS = re.compile(
    r"\bother(?:s| (?:users|audiences|viewers|readers|people|fans|moviegoers))\b|\b(?:broader|wider|general|"
    r"mainstream) audiences?\b|\bsome (?:viewers|readers|audiences|people)\b|\bmany (?:viewers|readers|people)\b",
    re.IGNORECASE)
OTHERS_WEIGHT = 0.5


def normalise(text: str) -> str:
    """Genre-name normalisation of protocol section 2 (lower case, '-'/'_' -> space)."""
    return " ".join(text.strip().lower().replace("\u2019", "'").replace("-", " ").replace("_", " ").split())


@dataclass(frozen=True)
class GenreForms:
    noun: str
    plural: str
    adj: str
    adj2: str

    def get(self, form: str) -> str:
        return {NOUN: self.noun, PLURAL: self.plural, ADJ: self.adj}[form]


@dataclass(frozen=True)
class Lexicon:
    """The lexicon bound to one genre list: one regex over every surface form, longest first."""

    genres: tuple[str, ...]
    pattern: re.Pattern
    surface_of: dict  # lower-case surface text -> (genre, form, weight)
    forms: dict  # genre -> GenreForms

    def mentions(self, text: str) -> list[tuple[int, int, str, str, float]]:
        """(start, end, genre, form, weight) of every genre word in `text`, left to right."""
        out = []
        for match in self.pattern.finditer(text):
            key = match.group(0).lower().replace("\u2019", "'")
            genre, form, weight = self.surface_of[key]
            if genre is not None:
                out.append((match.start(), match.end(), genre, form, weight))
        return out


def _auto_surfaces(genre: str) -> list[tuple[str, str, float]]:
    """The genre's own name in the spellings summaries use ("sci fi", "sci-fi", "westerns")."""
    spaced, hyphened = genre, genre.replace(" ", "-")
    forms = {(spaced, NOUN), (hyphened, NOUN), (genre.replace(" ", ""), NOUN)}
    if not genre.endswith("s") and not genre.endswith("'"):
        forms |= {(spaced + "s", PLURAL), (hyphened + "s", PLURAL)}
    return [(text, form, 1.0) for text, form in forms]


@lru_cache(maxsize=32)
def lexicon_for(genres: tuple[str, ...]) -> Lexicon:
    genres = tuple(normalise(g) for g in genres)
    in_list = set(genres)
    surface_of: dict[str, tuple[str, str, float]] = {}
    forms: dict[str, GenreForms] = {}
    # The list's own names come first: a dataset genre "suspense" keeps the word "suspense".
    for genre in genres:
        for text, form, weight in _auto_surfaces(genre):
            surface_of.setdefault(text, (genre, form, weight))
    for concept in CONCEPTS:
        genre = next((a for a in concept.aliases if a in in_list), None)
        if genre is None:
            continue
        forms.setdefault(genre, GenreForms(concept.noun, concept.plural, concept.adj, concept.adj2))
        for text, form, weight in concept.surfaces:
            surface_of.setdefault(text.lower(), (genre, form, weight))
    for genre in genres:
        forms.setdefault(genre, GenreForms(genre, genre, genre.replace(" ", "-"), "engaging"))
    # Words of genres outside the list are matched but ignored, so that "fiction" inside
    # "science fiction" is not read as the genre "fiction" when only the latter is listed.
    for concept in CONCEPTS:
        for text, form, weight in concept.surfaces:
            surface_of.setdefault(text.lower(), (None, form, weight))
    alternatives = sorted(surface_of, key=lambda s: (-len(s), s))
    body = "|".join(re.escape(s).replace("'", "['\u2019]") for s in alternatives)
    # Letters (and hyphen-joined letters) must not continue a match: "drama" is not in "melodrama".
    pattern = re.compile(rf"(?<![\w])(?:{body})(?![\w])", re.IGNORECASE) if body else re.compile(r"(?!x)x")
    return Lexicon(genres, pattern, surface_of, forms)


def concept_forms(genre: str) -> GenreForms:
    """Words for a genre whether or not it is in a list (for item descriptions)."""
    genre = normalise(genre)
    for concept in CONCEPTS:
        if genre in concept.aliases:
            return GenreForms(concept.noun, concept.plural, concept.adj, concept.adj2)
    return GenreForms(genre, genre, genre.replace(" ", "-"), "engaging")


def _compile(cues) -> tuple[re.Pattern, tuple[float, ...]]:
    """One alternation of all cues; the group that matched (c0, c1, ...) gives the cue's weight."""
    body = "|".join(f"(?P<c{i}>{rx})" for i, (rx, _) in enumerate(cues))
    return re.compile(rf"\b(?:{body})\b", re.IGNORECASE), tuple(weight for _, weight in cues)


NEGATIVE_PATTERNS = _compile(NEGATIVE_CUES)
POSITIVE_PATTERNS = _compile(POSITIVE_CUES)
MARKER_PATTERN = re.compile("|".join(f"(?P<m{i}>{rx})" for i, (rx, _) in enumerate(CLAUSE_MARKERS)),
                            re.IGNORECASE)
CONTRAST = [contrast for _, contrast in CLAUSE_MARKERS]

"""The summarization prompt of protocol.md section 3, versioned.

The summarizer sees the user's summary set, most recent first, one item per block (title,
rating, genres; books: title, rating, authors). On positives-only data every item is a like and
there are no ratings to show, so blocks carry no rating and the instruction says so.
Any change to the wording must bump PROMPT_VERSION: it is recorded with every summary and is part
of the summary store's key.
"""
from __future__ import annotations

import numpy as np

from tears_bench.llm.base import Message
from tears_bench.llm.pricing import estimate_tokens  # noqa: F401  (the one token estimate, used by the plan)

PROMPT_VERSION = "tears-summary-v1"

_SYSTEM = (
    "You are an expert at describing a person's taste in {items}. You will be given the {items} a "
    "user has {rated}, most recent first, each with its title{fields}. Write a detailed summary of "
    "the user's preferences in about 200 words, describing the broad common elements of the {items} "
    "they enjoyed and of those they did not enjoy. Do not mention any titles, {people}, release years "
    "or ratings; use qualitative language such as \"the user enjoys ...\" and \"the user does not "
    "enjoy ...\". Cover four parts, as continuous prose: (1) the genres the user enjoys; (2) the plot "
    "points and themes the user enjoys; (3) the genres the user does not enjoy; (4) the plot points "
    "and themes the user does not enjoy but that other people may like. {likes_only}Begin your answer "
    "with \"Summary:\"."
)
_LIKES_ONLY = ("Every {item} listed is one the user liked (there are no ratings): infer what they do not "
               "enjoy from what is missing or rare in their choices. ")


def positives_only(split) -> bool:
    """True when the data carries no ratings (every rating is a like)."""
    stats = getattr(split, "dataset_stats", None) or {}
    if "has_ratings" in stats:
        return not stats["has_ratings"]
    return bool(len(split.summary_ratings)) and bool(np.all(split.summary_ratings == 5))


def system_instruction(kind: str, likes_only: bool = False) -> str:
    books = kind == "books"
    items, item = ("books", "book") if books else ("movies", "movie")
    return _SYSTEM.format(
        items=items,
        rated="liked" if likes_only else "rated",
        fields=(" and" if likes_only else ", the user's rating from 1 to 5 and") + (" its authors" if books else " its genres"),
        people="authors" if books else "actors, directors",
        likes_only=_LIKES_ONLY.format(item=item) if likes_only else "",
    )


def _rating(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def item_block(split, item: int, rating: float, likes_only: bool) -> str:
    catalog = split.catalog
    lines = [f"Title: {catalog.titles[item]}"]
    if not likes_only:
        lines.append(f"Rating: {_rating(rating)}")
    if split.kind == "books":
        authors = catalog.authors[item] if catalog.authors else ""
        lines.append(f"Authors: {authors or 'unknown'}")
    else:
        lines.append(f"Genres: {', '.join(catalog.genres[item]) or 'unknown'}")
    return "\n".join(lines)


def summary_messages(split, user: int, likes_only: bool | None = None) -> list[Message]:
    """The two messages (system, user) that ask for user `user`'s summary."""
    likes_only = positives_only(split) if likes_only is None else likes_only
    items = "books" if split.kind == "books" else "movies"
    pairs = split.summary_set(user)[::-1]  # most recent first
    blocks = "\n\n".join(item_block(split, item, rating, likes_only) for item, rating in pairs)
    verb = "liked" if likes_only else "rated"
    return [Message("system", system_instruction(split.kind, likes_only)),
            Message("user", f"Here are the {items} the user {verb}, most recent first:\n\n{blocks}")]

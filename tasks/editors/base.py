"""What every editor (the simulated user of protocol section 7) can do.

Four operations, each with a batch form that the tasks call (LLM editors send a batch as one
`complete_many` call):

- find_genres(summary, genre_list) -> (favourite, least_favourite) | None
- flip(summary, favourite, least) -> the summary with the two genres' roles swapped
- describe_item(title, genres, kind) -> five words of plot/themes
- insert_sentence(summary, five_words) -> the summary with one sentence replaced by a new one

The batch forms return `Skip(reason)` (falsy) instead of None, so the tasks can count why users
were skipped. `attempt` (0, 1, 2) selects one of the rank task's independent attempts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

NO_SUMMARY = "no summary"
NOT_FOUND = "editor could not find two genres"
OUTSIDE_LIST = "editor named a genre outside the list"
SAME_GENRE = "editor named the same genre twice"
NO_TEXT = "editor returned no text"

GenrePair = tuple[str, str]


@dataclass(frozen=True)
class Skip:
    """Why an editor produced nothing for one user; falsy, so `if result:` reads naturally."""

    reason: str
    raw: str | None = None  # the editor's raw answer, for the per-user log

    def __bool__(self) -> bool:
        return False


class Editor:
    """Subclasses override either the single or the batch form of each operation."""

    name: str = ""
    spec: str = ""
    deterministic: bool = True

    # --- single forms ---------------------------------------------------------------------
    def find_genres(self, summary: str, genre_list: Sequence[str]) -> GenrePair | None:
        result = self.find_genres_many([summary], genre_list)[0]
        return result or None

    def flip(self, summary: str, favourite: str, least: str) -> str:
        return _text_or_raise(self.flip_many([summary], [(favourite, least)])[0])

    def describe_item(self, title: str, genres: Sequence[str], kind: str = "movies", attempt: int = 0) -> str:
        return _text_or_raise(self.describe_item_many([title], [genres], kind, attempt)[0])

    def insert_sentence(self, summary: str, five_words: str, attempt: int = 0, kind: str = "movies") -> str:
        return _text_or_raise(self.insert_sentence_many([summary], [five_words], attempt, kind)[0])

    # --- batch forms ----------------------------------------------------------------------
    def find_genres_many(self, summaries: Sequence[str], genre_list: Sequence[str]) -> list[GenrePair | Skip]:
        return [self.find_genres(s, genre_list) or Skip(NOT_FOUND) for s in summaries]

    def flip_many(self, summaries: Sequence[str], pairs: Sequence[GenrePair]) -> list[str | Skip]:
        return [self.flip(s, fav, least) for s, (fav, least) in zip(summaries, pairs, strict=True)]

    def describe_item_many(self, titles: Sequence[str], genres: Sequence[Sequence[str]], kind: str = "movies",
                           attempt: int = 0) -> list[str | Skip]:
        return [self.describe_item(t, g, kind, attempt) for t, g in zip(titles, genres, strict=True)]

    def insert_sentence_many(self, summaries: Sequence[str], descriptions: Sequence[str],
                             attempt: int = 0, kind: str = "movies") -> list[str | Skip]:
        return [self.insert_sentence(s, d, attempt, kind) for s, d in zip(summaries, descriptions, strict=True)]

    def describe(self) -> dict:
        """What a result records about the editor."""
        return {"name": self.name, "spec": self.spec, "deterministic": self.deterministic}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"


def _text_or_raise(result: str | Skip) -> str:
    if isinstance(result, Skip):
        from tears_bench.errors import TearsBenchError

        raise TearsBenchError(f"the editor produced no text: {result.reason}")
    return result

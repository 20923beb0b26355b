"""What a reviewer checks first in a written dialogue, as rules that need no model (benchmarks/writer_quality.py):

- role error: a recommender turn asks for a recommendation ("can you recommend ...", "any suggestions?"), or a
  seeker turn recommends ("you should watch X", "I recommend X");
- self-contradiction: a recommender says they have not seen the target in or after the turn that recommends it;
- repetition: the same turn text (case and spacing aside) twice in one dialogue;
- wrong year: the target's title written with a year that is not the catalog's ("The Dark Knight Rises (1993)");
- the request: the seeker turns before the recommender first names the target, read for genre words and the
  target's people (director, cast): `agrees` when they name one of the target's genres or people, `contradicts`
  when they ask for genres the target does not have and none it has, `silent` otherwise.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from db.queries.candidates import names_title
from db.types import Turn

GENRE_WORDS: dict[str, tuple[str, ...]] = {
    "comedy": ("comedy", "comedies", "funny", "hilarious", "laugh"),
    "horror": ("horror", "scary", "creepy", "frightening", "slasher"),
    "romance": ("romance", "romantic", "rom-com", "romcom", "love story", "chick flick"),
    "action": ("action",),
    "drama": ("drama", "dramas", "dramatic"),
    "thriller": ("thriller", "thrillers", "suspense"),
    "science fiction": ("sci-fi", "sci fi", "scifi", "science fiction"),
    "animation": ("animated", "animation", "cartoon", "pixar"),
    "family": ("family", "kids", "children"),
    "documentary": ("documentary", "documentaries"),
    "fantasy": ("fantasy",),
    "crime": ("crime", "heist", "gangster", "mafia"),
    "mystery": ("mystery", "mysteries", "whodunit"),
    "war": ("war movie", "war film", "war movies"),
    "western": ("western", "westerns", "cowboy"),
    "musical": ("musical", "musicals"),
    "adventure": ("adventure", "adventures"),
    "superhero": ("superhero", "superheroes", "marvel"),
}
ASKS = re.compile(r"\b(can|could) you (recommend|suggest)|\bany (good )?(suggestions|recommendations)\b|"
                  r"\bwhat should i (watch|see)\b|\bi('m| am) looking for (a|an|some) (good )?(movie|film)",
                  re.IGNORECASE)
RECOMMENDS = re.compile(r"\byou should (watch|see|check out)\b|\bi (would )?recommend\b|\bi suggest\b", re.IGNORECASE)
NOT_SEEN = re.compile(r"\b(haven'?t|have not|never|didn'?t|did not) (seen|watched|see|watch)\b", re.IGNORECASE)


def genres_of(genres: Iterable[str]) -> set[str]:
    """Catalog genre labels ("comedy film", "Sci-Fi", "romantic comedy") -> GENRE_WORDS keys."""
    found = set()
    for label in genres:
        text = label.lower()
        for key, words in GENRE_WORDS.items():
            if key in text or any(word in text for word in words):
                found.add(key)
    return found


def people_of(meta: Mapping[str, Any]) -> list[str]:
    """Director and cast names from ReDial's (director, star) or INSPIRED's (directors, casts) metadata."""
    names: list[str] = []
    for field in ("director", "directors", "star", "stars", "casts", "actors"):
        value = meta.get(field) or []
        names += [str(v) for v in (value if isinstance(value, list) else [value]) if v]
    return names


def request_text(turns: Sequence[Turn], title: str) -> str:
    """The seeker turns before a recommender first names the target."""
    words = []
    for turn in turns:
        if turn.role == "recommender" and names_title(turn.text, title):
            break
        if turn.role == "seeker":
            words.append(turn.text)
    return " ".join(words).lower()


def _mentions(text: str, word: str) -> bool:
    return re.search(rf"\b{re.escape(word)}\b", text) is not None


def request_agreement(turns: Sequence[Turn], title: str, genres: Iterable[str], people: Sequence[str]) -> str:
    """agrees / contradicts / silent (module docstring)."""
    text = request_text(turns, title)
    asked = {key for key, words in GENRE_WORDS.items() if any(_mentions(text, w) for w in words)}
    own = genres_of(genres)
    names_person = any(_mentions(text, part.lower()) for person in people for part in (person, person.split()[-1])
                       if len(part) > 3)
    if asked & own or names_person:
        return "agrees"
    return "contradicts" if asked else "silent"


def role_error(turns: Sequence[Turn]) -> bool:
    return any((t.role == "recommender" and ASKS.search(t.text)) or (t.role == "seeker" and RECOMMENDS.search(t.text))
               for t in turns)


def self_contradiction(turns: Sequence[Turn], title: str) -> bool:
    """A recommender says they have not seen the target in or after the turn where they name it."""
    named = False
    for turn in turns:
        if turn.role != "recommender":
            continue
        named = named or names_title(turn.text, title)
        if named and NOT_SEEN.search(turn.text) and names_title(turn.text, title):
            return True
    return False


def repeats(turns: Sequence[Turn]) -> bool:
    seen = set()
    for turn in turns:
        key = " ".join(turn.text.lower().split())
        if key and key in seen:
            return True
        seen.add(key)
    return False


def wrong_year(turns: Sequence[Turn], title: str, year: int | None) -> bool:
    """The target's title followed by a year in parentheses that is not its own."""
    if year is None:
        return False
    short = re.escape(title.rsplit(" (", 1)[0].lower())
    return any(int(found) != year for t in turns for found in re.findall(rf"{short}\s*\((\d{{4}})\)", t.text.lower()))

"""UniCRS's processing of responses before scoring them: movie titles masked as `<movie>`, consecutive messages of
one sender merged into one turn (`unicrs_response_rows`, read for `lumicrs evaluate-responses --unicrs`).

UniCRS replaces every movie mention by the token `<movie>` in references and in its model's output, so n-gram
scores do not reward copying a title. Our texts carry titles, so the mask finds them: ReDial's `@<id>` placeholders,
every catalog title with its year ("Alien (1979)"), and the bare title (without the year) where it has at least
two words ("Full Metal Jacket"; one-word titles like "Up" or "It" are ordinary words) or is a movie the turn itself
mentions (`known`). Matching is case-insensitive, on word boundaries, longest title first.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Conversation, Mention, Movie, Response, Utterance
from db.queries.corpus import movie_titles, resolve_mentions

MASK = "<movie>"
MENTION_RE = re.compile(r"@\d+")
WORD_RE = re.compile(r"\w+")


def bare_title(title: str) -> str:
    return re.sub(r"\s*\(\d{4}\)\s*$", "", title).strip()


def _first_word(variant: str) -> str | None:
    words = WORD_RE.findall(variant.lower())
    return words[0] if words else None


def _index(variants: Iterable[str]) -> dict[str, list[str]]:
    """Lowercased variants by their first word, longest first (so the longest title wins)."""
    index: dict[str, list[str]] = {}
    for variant in variants:
        first = _first_word(variant)
        if first is not None:
            index.setdefault(first, []).append(variant.lower())
    for candidates in index.values():
        candidates.sort(key=len, reverse=True)
    return index


class TitleMasker:
    """Built once per catalog; `mask` costs one dictionary lookup per word of the text."""

    def __init__(self, titles: Iterable[str]) -> None:
        variants = []
        for title in titles:
            variants.append(title)
            bare = bare_title(title)
            if len(WORD_RE.findall(bare)) >= 2:
                variants.append(bare)
        self._by_first_word = _index(variants)

    def mask(self, text: str, known: Iterable[str] = ()) -> str:
        text = MENTION_RE.sub(MASK, text)
        extra = _index(variant for title in known for variant in (title, bare_title(title)))
        lower = text.lower()
        pieces: list[str] = []
        done = 0
        for word in WORD_RE.finditer(lower):
            start = word.start()
            if start < done:
                continue
            candidates = self._by_first_word.get(word.group(), [])
            if word.group() in extra:
                candidates = sorted(candidates + extra[word.group()], key=len, reverse=True)
            for variant in candidates:
                end = start + len(variant)
                if lower.startswith(variant, start) and (end == len(lower) or not (lower[end].isalnum() or
                                                                                   lower[end] == "_")):
                    pieces.append(text[done:start] + MASK)
                    done = end
                    break
        return "".join(pieces) + text[done:]


def unicrs_response_rows(session: Session, system: str) -> list[tuple[int, str, str]]:
    """`response_rows` under UniCRS's processing: consecutive messages of one sender merged into one turn (the
    reference is the whole merged recommender turn; only responses at a merged turn's first message count, one per
    merged turn) and movie titles masked as `<movie>` in both texts (TitleMasker above)."""
    rows = session.execute(select(Response.conversation_id, Response.turn_position, Response.text,
                                  Conversation.dataset_id)
                           .join(Conversation, Conversation.id == Response.conversation_id)
                           .where(Response.system == system).order_by(Response.id)).all()
    conversations = {c for c, _, _, _ in rows}
    utterances: dict[int, dict[int, Utterance]] = {}  # conversation -> position -> utterance
    for u in session.scalars(select(Utterance).where(Utterance.conversation_id.in_(conversations))):
        utterances.setdefault(u.conversation_id, {})[u.position] = u
    mentioned: dict[int, set[int]] = {}
    for utterance_id, movie_id in session.execute(
            select(Mention.utterance_id, Mention.movie_id).join(Utterance, Utterance.id == Mention.utterance_id)
            .where(Utterance.conversation_id.in_(conversations))):
        mentioned.setdefault(utterance_id, set()).add(movie_id)
    maskers: dict[int, tuple[TitleMasker, dict[str, str], dict[int, str]]] = {}
    out: list[tuple[int, str, str]] = []
    for conversation_id, position, text, dataset_id in rows:
        if dataset_id not in maskers:
            catalog = dict(session.execute(select(Movie.id, Movie.title).where(Movie.dataset_id == dataset_id)).all())
            maskers[dataset_id] = (TitleMasker(catalog.values()), movie_titles(session, dataset_id), catalog)
        masker, by_external, by_id = maskers[dataset_id]
        turns = utterances[conversation_id]
        if position - 1 in turns and turns[position - 1].role == "recommender":
            continue  # not the first message of its merged turn
        run = []
        while position in turns and turns[position].role == "recommender":
            run.append(turns[position])
            position += 1
        known = [by_id[m] for u in run for m in mentioned.get(u.id, ()) if m in by_id]
        reference = " ".join(resolve_mentions(u.text, by_external) for u in run)
        out.append((conversation_id, masker.mask(resolve_mentions(text, by_external)), masker.mask(reference, known)))
    return out

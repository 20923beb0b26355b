"""Movie titles masked as `<movie>`, the way UniCRS processes ReDial and INSPIRED before scoring responses.

UniCRS replaces every movie mention by the token `<movie>` in references and in its model's output, so n-gram
scores do not reward copying a title. Our texts carry titles, so the mask finds them: ReDial's `@<id>` placeholders,
every catalog title with its year ("Alien (1979)"), and the bare title (without the year) where it has at least
two words ("Full Metal Jacket"; one-word titles like "Up" or "It" are ordinary words) or is a movie the turn itself
mentions (`known`). Matching is case-insensitive, on word boundaries, longest title first.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

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

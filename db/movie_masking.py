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


class TitleMasker:
    """Built once per catalog; `mask` costs one dictionary lookup per word of the text."""

    def __init__(self, titles: Iterable[str]) -> None:
        self._by_first_word: dict[str, list[str]] = {}
        for title in titles:
            self._add(title)
            bare = bare_title(title)
            if len(WORD_RE.findall(bare)) >= 2:
                self._add(bare)

    def _add(self, variant: str) -> None:
        words = WORD_RE.findall(variant.lower())
        if words:
            self._by_first_word.setdefault(words[0], []).append(variant.lower())
            self._by_first_word[words[0]].sort(key=len, reverse=True)

    def mask(self, text: str, known: Iterable[str] = ()) -> str:
        text = MENTION_RE.sub(MASK, text)
        extra = TitleMasker(())
        for title in known:
            extra._add(title)
            extra._add(bare_title(title))
        lower = text.lower()
        pieces: list[str] = []
        done = 0
        for word in WORD_RE.finditer(lower):
            start = word.start()
            if start < done:
                continue
            candidates = self._by_first_word.get(word.group(), []) + extra._by_first_word.get(word.group(), [])
            for variant in sorted(candidates, key=len, reverse=True):
                end = start + len(variant)
                if lower.startswith(variant, start) and (end == len(lower) or not (lower[end].isalnum() or
                                                                                   lower[end] == "_")):
                    pieces.append(text[done:start] + MASK)
                    done = end
                    break
        return "".join(pieces) + text[done:]

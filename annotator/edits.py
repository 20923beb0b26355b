"""A reviewer's edited dialogue as text, parsed strictly so nothing unparsed is ever stored.

- A turn starts at the beginning of a line with exactly `Seeker:` or `Recommender:` (any case, spaces allowed
  before the ASCII colon; one space after it is the separator).
- Lines below a turn continue it. An indented line always continues (that is how `format_turns` writes the second
  and later lines of a multi-line turn, so a line of text that itself begins with "Seeker:" stays text).
- An unindented line that looks like a speaker label but is not exactly one of ours is refused with its line
  number, never merged into the turn above: a mistyped or abbreviated name (`Recommnder:`, `Recmndr:`, `Rec.:`),
  another separator (`Recommender;`, `Recommender -`, a full-width colon), no separator (`Recommender Have you...`),
  a number (`Recommender 2:`), list or quote marks before it (`- Recommender:`, `1. Recommender:`, `"Recommender:`,
  `> Recommender:`, `**Recommender:**`, an invisible character such as a zero-width space), or a foreign speaker
  (`User:`, `Assistant:` ...).
- Blank lines between turns are ignored; a blank line inside a turn is written indented and kept.
`parse_edited(format_turns(turns)) == turns` for every list of turns whose texts have no surrounding whitespace and
no line break other than a line feed (others become line feeds, as in a browser's text box).
"""
from __future__ import annotations

import re

OURS = re.compile(r"^(seeker|recommender)[ \t]*:[ \t]?(.*)$", re.IGNORECASE)
LABELS = ("seeker", "recommender")
INDENT = "  "
# what may stand before a label: list bullets and numbers, quote marks, Markdown emphasis and headings
DECORATION = re.compile(r"^(?:[\s*_>#\[(\-–—•·\"'“”‘’«»`\u200b-\u200f\u2060-\u2064\ufeff]+|\d+[.)]\s*)+")
# a name (one or two words), an optional number, closing marks, then a separator, the end of the line, or more text
NAMED = re.compile(r"^(?P<name>[^\W\d_][^\W\d_'’]*(?:['’][^\W\d_]+)?(?: [^\W\d_]+)?)(?P<number>\s*\d+)?[*_\])\s]*"
                   r"(?P<sep>[:：;,=|>.]|[-–—]+)?")
FOREIGN_SPEAKERS = {"user", "assistant", "system", "human", "ai", "bot", "agent", "customer", "client", "speaker",
                    "usr", "sys", "a", "b", "q", "s", "r", "user a", "user b", "speaker a", "speaker b",
                    "person a", "person b", "narrator", "host", "guest", "me", "you"}


class EditError(ValueError):
    """The edited dialogue has a line that belongs to no turn, a foreign or mistyped label, or an empty turn."""


def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def abbreviates(name: str, label: str) -> bool:
    """'rec', 'recmndr', 'seek', 'skr': the label's first letter, then some of its letters in order."""
    if len(name) < 2 or name[0] != label[0]:
        return False
    rest = iter(label[1:])
    return all(char in rest for char in name[1:])


def near_ours(name: str) -> bool:
    letters = re.sub(r"[^a-z]", "", name.lower())
    return any(edit_distance(letters, label) <= 2 or abbreviates(letters, label) for label in LABELS)


def foreign_label(line: str) -> str | None:
    """The label-like opening of an unindented line that is not exactly one of ours, or None (the line is text).

    Our names (seeker, recommender) in any other form are refused whatever follows them; a name one or two edits
    from ours, or an abbreviation of ours, is refused when a separator or the end of the line follows it; a foreign
    speaker (User, Assistant, A, Q ...) when a separator follows it. A one-letter word before a full stop is text
    ('S. Spielberg')."""
    decoration = DECORATION.match(line)
    start = decoration.end() if decoration else 0
    match = NAMED.match(line[start:])
    if match is None:
        return None
    name = match.group("name").lower()
    first = name.split(" ")[0]
    sep = match.group("sep")
    at_end = not line[start + match.end():].strip()
    opening = line[:start + match.end()].strip()
    if first in LABELS:
        return opening
    if sep == ".":
        return opening if near_ours(first) else None
    if sep is None and not at_end:
        return None  # a name followed by more words: an ordinary sentence
    if near_ours(first) or (sep is not None and (name in FOREIGN_SPEAKERS or first in FOREIGN_SPEAKERS)):
        return opening
    return None


def check_line(line: str) -> str | None:
    """Why an unindented line that is not one of our labels cannot be placed, or None when it is text."""
    label = foreign_label(line)
    if label is None:
        return None
    return (f"{label[:30]!r} is not a speaker label: start the turn with 'Seeker:' or 'Recommender:' (or indent the "
            "line to keep it as text of the turn above)")


def parse_edited(text: str) -> list[dict[str, str]]:
    """'Seeker: ...' / 'Recommender: ...' turns; continuation lines join their turn with a newline."""
    turns: list[dict[str, str]] = []
    lines: list[list[str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        indented = line[:1].isspace() and bool(turns)  # before the first turn, indentation means nothing
        ours = None if indented else OURS.match(line.lstrip())
        if ours:
            turns.append({"role": ours.group(1).lower(), "line": str(number)})
            lines.append([ours.group(2)])
        elif indented:
            lines[-1].append(line[len(INDENT):] if line.startswith(INDENT) else line.strip())
        elif not line.strip():
            continue
        elif (problem := check_line(line.lstrip())) is not None:
            raise EditError(f"line {number}: {problem}")
        elif not turns:
            raise EditError(f"line {number}: {line.strip()[:40]!r} has no 'Seeker:' or 'Recommender:' before it")
        else:
            lines[-1].append(line.strip())
    if not turns:
        raise EditError("the edited dialogue is empty: write one 'Seeker: ...' / 'Recommender: ...' line per turn")
    out = []
    for turn, body in zip(turns, lines, strict=True):
        text_ = "\n".join(body).strip()
        if not text_:
            raise EditError(f"line {turn['line']}: the {turn['role']} turn has no text")
        out.append({"role": turn["role"], "text": text_})
    return out


def format_turns(turns: list[dict[str, str]]) -> str:
    """The inverse of parse_edited: what the edit box starts with (later lines of a turn indented; every kind of
    line break becomes a line feed, as a browser's text box makes it anyway)."""
    return "\n".join(f"{t['role'].capitalize()}: " + ("\n" + INDENT).join(t["text"].splitlines() or [""])
                     for t in turns)


def same_dialogue(a: list[dict[str, str]], b: list[dict[str, str]]) -> bool:
    """Equal turns, line breaks of any kind counted alike (what `format_turns` then `parse_edited` keeps)."""
    return [(t["role"], normalise_breaks(t["text"])) for t in a] == [(t["role"], normalise_breaks(t["text"])) for t in b]


def normalise_breaks(text: str) -> str:
    return "\n".join(text.splitlines())

"""A reviewer's edited dialogue as text, parsed strictly so nothing unparsed is ever stored.

- A turn starts at the beginning of a line with `Seeker:` or `Recommender:` (any case, spaces allowed before the
  colon; one space after it is the separator).
- Lines below a turn continue it. An indented line always continues (that is how `format_turns` writes the second
  and later lines of a multi-line turn, so a line of text that itself begins with "Seeker:" stays text).
- A line at the start that looks like a speaker label but is not ours (`Recommnder:`, `Recommender - ...`,
  `**Recommender:**`, `User:`, `Assistant:` ...) is refused with its line number, never merged into the turn above.
- Blank lines between turns are ignored; a blank line inside a turn is written indented and kept.
`parse_edited(format_turns(turns)) == turns` for every list of turns whose texts have no surrounding whitespace.
"""
from __future__ import annotations

import re

OURS = re.compile(r"^(seeker|recommender)[ \t]*:[ \t]?(.*)$", re.IGNORECASE)
INDENT = "  "
# a line that opens like a speaker label: optional markdown/quote marks, a short name, optional marks, then ':' or a
# dash or '>' after it
LABEL_LIKE = re.compile(r"^[\s*_>#\[(]*(?P<name>[A-Za-z][A-Za-z.']*(?: [A-Za-z.']+)?)[\s*_\])]*(?::|\s*[-–—>]+\s)")
FOREIGN_SPEAKERS = {"user", "assistant", "system", "human", "ai", "bot", "agent", "customer", "client", "speaker",
                    "usr", "sys", "rec", "a", "b", "q", "s", "r", "seeker", "recommender", "user a", "user b",
                    "speaker a", "speaker b", "person a", "person b"}


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


def foreign_label(line: str) -> str | None:
    """The label-like opening of a line that is not one of ours, or None."""
    match = LABEL_LIKE.match(line)
    if match is None:
        return None
    name = match.group("name").lower()
    near_ours = min(edit_distance(name, "seeker"), edit_distance(name, "recommender")) <= 2
    return match.group(0).strip() if name in FOREIGN_SPEAKERS or near_ours else None


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
        elif (label := foreign_label(line)) is not None:
            raise EditError(f"line {number}: {label[:30]!r} is not a speaker label: start the turn with 'Seeker:' or "
                            "'Recommender:' (or indent the line to keep it as text of the turn above)")
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
    """The inverse of parse_edited: what the edit box starts with (later lines of a turn indented)."""
    return "\n".join(f"{t['role'].capitalize()}: " + t["text"].replace("\n", "\n" + INDENT) for t in turns)

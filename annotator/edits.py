"""A reviewer's edited dialogue as text: one turn starts with 'Seeker:' or 'Recommender:'; the lines below it,
until the next prefix, continue that turn (multi-line turns keep every line). Anything that cannot be placed is an
error naming its line; nothing unparsed is ever stored."""
from __future__ import annotations

import re

PREFIX = re.compile(r"^\s*(seeker|recommender)\s*:\s?(.*)$", re.IGNORECASE)


class EditError(ValueError):
    """The edited dialogue has a line that belongs to no turn, or a turn with no text."""


def parse_edited(text: str) -> list[dict[str, str]]:
    """'Seeker: ...' / 'Recommender: ...' turns; continuation lines join their turn with a newline."""
    turns: list[dict[str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = PREFIX.match(line)
        if match:
            turns.append({"role": match.group(1).lower(), "text": match.group(2).strip(), "line": str(number)})
        elif not line.strip():
            continue
        elif not turns:
            raise EditError(f"line {number}: {line.strip()[:40]!r} has no 'Seeker:' or 'Recommender:' before it")
        else:
            turns[-1]["text"] = f"{turns[-1]['text']}\n{line.strip()}".strip()
    if not turns:
        raise EditError("the edited dialogue is empty: write one 'Seeker: ...' / 'Recommender: ...' line per turn")
    for turn in turns:
        if not turn["text"]:
            raise EditError(f"line {turn['line']}: the {turn['role']} turn has no text")
    return [{"role": t["role"], "text": t["text"]} for t in turns]


def format_turns(turns: list[dict[str, str]]) -> str:
    """The inverse of parse_edited: what the edit box starts with."""
    return "\n".join(f"{t['role'].capitalize()}: {t['text']}" for t in turns)

"""The edited-dialogue parser: every line is placed in a turn, or the edit is refused naming the line."""
from __future__ import annotations

import pytest

from annotator.edits import EditError, format_turns, parse_edited


def test_turns_and_multi_line_turns() -> None:
    text = "Seeker: any scary film?\nRecommender: Tail Film (2011).\nIt is great.\n\nseeker:thanks"
    assert parse_edited(text) == [{"role": "seeker", "text": "any scary film?"},
                                  {"role": "recommender", "text": "Tail Film (2011).\nIt is great."},
                                  {"role": "seeker", "text": "thanks"}]
    turns = [{"role": "seeker", "text": "a"}, {"role": "recommender", "text": "b"}]
    assert parse_edited(format_turns(turns)) == turns


@pytest.mark.parametrize(("text", "message"), [
    ("this line has no speaker\nRecommender: ok", "line 1"),
    ("", "empty"),
    ("   \n\n", "empty"),
    ("Seeker: hi\nRecommender:", "line 2"),
    ("Narrator: once\nSeeker: hi", "line 1"),
])
def test_unplaceable_lines_are_refused(text: str, message: str) -> None:
    with pytest.raises(EditError, match=message):
        parse_edited(text)

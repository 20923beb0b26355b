"""The edited-dialogue parser: every line is placed in a turn, or the edit is refused naming the line."""
from __future__ import annotations

import pytest

from annotator.edits import EditError, format_turns, normalise_breaks, parse_edited


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


@pytest.mark.parametrize("line", [
    "Recommnder: try Tail Film", "Recomender: try it", "Seeekr: hi", "Recommender - try Tail Film",
    "**Recommender:** try Tail Film", "__Seeker__: hi", "User: hi", "Assistant: try Tail Film", "AI: hello",
    "Speaker A: hi", "> Recommender: quoted", "Recommender — try it", "System: be nice",
])
def test_a_mistyped_or_foreign_label_is_refused_with_its_line_not_merged(line: str) -> None:
    text = f"Seeker: any scary film?\nRecommender: Tail Film.\n{line}"
    with pytest.raises(EditError, match=r"^line 3: .* is not a speaker label: start the turn with 'Seeker:'"):
        parse_edited(text)


def test_our_labels_in_any_case_and_with_a_space_before_the_colon_are_turns() -> None:
    text = "Seeker : hi\nRECOMMENDER:Tail Film\n  \n  Recommender :  indented, so text"
    assert parse_edited(text) == [{"role": "seeker", "text": "hi"},
                                  {"role": "recommender", "text": "Tail Film\n\nRecommender :  indented, so text"}]
    assert parse_edited("Seeker : hi\nRecommender :ok") == [{"role": "seeker", "text": "hi"},
                                                             {"role": "recommender", "text": "ok"}]


def test_ordinary_text_with_a_colon_still_continues_the_turn() -> None:
    text = "Recommender: Tail Film (2011).\nNote: it is scary.\nPlot: a family moves in.\nSeeker: thanks"
    assert parse_edited(text) == [{"role": "recommender", "text": "Tail Film (2011).\nNote: it is scary.\n"
                                                                   "Plot: a family moves in."},
                                  {"role": "seeker", "text": "thanks"}]


def test_saving_without_changes_gives_back_exactly_the_turns_shown() -> None:
    turns = [{"role": "seeker", "text": "I watched it.\nSeeker: that is what I said\n\nthen left"},
             {"role": "recommender", "text": "**Recommender:** style text\nUser: quoted\n  indented inside"},
             {"role": "seeker", "text": "ok"}]
    shown = format_turns(turns)
    assert parse_edited(shown) == turns
    assert shown.splitlines()[1] == "  Seeker: that is what I said"  # later lines of a turn are indented


def test_an_empty_first_line_and_surrounding_space_are_trimmed_from_the_turn() -> None:
    assert parse_edited("Seeker:\n  hello there\n  \nRecommender: x  ") == [
        {"role": "seeker", "text": "hello there"}, {"role": "recommender", "text": "x"}]
    assert parse_edited("   Seeker: leading space before the first turn") == [
        {"role": "seeker", "text": "leading space before the first turn"}]


def test_edit_distance_by_hand() -> None:
    from annotator.edits import edit_distance
    assert edit_distance("kitten", "sitting") == 3
    assert (edit_distance("", "abc"), edit_distance("abc", ""), edit_distance("seeker", "seeker")) == (3, 3, 0)
    assert edit_distance("abc", "ac") == 1 and edit_distance("ac", "abc") == 1  # one deletion, one insertion
    assert edit_distance("recommnder", "recommender") == 1 and edit_distance("flaw", "lawn") == 2


def test_a_word_three_edits_from_our_labels_is_text_two_edits_is_refused() -> None:
    text = "Recommender: Tail Film.\nSecret: it is scary.\nReader: you will love it."  # 3 edits from 'seeker'
    assert parse_edited(text) == [{"role": "recommender",
                                   "text": "Tail Film.\nSecret: it is scary.\nReader: you will love it."}]
    with pytest.raises(EditError, match="'Smoker:'"):  # 2 edits from 'seeker'
        parse_edited("Recommender: Tail Film.\nSmoker: it is scary.")


def test_the_refusals_say_exactly_what_to_do() -> None:
    rule = ("is not a speaker label: start the turn with 'Seeker:' or 'Recommender:' (or indent the line to keep "
            "it as text of the turn above)")
    cases = {
        "Seeker: hi\nRecommnder - try Tail Film": f"line 2: 'Recommnder -' {rule}",
        "Seeker: hi\n" + "*" * 40 + "User: hi": f"line 2: '{'*' * 30}' {rule}",  # the label, cut at 30 characters
        "a line of text before any turn that runs past forty characters\nSeeker: hi":
            "line 1: 'a line of text before any turn that runs' has no 'Seeker:' or 'Recommender:' before it",
        " \n": "the edited dialogue is empty: write one 'Seeker: ...' / 'Recommender: ...' line per turn",
    }
    for text, message in cases.items():
        with pytest.raises(EditError) as refused:
            parse_edited(text)
        assert str(refused.value) == message


def test_a_line_indented_by_one_space_or_a_tab_continues_the_turn_and_loses_only_its_indent() -> None:
    assert parse_edited("Recommender: Tail Film.\n Seeker: a quoted line\n\tx y") == [
        {"role": "recommender", "text": "Tail Film.\nSeeker: a quoted line\nx y"}]


ISSUE_43_VARIANTS = [  # each a mistyped label the old parser merged into the turn above and saved
    "Recommender; try Tail Film", "Recommender try Tail Film", "Recommender", "Recmndr: try it", "Rec.: try it",
    "Recommender 2: try it", "- Recommender: try it", "1. Recommender: try it", '"Recommender: try it"',
    "“Recommender: try it”", "Recommender： try it", "Seeker; thanks", "seeker thanks a lot", "1) Seeker: ok",
    "• Seeker: ok", "Rec: try it", "Seek: hi", "Recommender2: try it", "RECOMMENDER; x", "* Seeker: ok",
]


@pytest.mark.parametrize("line", ISSUE_43_VARIANTS)
def test_every_label_variant_is_refused_with_its_line(line: str) -> None:
    with pytest.raises(EditError, match=r"^line 3: .* is not a speaker label"):
        parse_edited(f"Seeker: any scary film?\nRecommender: Tail Film.\n{line}")


@pytest.mark.parametrize("line", [
    "Right. I agree", "S. Spielberg directed it", "Sure, I'd love that", "Seeking a comedy? yes", "Thanks",
    "Seekers of truth will love it", "R. Kelly sings in it", "Sorry: I meant the other one", "2001: A Space Odyssey",
    "Star Wars: A New Hope is better", "The Seeker (2007) is fine too", "ok",
])
def test_ordinary_sentences_still_continue_the_turn(line: str) -> None:
    assert parse_edited(f"Recommender: Tail Film.\n{line}") == [{"role": "recommender", "text": f"Tail Film.\n{line}"}]


def test_every_staged_dialogue_survives_format_then_parse() -> None:
    """The real corpus (ReDial and INSPIRED, every split staged): what the edit box shows parses back unchanged (a
    CR LF inside a turn comes back as a line feed, as a browser's text box gives it)."""
    from db.ingest.inspired import parse_inspired
    from db.ingest.redial import parse_redial
    from db.settings import get_settings

    data = get_settings().data_dir
    if not (data / "redial").is_dir():
        pytest.skip(f"the staged corpus is not at {data}")
    dialogues = 0
    for corpus in (parse_redial(data / "redial"), parse_inspired(data / "inspired")):
        for conversation in corpus.conversations:
            turns = [{"role": t.role, "text": normalise_breaks(t.text.strip())} for t in conversation.turns
                     if t.text.strip()]
            if turns:
                assert parse_edited(format_turns(turns)) == turns, conversation.key
                dialogues += 1
    assert dialogues > 5000

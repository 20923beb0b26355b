"""UniCRS's processing for response scores: titles masked as <movie>, consecutive messages merged, one response per
merged recommender turn."""
from __future__ import annotations

from sqlalchemy.orm import Session

from db.models import Response
from tests.factories import make_conversation, make_dataset, make_movie
from trainer.unicrs_processing import TitleMasker, unicrs_response_rows

CATALOG = ["Alien (1979)", "Full Metal Jacket (1987)", "Up (2009)", "It (2017)", "The Fly (1986)", "The Fly II (1989)"]


def test_titles_placeholders_and_bare_titles_are_masked_on_word_boundaries() -> None:
    masker = TitleMasker(CATALOG)
    assert masker.mask("Have you seen Alien (1979) or @12345 ?") == "Have you seen <movie> or <movie> ?"
    assert masker.mask("full metal jacket is great") == "<movie> is great"  # bare, two words, any case
    assert masker.mask("Alien is scary") == "Alien is scary"  # a bare one-word title is an ordinary word ...
    assert masker.mask("Alien is scary", known=["Alien (1979)"]) == "<movie> is scary"  # ... unless the turn names it
    assert masker.mask("Look it up (2009) and It (2017)") == "Look it <movie> and <movie>"
    assert masker.mask("The Fly II (1989) beats The Fly") == "<movie> beats <movie>"  # longest first
    assert masker.mask("The Flyers are a team") == "The Flyers are a team"  # no match inside a word
    assert masker.mask("") == ""


def test_unicrs_rows_merge_the_reference_turn_and_keep_one_response_per_merged_turn(session: Session) -> None:
    ds = make_dataset(session, "toy")
    alien = make_movie(session, ds, "111", "Alien (1979)")
    heat = make_movie(session, ds, "222", "Heat (1995)")
    conv = make_conversation(session, ds, "c1", [
        ("seeker", "hi, something scary?", []),
        ("recommender", "Try @111", [alien]),
        ("recommender", "Heat is good too", [heat]),  # same sender: merged with the turn before
        ("seeker", "thanks", []),
        ("recommender", "bye", [])])
    for position, text in ((1, "You should see Alien (1979)"), (2, "also Heat (1995)"), (4, "goodbye")):
        session.add(Response(conversation_id=conv.id, turn_position=position, system="s", text=text))
    session.flush()
    rows = unicrs_response_rows(session, "s")
    assert rows == [(conv.id, "You should see <movie>", "Try <movie> <movie> is good too"),
                    (conv.id, "goodbye", "bye")]
    assert unicrs_response_rows(session, "nobody") == []

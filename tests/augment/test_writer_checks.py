"""The reviewer's first checks on a written dialogue (augment/writer_checks.py), each on a hand-made dialogue that
has the fault and one that does not."""
from __future__ import annotations

from augment.writer_checks import (
    genres_of,
    people_of,
    repeats,
    request_agreement,
    role_error,
    self_contradiction,
    wrong_year,
)
from db.types import Turn

TITLE = "The Dark Knight Rises (2012)"


def dialogue(*lines: tuple[str, str]) -> list[Turn]:
    return [Turn(role=role, text=text) for role, text in lines]


GOOD = dialogue(("seeker", "I want a dark superhero action movie, maybe with Christian Bale"),
                ("recommender", "Try The Dark Knight Rises (2012), it is great"),
                ("seeker", "I haven't seen it, thanks!"))


def test_roles() -> None:
    assert not role_error(GOOD)
    assert role_error(dialogue(("seeker", "hi"), ("recommender", "Can you recommend a good movie?")))
    assert role_error(dialogue(("seeker", "You should watch The Dark Knight Rises"), ("recommender", "ok")))
    assert role_error(dialogue(("recommender", "I'm looking for a good movie tonight")))


def test_self_contradiction_is_the_recommender_not_the_seeker() -> None:
    assert not self_contradiction(GOOD, TITLE)  # the seeker has not seen it: natural
    assert self_contradiction(dialogue(("recommender", "Try The Dark Knight Rises"),
                                       ("recommender", "I haven't seen The Dark Knight Rises myself")), TITLE)
    assert not self_contradiction(dialogue(("recommender", "I never watched Heat"),
                                           ("recommender", "but The Dark Knight Rises is good")), TITLE)


def test_repetition_and_wrong_years() -> None:
    assert not repeats(GOOD)
    assert repeats(dialogue(("seeker", "Hi!"), ("recommender", "hello"), ("seeker", "hi! ")))
    assert not wrong_year(GOOD, TITLE, 2012)
    assert wrong_year(dialogue(("recommender", "The Dark Knight Rises (1993) is great")), TITLE, 2012)
    assert not wrong_year(dialogue(("recommender", "The Dark Knight Rises is great")), TITLE, 2012)


def test_the_request_agrees_contradicts_or_is_silent() -> None:
    genres, people = ["action", "Superhero film"], people_of({"director": ["Christopher Nolan"],
                                                              "star": ["Christian Bale"]})
    assert people == ["Christopher Nolan", "Christian Bale"] and genres_of(genres) == {"action", "superhero"}
    assert request_agreement(GOOD, TITLE, genres, people) == "agrees"
    romance = dialogue(("seeker", "I'd like a good romantic flick"), ("recommender", "The Dark Knight Rises!"))
    assert request_agreement(romance, TITLE, genres, people) == "contradicts"
    anything = dialogue(("seeker", "what's good?"), ("recommender", "The Dark Knight Rises"))
    assert request_agreement(anything, TITLE, genres, people) == "silent"
    by_name = dialogue(("seeker", "anything with Bale?"), ("recommender", "The Dark Knight Rises"))
    assert request_agreement(by_name, TITLE, genres, people) == "agrees"  # a person's last name is enough
    late = dialogue(("seeker", "hi"), ("recommender", "The Dark Knight Rises"), ("seeker", "I love action"))
    assert request_agreement(late, TITLE, genres, people) == "silent"  # only what came before the recommendation
    assert people_of({"directors": ["Miranda July"], "casts": ["David Warshofsky"]}) == ["Miranda July",
                                                                                         "David Warshofsky"]
    assert genres_of(["comedy film", "science fiction film"]) == {"comedy", "science fiction"}

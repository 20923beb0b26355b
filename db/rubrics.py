"""The five 1-5 Likert rubrics (LumiCRS Table 3 guidance), shared by the LLM judge and human raters."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rubric:
    key: str
    label: str
    guidance: str


RUBRICS: tuple[Rubric, ...] = (
    Rubric("logical_persuasiveness", "Logical persuasiveness",
           "Does the response give coherent, convincing reasons that follow from what the seeker said? "
           "1 = no reason or contradicts the seeker; 5 = clear, well-argued reasons tied to the seeker's wishes."),
    Rubric("informativeness", "Informativeness",
           "Does it tell the seeker something useful about the movie (plot, genre, cast, tone)? "
           "1 = empty or generic; 5 = specific, accurate, helpful details."),
    Rubric("lifelikeness", "Lifelikeness",
           "Does it read like a real person chatting? 1 = robotic, repetitive or ungrammatical; "
           "5 = natural, fluent, friendly."),
    Rubric("long_tail_relevance", "Long-tail relevance",
           "Does it bring in less popular (body/tail) movies that still fit the request? "
           "1 = only blockbusters or irrelevant niche titles; 5 = fitting, lesser-known picks."),
    Rubric("diversity", "Diversity",
           "Does it vary in wording and in the movies it suggests, rather than repeating stock phrases? "
           "1 = formulaic; 5 = varied and fresh."),
)
RUBRIC_KEYS = tuple(r.key for r in RUBRICS)

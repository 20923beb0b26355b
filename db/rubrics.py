"""The five 1-5 Likert rubrics of LumiCRS Table 3, each with five described levels (in our own words), shared by the
LLM judge (augment/templates/rate.jinja2), the Rate page and Label Studio's rating view."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rubric:
    key: str
    label: str
    question: str
    levels: tuple[str, str, str, str, str]  # what a score of 1, 2, 3, 4, 5 means

    @property
    def guidance(self) -> str:
        return f"{self.question} " + "; ".join(f"{n} = {text}" for n, text in enumerate(self.levels, 1)) + "."


RUBRICS: tuple[Rubric, ...] = (
    Rubric("logical_persuasiveness", "Logical persuasiveness",
           "How well does the response argue for its suggestion from what the seeker asked for?",
           ("no reason given, or the reason works against the seeker's request",
            "a reason, but vague or only loosely tied to the request",
            "a sensible reason that fits the request, without detail",
            "clear reasons linked to what the seeker said, easy to follow",
            "a tight, convincing case built step by step on the seeker's own wishes")),
    Rubric("informativeness", "Informativeness",
           "How much useful, accurate information about the movie does the response give?",
           ("nothing useful about the movie",
            "a little, and only on the surface (a genre word, a title)",
            "some facts or context (plot, cast, tone) that help a choice",
            "specific, detailed facts that make the choice easy",
            "thorough, accurate detail and context, plus why it matters to this seeker")),
    Rubric("lifelikeness", "Lifelikeness",
           "How much does the response read like a person chatting rather than a machine?",
           ("mechanical: templated, ungrammatical or robotic",
            "somewhat natural but stiff or awkward",
            "fluent and fairly engaging",
            "lively and engaging, with a personal touch",
            "indistinguishable from a warm, natural human conversation")),
    Rubric("long_tail_relevance", "Long-tail relevance",
           "Does the response bring in less-known (body or tail) movies that still fit the request?",
           ("only blockbusters, or niche titles that do not fit",
            "mostly well-known titles; a lesser-known one that fits poorly",
            "one lesser-known title that fits the request",
            "several fitting lesser-known titles",
            "well-chosen lesser-known titles that fit the request closely and would surprise the seeker")),
    Rubric("diversity", "Recommendation diversity",
           "How varied are the movies the response recommends, in genre and style?",
           ("the same popular title (or none), no variety",
            "a few titles, but all popular and alike",
            "titles from more than one genre or style, still leaning on popular ones",
            "clearly different genres and styles, few repeated popular picks",
            "a wide spread of genres and styles that breaks away from the popular picks")),
)
RUBRIC_KEYS = tuple(r.key for r in RUBRICS)

"""Samples for the conversation module: every recommender utterance (but a dialogue's first) with the utterances
before it and the movie it recommends, and the prompt a causal LM continues.

The recommended movie is the first movie the human turn mentions (the oracle item), or the recommender's top item for
that turn (the predicted item, UniCRS/DCRS style: whether a turn recommends follows the corpus, which item it names
follows our recommender). Turns that mention no movie get no item line."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from db.queries.corpus import list_dialogues, list_movies
from db.types import Dialogue, MovieInfo
from trainer.data import render_turn


@dataclass(frozen=True)
class ResponseSample:
    conversation_id: int
    position: int                         # utterance position of the reference turn
    merged_index: int                     # index of its turn after merging consecutive messages (recommender rows)
    context: tuple[tuple[str, str], ...]  # (role, text), oldest first, titles in place of @ids
    reference: str
    gold_movies: tuple[int, ...]

    @property
    def oracle_movie(self) -> int | None:
        return self.gold_movies[0] if self.gold_movies else None


def samples_from_dialogue(dialogue: Dialogue, max_turns: int) -> list[ResponseSample]:
    samples: list[ResponseSample] = []
    merged_index = -1
    for position, turn in enumerate(dialogue.turns):
        if position == 0 or turn.role != dialogue.turns[position - 1].role:
            merged_index += 1
        if turn.role == "recommender" and position > 0:
            context = tuple((t.role, t.text) for t in dialogue.turns[max(0, position - max_turns):position])
            samples.append(ResponseSample(dialogue.conversation_id or 0, position, merged_index, context, turn.text,
                                          turn.movie_ids))
    return samples


def load_response_samples(session: Session, dataset: str, splits: Sequence[str], max_turns: int) -> list[ResponseSample]:
    return [s for d in list_dialogues(session, dataset, splits) for s in samples_from_dialogue(d, max_turns)]


def movie_line(movie: MovieInfo | None, plot_words: int) -> str:
    if movie is None:
        return "Recommended movie: none"
    plot = " ".join(movie.plot.split()[:plot_words])
    return f"Recommended movie: {movie.title}" + (f". {plot}" if plot else "")


def render_prompt(sample: ResponseSample, movie: MovieInfo | None, plot_words: int, keep_turns: int | None = None) -> str:
    """The text the model continues; `keep_turns` keeps only the newest context turns (length budget)."""
    context = sample.context if keep_turns is None else sample.context[len(sample.context) - keep_turns:]
    lines = [movie_line(movie, plot_words), *(render_turn(role, text) for role, text in context)]
    return "\n".join(lines) + "\nRecommender:"


def movies_by_id(session: Session, dataset: str) -> dict[int, MovieInfo]:
    return {m.id: m for m in list_movies(session, dataset)}


def slot_movie(text: str, own_titles: Sequence[str], title: str | None) -> str:
    """A retrieved turn's movie titles replaced by the movie to recommend (the retrieval baseline)."""
    if title is None:
        return text
    for own in own_titles:
        text = text.replace(own, title)
    return text


def titles_of(movie_ids: Sequence[int], movies: Mapping[int, MovieInfo]) -> list[str]:
    return [movies[m].title for m in movie_ids if m in movies]

"""The ingest writer as a rule (fast selection, both backends): every row lands once, ids stay aligned across insert
batches, re-ingest adds nothing, and the summary counts what was written."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.ingest.parsed import ParsedAnswer, ParsedConversation, ParsedCorpus, ParsedMovie, ParsedTurn
from db.ingest.writer import BATCH, IngestSummary, chunks, write_corpus
from db.models import Conversation, Dataset, Mention, Movie, MovieAnswer, Utterance


def big_corpus(n_conversations: int, unknown: int = 0) -> ParsedCorpus:
    """Enough rows to span several insert batches: 3 turns per conversation, each naming a movie of its own."""
    movies = {str(i): ParsedMovie(str(i), f"Film {i} (2000)", 2000, catalog_mentions=i, meta={"plot": f"p{i}"})
              for i in range(BATCH + 5)}
    conversations = [ParsedConversation(
        key=f"c{c}", split="train" if c % 2 else "test", source_file="made.jsonl",
        turns=(ParsedTurn("seeker", f"hello {c}", (str(c),)),
               ParsedTurn("recommender", f"try {c + 1}", (str(c + 1), str(c + 2))),
               ParsedTurn("seeker", "thanks")),
        answers=(ParsedAnswer(str(c), "seeker", 1, 0, 2), ParsedAnswer(str(c), "seeker", 0, 0, 0),
                 ParsedAnswer("missing", "seeker", 1, 1, 1)))
        for c in range(n_conversations)]
    return ParsedCorpus(dataset="made", movies=movies, conversations=conversations, unknown_mentions_skipped=unknown)


def counts(session: Session) -> dict[str, int]:
    return {m.__tablename__: session.scalar(select(func.count()).select_from(m)) or 0
            for m in (Dataset, Movie, Conversation, Utterance, Mention, MovieAnswer)}


def test_chunks_cover_every_item_once_in_order() -> None:
    assert [list(c) for c in chunks([1, 2, 3, 4, 5], 2)] == [[1, 2], [3, 4], [5]]
    assert [list(c) for c in chunks([1, 2], 2)] == [[1, 2]] and list(chunks([], 2)) == []
    assert [len(c) for c in chunks(list(range(BATCH + 1)))] == [BATCH, 1]


def test_rows_and_ids_stay_aligned_across_batches_and_reingest_adds_nothing(session: Session) -> None:
    n = 1000  # 3,000 utterances and 3,000 mentions: more than one insert batch each
    summary = write_corpus(session, big_corpus(n, unknown=7))
    assert summary == IngestSummary("made", BATCH + 5, n, 0, 3 * n, 3 * n, 7)
    assert counts(session) == {"datasets": 1, "movies": BATCH + 5, "conversations": n, "utterances": 3 * n,
                               "mentions": 3 * n, "movie_answers": n}
    for c in (0, n // 2, n - 1):
        conv = session.scalars(select(Conversation).where(Conversation.external_id == f"c{c}")).one()
        assert (conv.split, conv.origin, conv.source_file) == ("train" if c % 2 else "test", "original", "made.jsonl")
        assert [(u.position, u.role, u.text) for u in conv.utterances] == [
            (0, "seeker", f"hello {c}"), (1, "recommender", f"try {c + 1}"), (2, "seeker", "thanks")]
        named = [sorted(session.scalars(select(Movie.external_id).join(Mention, Mention.movie_id == Movie.id)
                                        .where(Mention.utterance_id == u.id))) for u in conv.utterances]
        assert named == [[str(c)], sorted([str(c + 1), str(c + 2)]), []]
        answer = session.scalars(select(MovieAnswer).where(MovieAnswer.conversation_id == conv.id)).one()
        assert (answer.suggested, answer.seen, answer.liked) == (1, 0, 2)   # the first of duplicate answers
    late = session.scalars(select(Movie).where(Movie.external_id == str(BATCH + 4))).one()
    assert (late.title, late.year, late.catalog_mentions, late.meta) == (
        f"Film {BATCH + 4} (2000)", 2000, BATCH + 4, {"plot": f"p{BATCH + 4}"})
    before = counts(session)
    again = write_corpus(session, big_corpus(n))
    assert again == IngestSummary("made", 0, 0, n, 0, 0, 0)
    assert counts(session) == before


def test_a_grown_corpus_adds_only_what_is_new(session: Session) -> None:
    write_corpus(session, big_corpus(10))
    grown = big_corpus(12)
    duplicated = ParsedCorpus(dataset="made", movies=grown.movies,
                              conversations=[*grown.conversations, grown.conversations[-1]])  # a key twice in one file
    summary = write_corpus(session, duplicated)
    assert (summary.movies_added, summary.conversations_added, summary.conversations_skipped) == (0, 2, 11)
    assert (summary.utterances_added, summary.mentions_added) == (6, 6)
    assert counts(session)["conversations"] == 12 and counts(session)["datasets"] == 1


def test_a_title_longer_than_its_column_is_cut_to_512_characters(session: Session) -> None:
    long_title = "A Very Long Title " * 40  # 720 characters
    corpus = ParsedCorpus(dataset="long", movies={"1": ParsedMovie("1", long_title, None, catalog_mentions=1, meta={})},
                          conversations=[], unknown_mentions_skipped=0)
    write_corpus(session, corpus)
    assert session.scalars(select(Movie.title)).one() == long_title[:512]


def test_an_answer_about_an_unknown_movie_is_skipped_not_the_answers_after_it(session: Session) -> None:
    movies = {k: ParsedMovie(k, f"Film {k} (2000)", 2000, catalog_mentions=1, meta={}) for k in ("1", "2")}
    conversation = ParsedConversation(
        key="c", split="train", source_file="made.jsonl",
        turns=(ParsedTurn("seeker", "hi", ()), ParsedTurn("recommender", "try 1", ("1",))),
        answers=(ParsedAnswer("missing", "seeker", 1, 1, 1), ParsedAnswer("1", "seeker", 1, 0, 2),
                 ParsedAnswer("1", "seeker", 0, 0, 0), ParsedAnswer("2", "recommender", 0, 1, 1)))
    write_corpus(session, ParsedCorpus(dataset="answers", movies=movies, conversations=[conversation],
                                       unknown_mentions_skipped=0))
    rows = session.execute(select(Movie.external_id, MovieAnswer.answered_by, MovieAnswer.liked)
                           .join(MovieAnswer, MovieAnswer.movie_id == Movie.id).order_by(Movie.external_id)).all()
    assert [tuple(r) for r in rows] == [("1", "seeker", 2), ("2", "recommender", 1)]  # first answer per movie and side

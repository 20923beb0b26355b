"""Two processes answering the same turns for one system at once (two `generate-responses` runs of one name, or a
run and its resume), on SQLite and PostgreSQL: both end cleanly, every turn is answered exactly once and has exactly
one rating task. The responder is a stub; the race is in the writing, which is what is run for real here."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.models import Response, ReviewTask
from tests.factories import make_conversation, make_dataset, make_movie

REPO = Path(__file__).resolve().parents[2]
TURNS = 24  # 12 test conversations x 2 recommender turns

# Each process computes what is left (everything), then waits for the other to get that far before writing, so both
# write every turn, one turn per transaction, in the same order.
WRITER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from db.engine import make_engine, make_session_factory
    from trainer.conversation_run import turns_to_answer, write_responses
    url, me, other = sys.argv[1:4]
    factory = make_session_factory(make_engine(url))
    turns = turns_to_answer(factory, "toy", "test", "oracle", None, None, 0, 2)
    def respond(samples, movies):
        if not Path(me).exists():
            Path(me).touch()
            deadline = time.monotonic() + 60
            while not Path(other).exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        return [f"{sys.argv[2]} answers {s.conversation_id}:{s.position}" for s in samples]
    summary = write_responses(factory, "race", turns, 3, respond, 1, False, "stub")
    print(json.dumps({"written": summary.written, "turns": summary.turns}))
""")


def test_two_writers_of_one_system_answer_each_turn_once(database_url: str, tmp_path: Path,
                                                          session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        ds = make_dataset(session, "toy")
        movie = make_movie(session, ds, "m1", "Film1")
        for c in range(12):
            make_conversation(session, ds, f"c{c}", [("seeker", "any movie?", []),
                                                     ("recommender", "watch Film1", [movie]),
                                                     ("seeker", "thanks", []), ("recommender", "enjoy", [])],
                              split="test")
        session.commit()
    flags = [tmp_path / "a", tmp_path / "b"]
    command = [sys.executable, "-c", WRITER, database_url]
    processes = [subprocess.Popen([*command, str(me), str(other)], cwd=REPO, env=dict(os.environ),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for me, other in (flags, flags[::-1])]
    outputs = [p.communicate(timeout=300) for p in processes]
    for process, (_, err) in zip(processes, outputs):
        assert process.returncode == 0 and "Traceback" not in err, err
    summaries = [json.loads(out) for out, _ in outputs]
    assert [s["turns"] for s in summaries] == [TURNS, TURNS]
    assert sum(s["written"] for s in summaries) == TURNS  # what one wrote the other found there
    with session_factory() as session:
        responses = session.scalar(select(func.count()).select_from(Response).where(Response.system == "race"))
        tasks = session.scalar(select(func.count()).select_from(ReviewTask).join(Response)
                               .where(Response.system == "race", ReviewTask.kind == "rating"))
        per_turn = session.execute(select(Response.conversation_id, Response.turn_position, func.count())
                                   .where(Response.system == "race")
                                   .group_by(Response.conversation_id, Response.turn_position)).all()
    assert responses == TURNS and tasks == TURNS and {n for _, _, n in per_turn} == {1}

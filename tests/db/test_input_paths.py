"""Every input path checks its fields in one place (db/fields.py), the same on SQLite and PostgreSQL: one line naming
the field (and the file and line), nothing written (issue 50's repros: KG relation names, import-responses, reviewer
names and emails, a NUL in a Label Studio annotation, non-string or blank titles, a huge corpus line, an invisible
character before a speaker label)."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from annotator.edits import EditError, parse_edited
from db.engine import write_transaction
from db.errors import IngestError
from db.fields import MAX_LINE_BYTES, text_field
from db.ingest.kg import parse_kg
from db.ingest.redial import parse_redial
from db.models import KGFact, Movie, Response, Reviewer
from db.queries.responses import import_responses
from db.queries.review import get_or_create_reviewer, link_email
from lumicrs_cli import app
from tests.factories import make_conversation, make_dataset, redial_line, write_redial_dir

LONG = "x" * 300


@pytest.mark.parametrize(("value", "options", "message"), [
    (True, {}, "f must be text, got bool"),
    (None, {}, "f must be text, got NoneType"),
    (12, {}, "f must be text, got int"),
    ("a\x00b", {}, "f contains a NUL character"),
    ("a\x00b", {"multiline": True}, "f contains a NUL character"),
    ("two\nlines", {}, "f contains the control character U+000A"),
    ("a\u2028b", {"multiline": True}, "f contains the control character U+2028"),
    ("a\x85b", {"multiline": True}, "f contains the control character U+0085"),
    ("\u200bann", {}, "f contains the control character U+200B"),
    ("  ", {}, "f is blank"),
    ("abcd", {"max_len": 3}, "f has 4 characters; at most 3 are stored"),
])
def test_a_field_is_refused_in_one_line_naming_it(value: object, options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as refused:
        text_field(value, "f", **options)  # type: ignore[arg-type]
    assert str(refused.value) == message


def test_ordinary_text_passes() -> None:
    assert text_field("Ann Lee-Smith", "name") == "Ann Lee-Smith"
    assert text_field("line one\nline two\tand a tab\r\n", "reason", multiline=True) == "line one\nline two\tand a tab\r\n"
    assert text_field("", "reason", blank=True, multiline=True) == ""


def kg_dir(root: Path, relation: str) -> Path:
    kg = root / "kg"
    kg.mkdir()
    files = {"entity2id.json": {"Tail Film (2011)": 0, "Jane Doe": 1}, "entity2type.json": {"Jane Doe": "person"},
             "item_ids.json": [0], "kg.json": {"0": [[0, 1]]}, "relation2id.json": {relation: 0}}
    for name, content in files.items():
        (kg / name).write_text(json.dumps(content))
    return kg


@pytest.mark.parametrize("relation", ["r" * 40, "dir\x00ector", "", "star\u2028ring"])
def test_a_bad_kg_relation_name_names_the_file(tmp_path: Path, relation: str) -> None:
    kg = kg_dir(tmp_path, relation)
    with pytest.raises(IngestError) as refused:
        parse_kg(kg)
    assert str(refused.value).startswith(f"{kg / 'relation2id.json'}") and "relation" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_good_kg_relation_name_is_read(tmp_path: Path) -> None:
    assert parse_kg(kg_dir(tmp_path, "directed_by")).facts[0][1] == "directed_by"


@pytest.mark.parametrize(("record", "message"), [
    ({"conversation": "c1", "turn_position": 1, "system": LONG, "text": "hi"}, "system has 300 characters"),
    ({"conversation": "c1", "turn_position": 1, "system": "s", "text": "a\x00b"}, "text contains a NUL character"),
    ({"conversation": "c1", "turn_position": True, "system": "s", "text": "hi"}, "turn_position must be a whole number"),
    ({"conversation": "c1", "turn_position": 1, "system": ["s"], "text": "hi"}, "system must be text, got list"),
    ({"conversation": {"id": 1}, "turn_position": 1, "system": "s", "text": "hi"}, "conversation must be an id"),
    ({"conversation": "c1", "turn_position": 1, "system": "s"}, "missing field(s) text"),
])
def test_import_responses_refuses_a_bad_record_naming_its_line_and_writes_nothing(
        session_factory: sessionmaker[Session], tmp_path: Path, record: dict[str, object], message: str) -> None:
    with session_factory() as s:
        ds = make_dataset(s, "toy")
        make_conversation(s, ds, "c1", [("seeker", "hi", []), ("recommender", "try Up", [])])
        s.commit()
    path = tmp_path / "responses.jsonl"
    good = {"conversation": "c1", "turn_position": 1, "system": "s", "text": "fine"}
    path.write_text(json.dumps(good) + "\n" + json.dumps(record) + "\n")
    with pytest.raises(IngestError) as refused:
        with write_transaction(session_factory) as s:
            import_responses(s, "toy", path)
    assert str(refused.value).startswith(f"{path}:2: ") and message in str(refused.value)
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Response)) == 0


def test_a_huge_line_is_refused_before_it_is_parsed(session_factory: sessionmaker[Session], tmp_path: Path) -> None:
    folder = write_redial_dir(tmp_path / "redial", [redial_line(1, [(1, "hi")]),
                                                    redial_line(2, [(1, "x" * (MAX_LINE_BYTES + 10))])])
    with pytest.raises(IngestError, match=r":2: the line is 1,000,\d+ bytes; at most 1,000,000 are read$"):
        parse_redial(folder)


@pytest.mark.parametrize(("title", "message"), [(True, "must be text, got bool"), ("   ", "is blank"),
                                                 (7, "must be text, got int")])
def test_a_movie_mention_title_that_is_not_a_title_is_refused(tmp_path: Path, title: object, message: str) -> None:
    line = redial_line(1, [(1, "have you seen @111 ?")], movieMentions={"111": title})
    folder = write_redial_dir(tmp_path / "redial", [line])
    (folder / "movies_with_mentions.csv").unlink(missing_ok=True)
    with pytest.raises(IngestError) as refused:
        parse_redial(folder)
    assert ":1: movieMentions '111'" in str(refused.value) and message in str(refused.value)


@pytest.mark.parametrize(("name", "message"), [("n" * 129, "reviewer name has 129 characters"),
                                               ("ann\x00", "reviewer name contains a NUL character"),
                                               ("ann\u200b", "reviewer name contains the control character U+200B")])
def test_a_bad_reviewer_name_is_one_line_on_both_backends(session_factory: sessionmaker[Session], name: str,
                                                         message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        with write_transaction(session_factory) as s:
            get_or_create_reviewer(s, name)
    result = CliRunner().invoke(app, ["annotate", "add-reviewer", name, "--role", "lead"], env={"LUMICRS_PASSWORD": "x" * 10})
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Reviewer)) == 0


@pytest.mark.parametrize(("email", "message"), [("a" * 250 + "@x.org", "email has 256 characters"),
                                                ("ann\x00@x.org", "email contains a NUL character"),
                                                ("ann @x.org", "not an email address")])
def test_a_bad_email_is_one_line_on_both_backends(session_factory: sessionmaker[Session], email: str,
                                                 message: str) -> None:
    with write_transaction(session_factory) as s:
        lead = get_or_create_reviewer(s, "boss", "lead")
        get_or_create_reviewer(s, "ann")
    with pytest.raises(ValueError, match=message):
        with write_transaction(session_factory) as s:
            link_email(s, "ann", email, s.get_one(Reviewer, lead.id))
    with session_factory() as s:
        assert s.scalar(select(Reviewer.email).where(Reviewer.name == "ann")) is None


def test_a_nul_in_one_label_studio_annotation_is_reported_and_the_rest_applied(
        session_factory: sessionmaker[Session]) -> None:
    from annotator.sync import pull_annotations
    from tests.annotator.test_sync_rules import PROJECT, setup, status_of

    fake, (t1, t2), ls = setup(session_factory)
    fake.annotate(ls[t1], "ann@lab.org", "reject", "bad\x00reason")
    fake.annotate(ls[t2], "bob@lab.org", "reject", "dull")
    summary = pull_annotations(session_factory, fake, PROJECT, PROJECT)  # type: ignore[arg-type]
    assert summary.pulled == 1 and len(summary.invalid) == 1 and "reason contains a NUL character" in summary.invalid[0]
    assert status_of(session_factory, t2) == ("done", "rejected") and status_of(session_factory, t1)[0] == "open"


@pytest.mark.parametrize("invisible", ["\u200b", "\ufeff", "\u2060"])
def test_an_invisible_character_before_a_label_is_refused_not_merged(invisible: str) -> None:
    with pytest.raises(EditError, match=r"^line 3: .* is not a speaker label"):
        parse_edited(f"Seeker: any scary film?\nRecommender: Tail Film.\n{invisible}Recommender: also Up")


@pytest.mark.parametrize("brk", ["\r", "\u2028", "\x85", "\x0c"])
def test_an_unchanged_dialogue_with_other_line_breaks_saves_the_same_turns(brk: str) -> None:
    """A turn whose text holds a line break other than a line feed before 'Seeker:' stays one turn through the box."""
    from annotator.edits import format_turns, same_dialogue

    turns = [{"role": "recommender", "text": f"Try Up.{brk}Seeker: (quoting)"}, {"role": "seeker", "text": "ok"}]
    assert same_dialogue(parse_edited(format_turns(turns)), turns) and len(parse_edited(format_turns(turns))) == 2


def test_nothing_of_a_refused_ingest_is_written(session_factory: sessionmaker[Session], tmp_path: Path,
                                                database_url: str) -> None:
    folder = write_redial_dir(tmp_path / "redial", [redial_line(1, [(1, "hi @111")], movieMentions={"111": "Up"}),
                                                    redial_line(2, [(1, "x")], movieMentions={"222": False})])
    result = CliRunner().invoke(app, ["ingest", "redial", str(folder)])
    assert result.exit_code == 2 and ":2: movieMentions '222' must be text, got bool" in result.output
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Movie)) == 0
    shutil.rmtree(folder)
    assert KGFact.__table__.c.relation.type.length == 32  # the limit the relation check reads

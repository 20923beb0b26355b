"""The item knowledge graph: ingest of the staged CFCRS files (idempotent, titles matched, bad files refused with
file:line and nothing written), the graph the trainer reads, and the R-GCN that gives an unseen movie a vector."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.errors import IngestError
from db.ingest.kg import default_kg_dir, parse_kg, write_kg
from db.models import KGFact
from tests.factories import make_dataset, make_movie
from trainer.kg import RGCNItemEncoder, load_item_graph


def write_graph(folder: Path, kg: dict[str, list[list[int]]] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    entity2id = {"Alpha (2001)": 0, "drama": 1, "Ann Lee": 2, "Beta? (2002)": 3, "Gamma (2003)": 4}
    files = {
        "entity2id.json": entity2id,
        "entity2type.json": {"Alpha (2001)": "movie", "drama": "genre", "Ann Lee": "person", "Beta? (2002)": "movie",
                             "Gamma (2003)": "movie"},
        "item_ids.json": [0, 3, 4],
        "kg.json": kg or {"0": [[0, 1], [1, 2]], "3": [[0, 1], [2, 2]], "4": [[0, 1]]},
        "relation2id.json": {"genre": 0, "star": 1, "director": 2},
    }
    for name, content in files.items():
        (folder / name).write_text(json.dumps(content, indent=1), encoding="utf-8")
    return folder


def test_facts_are_stored_once_with_titles_matched_loosely(session: Session, tmp_path: Path) -> None:
    ds = make_dataset(session, "kgtoy")
    alpha = make_movie(session, ds, "1", "Alpha  (2001)")
    beta = make_movie(session, ds, "2", "Beta (2002)")  # the graph spells it "Beta? (2002)"
    kg = parse_kg(write_graph(tmp_path / "cfcrs_kg"))
    first = write_kg(session, ds.id, kg)
    assert (first.kg_facts_added, first.kg_items_matched, first.kg_items_unmatched) == (4, 2, 1)  # Gamma unknown
    again = write_kg(session, ds.id, kg)
    assert again.kg_facts_added == 0 and session.scalar(select(func.count()).select_from(KGFact)) == 4
    stored = set(session.execute(select(KGFact.movie_id, KGFact.relation, KGFact.entity, KGFact.entity_type)))
    assert stored == {(alpha.id, "genre", "drama", "genre"), (alpha.id, "star", "Ann Lee", "person"),
                      (beta.id, "genre", "drama", "genre"), (beta.id, "director", "Ann Lee", "person")}
    graph = load_item_graph(session, {alpha.id: 0, beta.id: 1, 999: 2})
    assert graph.entities == ("genre:drama", "person:Ann Lee") and graph.items_with_facts() == 2
    assert graph.edges == {"director": ((1, 1),), "genre": ((0, 0), (1, 0)), "star": ((0, 1),)}


@pytest.mark.parametrize(("kg", "reason"), [
    ({"0": [[0, 1]], "3": [[7, 1]]}, "item 3: edge [7, 1] names an unknown relation or entity"),
    ({"0": [[0, 1]], "3": [[0, 99]]}, "item 3: edge [0, 99] names an unknown relation or entity"),
    ({"0": [[0, 1]], "3": [[0]]}, "item 3: an edge is not [relation, entity]"),
    ({"0": [[0, 1]], "42": [[0, 1]]}, "item 42: unknown entity id or edges not a list"),
])
def test_a_bad_graph_names_file_and_line(tmp_path: Path, kg: dict[str, list[list[int]]], reason: str) -> None:
    folder = write_graph(tmp_path / "cfcrs_kg", kg)
    with pytest.raises(IngestError) as caught:
        parse_kg(folder)
    key = reason.split()[1].rstrip(":")
    line = (folder / "kg.json").read_text().splitlines().index(f' "{key}": [') + 1
    assert str(caught.value) == f"{folder / 'kg.json'}:{line}: {reason}"


def test_missing_files_and_non_integer_ids_are_refused(tmp_path: Path) -> None:
    folder = write_graph(tmp_path / "cfcrs_kg")
    (folder / "relation2id.json").write_text('{"genre": "zero"}', encoding="utf-8")
    with pytest.raises(IngestError, match=r"relation2id.json:1: 'genre': expected an integer id, got 'zero'"):
        parse_kg(folder)
    (folder / "kg.json").unlink()
    with pytest.raises(IngestError, match="knowledge graph incomplete: missing kg.json"):
        parse_kg(folder)
    assert default_kg_dir("redial", tmp_path / "redial") is None


def test_an_unseen_item_gets_its_vector_from_the_entities_it_shares(session: Session, tmp_path: Path) -> None:
    ds = make_dataset(session, "kgtoy2")
    movies = [make_movie(session, ds, str(i), title) for i, title in enumerate(("Alpha (2001)", "Beta (2002)"))]
    write_kg(session, ds.id, parse_kg(write_graph(tmp_path / "cfcrs_kg")))
    graph = load_item_graph(session, {m.id: i for i, m in enumerate(movies)})
    torch.manual_seed(0)
    encoder = RGCNItemEncoder(graph, dim=8)
    encoder.forget_items(torch.tensor([False, True]))  # Beta never seen in training: only its neighbours speak
    with torch.no_grad():
        out = encoder()
        relation = encoder.relations.index("genre")
        by_hand = torch.relu(encoder.per_relation[relation](encoder.entity_nodes.weight[0])
                             + encoder.per_relation[encoder.relations.index("director")](encoder.entity_nodes.weight[1]))
    assert torch.allclose(out[1], by_hand, atol=1e-6) and out[1].abs().sum() > 0


def test_genres_and_full_names_in_a_context_are_linked() -> None:
    from trainer.kg import EntityLinker, ItemGraph

    graph = ItemGraph(2, ("genre:drama", "genre:sci-fi", "person:Ann", "person:Ann Lee", "person:Tom Hanks"), {})
    linker = EntityLinker(graph)
    assert linker.link("Seeker: any Sci-Fi with Tom  Hanks? Or a drama, like Ann Lee's") == (1, 4, 0, 3)
    assert linker.link("Recommender: Ann is lovely") == ()  # a lone first name is not linked
    assert linker.link("") == ()

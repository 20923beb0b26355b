"""The item knowledge graph as a model input: the graph from the database (db.models.KGFact) and a one-layer
R-GCN (Schlichtkrull et al. 2018, as KBRD uses it) giving every catalog movie a vector from its own node and its
neighbours by relation (genre, star, director, writer), so a movie never seen in training still gets one from
the entities it shares with movies that were."""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from sqlalchemy import select
from sqlalchemy.orm import Session
from torch import Tensor, nn

from db.models import KGFact


@dataclass(frozen=True)
class ItemGraph:
    """Edges item -> entity per relation; items are catalog indices, entities are numbered here."""

    n_items: int
    entities: tuple[str, ...]                      # "type:name", index = entity id
    edges: dict[str, tuple[tuple[int, int], ...]]  # relation -> ((item index, entity index), ...)

    @property
    def n_entities(self) -> int:
        return len(self.entities)

    def items_with_facts(self) -> int:
        return len({item for pairs in self.edges.values() for item, _ in pairs})


def load_item_graph(session: Session, movie_index: dict[int, int]) -> ItemGraph:
    """The facts of the catalog's movies (`movie_index`: movie id -> catalog index), in a stable order."""
    rows = session.execute(select(KGFact.movie_id, KGFact.relation, KGFact.entity_type, KGFact.entity)
                           .where(KGFact.movie_id.in_(list(movie_index))) if movie_index else select(KGFact).where(False))
    facts = sorted((movie_index[movie], relation, f"{kind}:{entity}") for movie, relation, kind, entity in rows)
    entities = tuple(sorted({entity for _, _, entity in facts}))
    number = {entity: i for i, entity in enumerate(entities)}
    edges: dict[str, list[tuple[int, int]]] = {}
    for item, relation, entity in facts:
        edges.setdefault(relation, []).append((item, number[entity]))
    return ItemGraph(len(movie_index), entities, {r: tuple(pairs) for r, pairs in sorted(edges.items())})


def mean_adjacency(pairs: tuple[tuple[int, int], ...], n_items: int, n_entities: int) -> Tensor:
    """Sparse [n_items, n_entities], row i = 1 / |N_r(i)| on each neighbour (the R-GCN's c_{i,r})."""
    if not pairs:
        return torch.sparse_coo_tensor(torch.zeros(2, 0, dtype=torch.long), torch.zeros(0), (n_items, n_entities))
    index = torch.tensor(pairs, dtype=torch.long).T
    degree = torch.bincount(index[0], minlength=n_items).float()
    return torch.sparse_coo_tensor(index, 1.0 / degree[index[0]], (n_items, n_entities), check_invariants=True).coalesce()


TOKEN = re.compile(r"[a-z0-9][a-z0-9'&.-]*")
MAX_NAME_TOKENS = 4


def tokens(text: str) -> list[str]:
    """Lower-case words; a possessive 's and trailing dots or dashes are not part of a name."""
    out = []
    for token in TOKEN.findall(text.lower()):
        token = token.removesuffix("'s").rstrip(".'-")
        if token:
            out.append(token)
    return out


class EntityLinker:
    """Genres and people named in a dialogue's text, as KBRD / KGSF link them (here by exact n-gram match on the
    graph's names): every genre, and people whose name has at least two words (a lone first name is too ambiguous)."""

    def __init__(self, graph: ItemGraph) -> None:
        self.names: dict[tuple[str, ...], int] = {}
        for index, entity in enumerate(graph.entities):
            kind, _, name = entity.partition(":")
            words = tuple(tokens(name))
            if words and len(words) <= MAX_NAME_TOKENS and (kind == "genre" or (kind == "person" and len(words) >= 2)):
                self.names.setdefault(words, index)

    def link(self, text: str) -> tuple[int, ...]:
        words = tokens(text)
        found: dict[int, None] = {}
        for start in range(len(words)):
            for width in range(MAX_NAME_TOKENS, 0, -1):
                entity = self.names.get(tuple(words[start:start + width]))
                if entity is not None:
                    found[entity] = None
                    break
        return tuple(found)


class RGCNItemEncoder(nn.Module):
    """h_i = W_0 e_i + sum_r sum_{j in N_r(i)} (1 / |N_r(i)|) W_r e_j for every item i (one layer, item rows only:
    in this graph an item's neighbours are entities)."""

    def __init__(self, graph: ItemGraph, dim: int = 128) -> None:
        super().__init__()
        self.relations = tuple(graph.edges)
        self.item_nodes = nn.Embedding(graph.n_items, dim)
        self.entity_nodes = nn.Embedding(max(graph.n_entities, 1), dim)
        for table in (self.item_nodes, self.entity_nodes):
            nn.init.normal_(table.weight, std=0.1)
        self.self_loop = nn.Linear(dim, dim, bias=False)
        self.per_relation = nn.ModuleList(nn.Linear(dim, dim, bias=False) for _ in self.relations)
        for position, relation in enumerate(self.relations):
            self.register_buffer(f"adj_{position}", mean_adjacency(graph.edges[relation], graph.n_items,
                                                                   max(graph.n_entities, 1)))

    def forward(self) -> Tensor:
        out = self.self_loop(self.item_nodes.weight)
        for position, linear in enumerate(self.per_relation):
            adjacency = getattr(self, f"adj_{position}")
            out = out + linear(torch.sparse.mm(adjacency, self.entity_nodes.weight))
        return torch.relu(out)

    @torch.no_grad()
    def forget_items(self, cold: Tensor) -> None:
        """Items never seen as a target: their own node only got push-down gradients; keep their neighbours'."""
        self.item_nodes.weight[cold] = 0.0

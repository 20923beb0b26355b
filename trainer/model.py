"""Recommenders: a Popularity baseline and the LumiCRS model (text + context items + prototypes)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lm.embeddings import embedding_dimension
from trainer.kg import RGCNItemEncoder


class PopularityModel(nn.Module):
    """Scores every item by its training frequency, whatever the context."""

    def __init__(self, counts: Tensor) -> None:
        super().__init__()
        self.register_buffer("scores", torch.log1p(counts.float()))

    def forward(self, text_emb: Tensor, context_items: Tensor) -> Tensor:
        return self.scores.expand(text_emb.shape[0], -1)


class TrainableTextEncoder(nn.Module):
    """A sentence-transformer fine-tuned with the recommender (mean pooling, L2-normalised).

    A batch is encoded in chunks of `chunk_size` texts of similar token length, then put back in the caller's order:
    far less padding, and activations small enough for the allocator to reuse (on 2 CPU cores a 256-context
    forward + backward went from 20 s to 9 s). Each text's vector is the same as in one padded batch, up to float
    rounding: mean pooling reads only its own tokens."""

    def __init__(self, path: str, max_seq_length: int = 128, chunk_size: int = 32) -> None:
        super().__init__()
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(path, device="cpu")
        self.model.max_seq_length = max_seq_length
        self.chunk_size = chunk_size

    def forward(self, texts: list[str]) -> Tensor:
        device = next(self.model.parameters()).device
        prepare = getattr(self.model, "preprocess", None) or self.model.tokenize
        lengths = prepare(texts)["attention_mask"].sum(dim=1).tolist() if texts else []
        order = sorted(range(len(texts)), key=lambda i: (lengths[i], i))
        chunks = []
        for start in range(0, len(order), self.chunk_size):
            part = [texts[i] for i in order[start:start + self.chunk_size]]
            features = {k: v.to(device) if isinstance(v, Tensor) else v for k, v in prepare(part).items()}
            chunks.append(self.model(features)["sentence_embedding"])
        if not chunks:
            return torch.zeros(0, embedding_dimension(self.model), device=device)
        sorted_out = torch.cat(chunks)
        back = torch.empty_like(sorted_out).index_copy(0, torch.tensor(order, device=device), sorted_out)
        return F.normalize(back, dim=-1)


class LumiCRSRecommender(nn.Module):
    """q = MLP([text, mean(context item vectors)]); q' = q + softmax(q P^T / tau) P; logits = q' . item + b
    (+ r(q') for the movies the context already named, with `repeat_gate`).

    Item vectors = W * text(item) + free embedding (+ W_kg * R-GCN(item) with a knowledge graph), so tail items
    with few examples still get a representation from their title/genre/plot text and from the genres and people
    they share with other movies. With `text_prior` > 0, logits also get w * cos(context text, item text)
    (w learnable).
    """

    def __init__(self, text_dim: int, item_text_emb: Tensor, *, hidden_dim: int = 512, item_dim: int = 256,
                 n_prototypes: int = 50, dropout: float = 0.2, tau: float = 0.5, text_prior: float = 0.0,
                 text_encoder: TrainableTextEncoder | None = None, kg: RGCNItemEncoder | None = None,
                 link_entities: bool = False, repeat_gate: bool = False) -> None:
        super().__init__()
        self.kg = kg  # None: no item knowledge graph
        self.n_context_entities = kg.entity_nodes.num_embeddings if kg is not None and link_entities else 0
        if kg is not None:
            self.kg_proj = nn.Linear(kg.self_loop.in_features, item_dim, bias=False)
        if self.n_context_entities:  # genres and people named in the context feed the query
            self.entity_proj = nn.Linear(kg.self_loop.in_features, item_dim, bias=False)
        self.text_encoder = text_encoder  # None: contexts arrive as frozen, precomputed embeddings
        if text_encoder is not None:  # True once the encoder is being fine-tuned (saved with the weights)
            self.register_buffer("live_text", torch.tensor(False))
        n_items = item_text_emb.shape[0]
        self.register_buffer("item_text", item_text_emb.float())
        self.item_proj = nn.Linear(item_text_emb.shape[1], item_dim, bias=False)
        self.item_free = nn.Embedding(n_items, item_dim)
        nn.init.normal_(self.item_free.weight, std=0.01)
        self.item_bias = nn.Parameter(torch.zeros(n_items))
        self.query = nn.Sequential(
            nn.Linear(text_dim + item_dim, hidden_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden_dim, item_dim)
        )
        self.prototypes = nn.Parameter(torch.randn(max(n_prototypes, 1), item_dim) * 0.1)
        self.use_prototypes = n_prototypes > 0
        self.tau = tau
        # zero-shot prior: cosine(context text, item text) with a learnable weight; the only signal that
        # reaches items never seen in training (cold tail movies). 0 disables it.
        self.use_text_prior = text_prior > 0 and text_dim == item_text_emb.shape[1]
        self.text_prior = nn.Parameter(torch.tensor(float(text_prior)))
        # repeat gate: movies the dialogue already named get a bonus read from the query (0 at the start)
        self.repeat = nn.Linear(item_dim, 1) if repeat_gate else None
        if self.repeat is not None:
            nn.init.zeros_(self.repeat.weight)
            nn.init.zeros_(self.repeat.bias)

    def item_vectors(self) -> Tensor:
        vectors = self.item_proj(self.item_text) + self.item_free.weight
        return vectors if self.kg is None else vectors + self.kg_proj(self.kg())

    def encode_query(self, text_emb: Tensor, context_items: Tensor) -> Tensor:
        """context_items: [B, n_items] row-normalised multi-hot of movies mentioned so far (+ [B, n_entities] of the
        genres and people the context names, when the model links entities)."""
        n_items = self.item_bias.shape[0]
        context_vec = context_items[:, :n_items] @ self.item_vectors()
        if self.n_context_entities and self.kg is not None:
            context_vec = context_vec + context_items[:, n_items:] @ self.entity_proj(self.kg.entity_nodes.weight)
        return self.query(torch.cat([text_emb, context_vec], dim=-1))

    def prototype_mix(self, queries: Tensor) -> Tensor:
        if not self.use_prototypes:
            return queries
        attn = F.softmax(F.normalize(queries, dim=-1) @ F.normalize(self.prototypes, dim=-1).T / self.tau, dim=-1)
        return queries + attn @ self.prototypes

    def forward(self, text_emb: Tensor, context_items: Tensor) -> Tensor:
        queries = self.prototype_mix(self.encode_query(text_emb, context_items))
        logits = queries @ self.item_vectors().T + self.item_bias
        if self.repeat is not None:
            named = (context_items[:, :self.item_bias.shape[0]] > 0).to(logits.dtype)
            logits = logits + self.repeat(queries) * named
        if self.use_text_prior:
            logits = logits + self.text_prior * (F.normalize(text_emb, dim=-1) @ F.normalize(self.item_text, dim=-1).T)
        return logits

    def reads_live_text(self) -> bool:
        """Whether contexts go through the (fine-tuned) encoder rather than their precomputed frozen embeddings."""
        return self.text_encoder is not None and bool(self.live_text)

    @torch.no_grad()
    def impute_cold_items(self, train_counts: Tensor) -> int:
        """Items never seen as a training target only ever got 'push down' gradients as softmax negatives.
        Give them the mean bias of the rarest seen items and no free embedding, so their text decides."""
        cold = train_counts == 0
        seen = train_counts[~cold]
        if not cold.any() or seen.numel() == 0:
            return 0
        rarest = (train_counts > 0) & (train_counts <= seen.min())
        self.item_bias[cold] = self.item_bias[rarest].mean()
        self.item_free.weight[cold] = 0.0
        if self.kg is not None:
            self.kg.forget_items(cold)
        return int(cold.sum())

    @torch.no_grad()
    def init_prototypes_kmeans(self, queries: Tensor, iterations: int = 20, seed: int = 0) -> None:
        """KMeans (k-means++ seeding) on training queries; prototypes stay learnable."""
        k = self.prototypes.shape[0]
        if not self.use_prototypes or queries.shape[0] < k:
            return
        gen = torch.Generator().manual_seed(seed)
        centres = [queries[torch.randint(len(queries), (1,), generator=gen)].squeeze(0)]
        for _ in range(1, k):
            dist = torch.cdist(queries, torch.stack(centres)).min(dim=1).values.pow(2)
            centres.append(queries[torch.multinomial(dist / dist.sum(), 1, generator=gen)].squeeze(0))
        centroids = torch.stack(centres)
        for _ in range(iterations):
            assign = torch.cdist(queries, centroids).argmin(dim=1)
            for j in range(k):
                members = queries[assign == j]
                if len(members):
                    centroids[j] = members.mean(dim=0)
        self.prototypes.copy_(centroids)


MODELS = {"popularity": PopularityModel, "lumicrs": LumiCRSRecommender}

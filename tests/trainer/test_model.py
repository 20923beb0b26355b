from __future__ import annotations

import torch

from trainer.model import LumiCRSRecommender


def test_cold_items_get_rarest_bias_and_no_free_embedding() -> None:
    model = LumiCRSRecommender(4, torch.eye(4), hidden_dim=8, item_dim=4, n_prototypes=0)
    with torch.no_grad():
        model.item_bias.copy_(torch.tensor([3.0, 1.0, 2.0, -9.0]))
        model.item_free.weight.fill_(1.0)
    cold = model.impute_cold_items(torch.tensor([5, 1, 1, 0]))
    assert cold == 1
    assert model.item_bias.tolist() == [3.0, 1.0, 2.0, 1.5]  # mean of the count-1 items
    assert model.item_free.weight[3].abs().sum() == 0 and model.item_free.weight[0].sum() == 4


def test_text_prior_ranks_matching_item_text() -> None:
    torch.manual_seed(0)
    items = torch.eye(3)
    model = LumiCRSRecommender(3, items, hidden_dim=4, item_dim=3, n_prototypes=0, text_prior=50.0, dropout=0.0)
    model.eval()
    logits = model(torch.tensor([[0.0, 0.0, 1.0]]), torch.zeros(1, 3))
    assert logits.argmax().item() == 2


def test_the_repeat_gate_starts_neutral_and_adds_its_bonus_to_named_movies_only() -> None:
    torch.manual_seed(0)
    plain = LumiCRSRecommender(3, torch.eye(4, 3), hidden_dim=4, item_dim=3, n_prototypes=0, dropout=0.0)
    torch.manual_seed(0)
    gated = LumiCRSRecommender(3, torch.eye(4, 3), hidden_dim=4, item_dim=3, n_prototypes=0, dropout=0.0,
                               repeat_gate=True)
    gated.load_state_dict({**plain.state_dict(), **{k: v for k, v in gated.state_dict().items() if "repeat" in k}})
    text, context = torch.randn(2, 3), torch.tensor([[0.5, 0.0, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0]])
    assert torch.equal(gated(text, context), plain(text, context))  # zero-initialised: no bonus before training
    with torch.no_grad():
        gated.repeat.bias.fill_(2.0)  # type: ignore[union-attr]
    bonus = gated(text, context) - plain(text, context)
    assert torch.allclose(bonus, torch.tensor([[2.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0]]))  # items 0, 2 of row 0


def test_kmeans_initialisation_puts_one_prototype_on_each_cluster_and_keeps_them_learnable() -> None:
    """LumiCRS's prototypes start as KMeans centroids of the training queries (k-means++ seeding, then Lloyd steps):
    two tight clusters and K = 2 give one prototype on each cluster's mean."""
    torch.manual_seed(0)
    model = LumiCRSRecommender(3, torch.eye(4, 3), hidden_dim=4, item_dim=3, n_prototypes=2, dropout=0.0)
    left = torch.tensor([[-5.0, 0.0, 0.0], [-5.0, 0.2, 0.0], [-5.0, -0.2, 0.0], [-4.4, 0.0, 0.0]])
    right = -left + torch.tensor([0.0, 0.0, 1.0])
    queries = torch.cat([left, right])  # the query space is item_dim (3) wide
    model.init_prototypes_kmeans(queries, seed=3)
    found = sorted(model.prototypes.detach().tolist(), key=lambda row: row[0])
    means = sorted([queries[:4].mean(dim=0).tolist(), queries[4:].mean(dim=0).tolist()], key=lambda row: row[0])
    assert torch.allclose(torch.tensor(found), torch.tensor(means), atol=1e-5)
    assert model.prototypes.requires_grad

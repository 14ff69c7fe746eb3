"""The three collaborative-filtering models, each a small nn.Module built on nn.Embedding.

An embedding lookup `W[i]` is the same number as `one_hot(i) @ W`, only without building
the one-hot vector; `cf explain` shows this on a trained model. Import this module only
where torch is needed (it imports torch at the top).
"""

from __future__ import annotations

import torch
from torch import nn


def sigmoid_range(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """Squash x into (lo, hi): predictions can never leave the rating range."""
    return torch.sigmoid(x) * (hi - lo) + lo


def _embedding(n: int, dim: int) -> nn.Embedding:
    """An embedding initialised like fastai's: small normal values (std 0.01)."""
    emb = nn.Embedding(n, dim)
    with torch.no_grad():
        emb.weight.normal_(0, 0.01)
    return emb


class DotProduct(nn.Module):
    """Rating = user factors · item factors: the plain latent-factor model."""

    kind = "dot"

    def __init__(self, n_users: int, n_items: int, n_factors: int = 50):
        super().__init__()
        self.user_factors = _embedding(n_users, n_factors)  # (n_users, factors)
        self.item_factors = _embedding(n_items, n_factors)  # (n_items, factors)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        u = self.user_factors(users)  # (batch, factors)
        i = self.item_factors(items)  # (batch, factors)
        return (u * i).sum(dim=1)  # (batch,)

    def score_matrix(self, users: torch.Tensor) -> torch.Tensor:
        """Predicted ratings of the given users for every item."""
        return self.user_factors(users) @ self.item_factors.weight.T  # (users, n_items)


class DotProductBias(nn.Module):
    """Dot product plus a user bias and an item bias, squashed into y_range with a sigmoid.

    With `y_range` None the sum is the rating itself (linear): what ALS fitted around
    biases gives (cf/spark.py), the global mean folded into the item biases."""

    kind = "bias"

    def __init__(self, n_users: int, n_items: int, n_factors: int = 50,
                 y_range: tuple[float, float] | None = (0.0, 5.5)):
        super().__init__()
        self.user_factors = _embedding(n_users, n_factors)  # (n_users, factors)
        self.item_factors = _embedding(n_items, n_factors)  # (n_items, factors)
        self.user_bias = _embedding(n_users, 1)  # (n_users, 1)
        self.item_bias = _embedding(n_items, 1)  # (n_items, 1)
        self.y_range = tuple(y_range) if y_range is not None else None

    def _out(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.y_range is None else sigmoid_range(x, *self.y_range)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        u = self.user_factors(users)  # (batch, factors)
        i = self.item_factors(items)  # (batch, factors)
        x = (u * i).sum(dim=1)  # (batch,)
        x = x + self.user_bias(users)[:, 0] + self.item_bias(items)[:, 0]  # (batch,)
        return self._out(x)  # (batch,)

    def score_matrix(self, users: torch.Tensor) -> torch.Tensor:
        x = self.user_factors(users) @ self.item_factors.weight.T  # (users, n_items)
        x = x + self.user_bias(users) + self.item_bias.weight.T  # (users, n_items)
        return self._out(x)


def embedding_size(n: int) -> int:
    """fastai's rule of thumb for an embedding width given n categories."""
    return min(600, round(1.6 * n**0.56))


class EmbeddingNN(nn.Module):
    """fastai's EmbeddingNN: concatenated user and item embeddings through a small MLP."""

    kind = "nn"

    def __init__(
        self, n_users: int, n_items: int, user_size: int | None = None, item_size: int | None = None,
        hidden: int = 100, y_range: tuple[float, float] = (0.0, 5.5),
    ):
        super().__init__()
        user_size = user_size or embedding_size(n_users)
        item_size = item_size or embedding_size(n_items)
        self.user_factors = _embedding(n_users, user_size)  # (n_users, user_size)
        self.item_factors = _embedding(n_items, item_size)  # (n_items, item_size)
        self.layers = nn.Sequential(
            nn.Linear(user_size + item_size, hidden),  # (batch, hidden)
            nn.ReLU(),
            nn.Linear(hidden, 1),  # (batch, 1)
        )
        self.y_range = tuple(y_range)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.user_factors(users), self.item_factors(items)], dim=1)  # (batch, user_size + item_size)
        x = self.layers(x)[:, 0]  # (batch,)
        return sigmoid_range(x, *self.y_range)  # (batch,)

    def score_matrix(self, users: torch.Tensor) -> torch.Tensor:
        n_items = self.item_factors.num_embeddings
        u = users.repeat_interleave(n_items)  # (users * n_items,)
        i = torch.arange(n_items).repeat(len(users))  # (users * n_items,)
        return self.forward(u, i).view(len(users), n_items)  # (users, n_items)


MODELS = {"dot": DotProduct, "bias": DotProductBias, "nn": EmbeddingNN}


def make_model(kind: str, n_users: int, n_items: int, n_factors: int,
               y_range: tuple[float, float] | None) -> nn.Module:
    """A fresh model of one kind; `n_factors` sizes the dot-product models (the NN uses fastai's rule)."""
    if kind == "dot":
        return DotProduct(n_users, n_items, n_factors)
    if kind == "bias":
        return DotProductBias(n_users, n_items, n_factors, y_range)
    if kind == "nn":
        return EmbeddingNN(n_users, n_items, y_range=y_range)
    raise ValueError(f"unknown model kind {kind!r}")

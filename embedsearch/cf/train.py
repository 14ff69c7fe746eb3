"""Training: the three steps (initialise, predict, loss) with a one-cycle schedule.

AdamW (decoupled weight decay, as fastai's default) under torch's OneCycleLR, shuffled
mini-batches from a seeded generator, so the same seed and options give the same weights.
Batches are sliced from tensors directly rather than through a DataLoader: a batch of
ratings is three index arrays, and the loader's overhead would dominate such tiny steps.
"""

from __future__ import annotations

import math

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from embedsearch.cf.data import DEFAULT_Y_RANGE, Ratings
from embedsearch.cf.metrics import mae, rmse, top_n_metrics
from embedsearch.errors import EmbedsearchError

MIN_STEPS = 8  # the fewest optimizer steps the one-cycle schedule can split into its phases

MODEL_KINDS = ("bias", "dot", "nn")


@dataclass
class TrainOptions:
    """Everything that decides a trained model; recorded in its manifest."""

    model: str = "bias"
    factors: int = 50
    epochs: int = 5
    lr: float = 4e-3
    wd: float = 0.15
    bs: int = 64
    seed: int = 42
    beta2: float = 0.99  # fastai's Adam default (sqr_mom); torch's 0.999 adapts too slowly here
    reg: float = 0.0  # L2 on the rows each batch looks up (per rating, as in Funk's SVD)
    bias_wd: float = 0.01  # weight decay on the bias tables: decaying them pulls every rating towards the middle of y_range
    y_range: tuple[float, float] = DEFAULT_Y_RANGE

    def check(self) -> None:
        """Reject options that cannot train, with a message that names the option."""
        if self.model not in MODEL_KINDS:
            raise EmbedsearchError(f"unknown model {self.model!r}; choose one of {', '.join(MODEL_KINDS)}")
        for name in ("factors", "epochs", "bs"):
            if getattr(self, name) < 1:
                raise EmbedsearchError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise EmbedsearchError(f"--lr must be positive, got {self.lr}")
        if self.wd < 0 or self.reg < 0 or self.bias_wd < 0:
            raise EmbedsearchError(f"--wd, --bias-wd and --reg must not be negative, got {self.wd}, {self.bias_wd}, {self.reg}")

    def as_dict(self) -> dict:
        d = asdict(self)
        d["y_range"] = list(self.y_range)
        return d


@dataclass
class Epoch:
    """One row of the training table."""

    epoch: int
    train_loss: float
    valid_mse: float
    valid_rmse: float
    valid_mae: float
    seconds: float


@dataclass
class TrainResult:
    model: object  # the trained nn.Module
    history: list[Epoch]
    metrics: dict = field(default_factory=dict)
    seconds: float = 0.0


def predict(model, ratings: Ratings, bs: int = 65536) -> np.ndarray:
    """The model's predicted rating for each (user, item) row."""
    import torch

    model.eval()
    users = torch.from_numpy(ratings.users)
    items = torch.from_numpy(ratings.items)
    out = []
    with torch.no_grad():
        for s in range(0, len(users), bs):
            out.append(model(users[s : s + bs], items[s : s + bs]))
    return torch.cat(out).numpy() if out else np.zeros(0, np.float32)


def score_users(model, rows: np.ndarray) -> np.ndarray:
    """Predicted ratings of the given user rows for every item, shape (len(rows), n_items)."""
    import torch

    model.eval()
    with torch.no_grad():
        return model.score_matrix(torch.as_tensor(rows, dtype=torch.int64)).numpy()


def fit(
    train: Ratings,
    valid: Ratings | None,
    options: TrainOptions = TrainOptions(),
    on_epoch: Callable[[Epoch], None] | None = None,
    top_n: bool = True,
) -> TrainResult:
    """Train a fresh model of `options.model` on `train`, measuring `valid` after each epoch."""
    import torch

    options.check()
    if len(train) == 0:
        raise EmbedsearchError("no training ratings")
    # Weight decay drives unused factors towards zero; denormal floats there make CPU
    # arithmetic tens of times slower, so flush them (restored on the way out).
    # One thread: these steps are too small to split, and spare threads spin-wait badly
    # when the machine is busy (epochs went from 1.4 s to 57 s under load).
    flushed = torch.set_flush_denormal(True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _fit(train, valid, options, on_epoch, top_n)
    finally:
        torch.set_num_threads(threads)
        if flushed:
            torch.set_flush_denormal(False)


def _row_penalty(model, users, items):
    """Mean squared norm of the embedding rows this batch used (users' and items')."""
    total = 0
    for name, module in model.named_children():
        if name.startswith("user_"):
            total = total + (module(users) ** 2).sum()
        elif name.startswith("item_"):
            total = total + (module(items) ** 2).sum()
    return total / len(users)


def _fit(train, valid, options, on_epoch, top_n) -> TrainResult:
    import torch

    from embedsearch.cf.models import make_model

    torch.manual_seed(options.seed)
    model = make_model(options.model, len(train.user_keys), len(train.item_keys), options.factors, options.y_range)
    users = torch.from_numpy(train.users)
    items = torch.from_numpy(train.items)
    targets = torch.from_numpy(train.ratings)
    steps = (len(train) + options.bs - 1) // options.bs
    if steps * options.epochs < MIN_STEPS:  # OneCycleLR divides by zero on fewer (its warm-up is 25%)
        raise EmbedsearchError(
            f"{len(train):,} ratings in batches of {options.bs:,} for {options.epochs} epoch(s) make "
            f"{steps * options.epochs} optimizer steps; the one-cycle schedule needs at least {MIN_STEPS}: "
            "use a smaller --bs or more --epochs")
    named = list(model.named_parameters())
    groups = [
        {"params": [p for n, p in named if not n.endswith("bias.weight")]},
        {"params": [p for n, p in named if n.endswith("bias.weight")], "weight_decay": options.bias_wd},
    ]
    opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=options.lr, weight_decay=options.wd, betas=(0.9, options.beta2), eps=1e-5)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=options.lr, epochs=options.epochs, steps_per_epoch=steps,
        pct_start=0.25, div_factor=25.0, final_div_factor=1e5, base_momentum=0.85, max_momentum=0.95,
    )
    gen = torch.Generator().manual_seed(options.seed)
    history: list[Epoch] = []
    started = time.perf_counter()
    for epoch in range(options.epochs):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(len(train), generator=gen)
        total = 0.0
        for s in range(steps):
            batch = order[s * options.bs : (s + 1) * options.bs]
            pred = model(users[batch], items[batch])  # (batch,)
            loss = torch.nn.functional.mse_loss(pred, targets[batch])
            objective = loss + options.reg * _row_penalty(model, users[batch], items[batch]) if options.reg else loss
            opt.zero_grad(set_to_none=True)
            objective.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(batch)
        if valid is not None and len(valid):
            p = predict(model, valid)
            v_rmse, v_mae = rmse(p, valid.ratings), mae(p, valid.ratings)
        else:
            v_rmse = v_mae = float("nan")
        if not math.isfinite(total) or not all(torch.isfinite(p).all() for p in model.parameters()):
            raise EmbedsearchError(f"training diverged in epoch {epoch + 1} (the loss or the factors are no longer "
                                   f"finite at --lr {options.lr:g}); nothing was saved: lower --lr")
        row = Epoch(epoch, total / len(train), v_rmse**2, v_rmse, v_mae, time.perf_counter() - t0)
        history.append(row)
        if on_epoch:
            on_epoch(row)
    seconds = time.perf_counter() - started
    metrics: dict = {"train_seconds": seconds}
    if valid is not None and len(valid):
        metrics.update(rmse=history[-1].valid_rmse, mae=history[-1].valid_mae)
        if top_n:
            metrics.update(top_n_metrics(lambda rows: score_users(model, rows), train, valid))
    model.eval()
    return TrainResult(model, history, metrics, seconds)

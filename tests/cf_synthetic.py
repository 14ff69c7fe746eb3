"""A small synthetic rating matrix with a known low-rank structure, for the CF tests.

Items come in groups that share one true factor vector, so a model that recovered the
structure must put each item's nearest neighbours in its own group.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

GROUPS = 4
PER_GROUP = 10
USERS = 80


def true_ratings(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(ratings (users, items) in 1..5, item group of each item)."""
    rng = np.random.default_rng(seed)
    group_factors = np.eye(GROUPS) * 2.0  # orthogonal directions, one per group
    groups = np.repeat(np.arange(GROUPS), PER_GROUP)
    users = rng.normal(0, 1, (USERS, GROUPS))
    logits = users @ group_factors[groups].T  # (users, items)
    return 1 + 4 / (1 + np.exp(-logits)), groups


def write(folder: Path, observed: float = 0.6, seed: int = 0) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """Write ratings.tsv (user, item, rating) and items.csv (id, title); returns paths, truth, groups."""
    r, groups = true_ratings(seed)
    rng = np.random.default_rng(seed + 1)
    mask = rng.random(r.shape) < observed
    folder.mkdir(parents=True, exist_ok=True)
    ratings = folder / "ratings.tsv"
    lines = ["user\titem\trating"]
    for u, i in zip(*np.nonzero(mask)):
        lines.append(f"u{u}\ti{i}\t{r[u, i]:.3f}")
    ratings.write_text("\n".join(lines) + "\n")
    items = folder / "items.csv"
    items.write_text("".join(f"i{i},Movie {groups[i]}-{i} (2000)\n" for i in range(len(groups))))
    return ratings, items, r, groups

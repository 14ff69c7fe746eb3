"""`embedsearch eval ...`: quality measurements (code search, and more as they arrive)."""

from __future__ import annotations

import click


@click.group("eval")
def eval_group() -> None:
    """Measure search and embedding quality on standard tasks."""


def register(main: click.Group) -> None:
    main.add_command(eval_group)

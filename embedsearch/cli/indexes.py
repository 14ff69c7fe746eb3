"""`embedsearch index/search/similar/list/info/rm`: code and text indexes."""

from __future__ import annotations

import click


def register(main: click.Group) -> None:
    pass

"""What is in the index home: the rows of `embedsearch list` (the page of `info` is
codeindex.store.describe)."""

from __future__ import annotations

from pathlib import Path

from embedsearch.errors import EmbedsearchError
from embedsearch.home import Home
from embedsearch.codeindex.store import read_manifest


def list_entries(home: Home | Path | str) -> list[dict]:
    """One summary per index or model folder; a damaged one is listed as such, not fatal."""
    home = Home.of(home)
    out = []
    for name in home.names():
        try:
            m = read_manifest(home, name, kind=None)
        except EmbedsearchError as exc:
            out.append({"name": name, "kind": "damaged", "error": str(exc)})
            continue
        if m.get("shard_of"):
            continue  # listed as part of its sharded index
        out.append({"name": name, "kind": m.get("kind", "?"), "items": m.get("count", m.get("n_items")),
                    "encoder": (m.get("encoder") or {}).get("name", ""), "updated": m.get("updated", "")})
    return out

"""What is in the index home: the rows of `embedsearch list` and the page of `info`."""

from __future__ import annotations

from pathlib import Path

from embedsearch.errors import EmbedsearchError
from embedsearch.home import Home
from embedsearch.store import folder_bytes, read_manifest


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


def describe(home: Home | Path | str, name: str) -> dict:
    """Counts, encoder, HNSW parameters, size on disk and build times of one index."""
    home = Home.of(home)
    m = read_manifest(home, name, kind=None)
    info = {
        "name": name,
        "kind": m.get("kind"),
        "folder": str(home.folder(name).absolute()),
        "items": m.get("count"),
        "generation": m.get("generation"),
        "created": m.get("created"),
        "updated": m.get("updated"),
        "bytes_on_disk": folder_bytes(home.folder(name)) + sum(
            folder_bytes(home.folder(s)) for s in m.get("shards") or {} if home.folder(s).is_dir()),
    }
    for key in ("encoder", "hnsw", "sources", "options", "shards"):
        if key in m:
            info[key] = m[key]
    last = m.get("last_run") or {}
    if last:
        info["last_run"] = {k: last[k] for k in ("files_read", "chunks", "added", "changed", "removed",
                                                 "embedded", "seconds", "chunks_per_second") if k in last}
    return info

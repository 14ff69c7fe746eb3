"""An index split into N ordinary indexes under one name, for corpora beyond one HNSW graph.

    HOME/NAME/manifest.json          {"kind": "sharded", "shards": {SHARD: generation, ...}}
    HOME/NAME.shard-0-of-N/ ...      ordinary indexes (store.py), each marked "shard_of": NAME

A chunk goes to the shard its file's path hashes to: the split does not depend on the order
rows arrive in, and a file's chunks stay together, so a nested function still folds into
the function around it (search.fold_nested looks within one index) and a sharded answer is
the one index's answer. `search` asks every shard for its top k and merges them
by score (search.py): with dense scores that is exactly the answer one index over the same
vectors gives. `check` and `repair` work shard by shard. The parent manifest records each
shard's generation when the set was written; a shard found at another generation (a
build interrupted between shards) is reported, never silently mixed with the others.
"""

from __future__ import annotations

import hashlib
import json
import time

import numpy as np

from embedsearch.errors import Damaged, EmbedsearchError
from embedsearch.home import MANIFEST, Home
from embedsearch.codeindex.store import Item

KIND = "sharded"


def is_sharded(home: Home, name: str) -> bool:
    return (home.peek(name) or {}).get("kind") == KIND


def shard_names(name: str, n: int) -> list[str]:
    return [f"{name}.shard-{i}-of-{n}" for i in range(n)]


def shard_of(path: str, n: int) -> int:
    """The shard of an item of file `path`: a hash of the path, so a file's items stay together."""
    key = str(path).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") % n


def shards(home: Home, name: str) -> list[str]:
    """The shard names of sharded index NAME, each checked to be at the generation the set
    was written with."""
    from embedsearch.codeindex.store import manifest_generation

    manifest = home.manifest(name)
    recorded = manifest.get("shards") or {}
    for shard, generation in recorded.items():
        now = manifest_generation(home.folder(shard))
        if now != generation:
            raise Damaged(f"sharded index {name!r} is inconsistent: shard {shard!r} is at generation {now}, the "
                          f"set was written with {generation} (a build was interrupted between shards); build it "
                          "again")
    return list(recorded)


def write_sharded(home: Home | str, name: str, manifest: dict, vectors: np.ndarray, rows: list[Item], n: int,
                  hnsw, wait: float = 0.0) -> dict:
    """Write NAME as N shards (each an ordinary generation commit), then the manifest that
    names them: the commit point of the whole set."""
    from embedsearch.codeindex.store import manifest_generation, write_generation

    home = Home.of(home)
    if n < 2:
        raise EmbedsearchError(f"--shards must be at least 2, got {n}")
    names = shard_names(name, n)
    which = np.array([shard_of(r.path, n) for r in rows])
    with home.lock(name, wait=wait):
        existing = home.peek(name)
        if existing is not None and existing.get("kind") != KIND:
            raise EmbedsearchError(f"{name!r} is a {existing.get('kind')} entry in {home}; choose another --name")
        generations = {}
        for i, shard in enumerate(names):
            idx = np.flatnonzero(which == i)
            if len(idx) == 0:
                raise EmbedsearchError(f"{len(rows)} chunks over {n} shards leave shard {i} empty; use fewer --shards")
            with home.lock(shard, wait=wait):
                written = write_generation(home, shard, {**manifest, "shard_of": name}, vectors[idx],
                                           [rows[j] for j in idx], hnsw,
                                           based_on=manifest_generation(home.folder(shard)))
            generations[shard] = written["generation"]
        return record(home, name, generations, len(rows), manifest)


def record(home: Home, name: str, generations: dict[str, int], count: int, manifest: dict) -> dict:
    """Write the set's manifest naming each shard at its generation: the commit point of a
    sharded build or repair (the caller holds NAME's lock)."""
    previous = home.peek(name) or {}
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    parent = {"format": 1, "kind": KIND, "name": name, "shards": generations, "count": count,
              "encoder": manifest["encoder"], "sources": manifest.get("sources", []),
              "options": manifest.get("options", {}), "generation": int(previous.get("generation", 0)) + 1,
              "created": previous.get("created", now), "updated": now}
    home.folder(name).mkdir(parents=True, exist_ok=True)
    home.write_text(home.folder(name) / MANIFEST, json.dumps(parent, indent=2, ensure_ascii=False))
    return parent

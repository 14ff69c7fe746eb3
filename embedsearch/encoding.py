"""Which encoder embeds: the one resolver for index builds, updates, repairs and queries.

An index records its encoder's identity (name, dimension, weights digest). Every later use
of the index asks `resolve_encoder` for that same encoder: the ONNX export of exactly those
weights when the home's cache has one (no torch import), else the model loaded by name
(a sentence-transformers model, or one registered with `encoders.register_encoder`),
whose digest must match for queries. Whoever needs vectors calls this, never a loader.
"""

from __future__ import annotations

from pathlib import Path

from embedsearch.encoders import Encoder, canonical_name, get_encoder
from embedsearch.errors import EmbedsearchError
from embedsearch.home import Home


def resolve_encoder(home: Home | Path | str | None, model: str | None = None, built: dict | None = None, *,
                    for_queries: bool = False, index_name: str = "", long_lived: bool = False) -> Encoder:
    """The encoder for `model`, or for the index whose manifest entry is `built`.

    For queries (`for_queries`) it must be exactly the one that built the index: another
    `model` or other weights under the same name are refused, since cosines across encoders
    mean nothing. For indexing, `built` (the previous generation's encoder) only lets the
    cached export answer without loading torch; other weights just mean nothing is reused.
    Without a cached export, a model that can be exported is exported once into the home's
    cache (`onnx_encoder.try_export`): indexing then embeds with the export (faster on CPU),
    queries use the loaded model this time and the export from the next one on. A
    `long_lived` query encoder (a server's) is the export prepared as for indexing: its
    weights repacked once, each query then about twice as fast (bench/README.md)."""
    from embedsearch.onnx_encoder import cached_encoder, try_export

    name = canonical_name(model or (built or {}).get("name"))
    if for_queries and built is not None and name != built["name"]:
        raise EmbedsearchError(f"index {index_name!r} was built with encoder {built['name']!r}; "
                               f"queries with {name!r} would not be comparable")
    same = built is not None and name == built["name"]
    if home is not None and same:
        fast = cached_encoder(home, built, bulk=not for_queries or long_lived)
        if fast is not None:
            return fast
    encoder = get_encoder(name)
    if for_queries and same and (encoder.info.digest != built["digest"] or encoder.info.dim != int(built["dim"])):
        raise EmbedsearchError(
            f"encoder {built['name']!r} loaded here (weights {encoder.info.digest[:12]}, dim "
            f"{encoder.info.dim}) is not the one that built index {index_name!r} (weights "
            f"{built['digest'][:12]}, dim {built['dim']}); rebuild the index with --rebuild"
        )
    if home is not None and try_export(home, encoder) is not None and not for_queries:
        fast = cached_encoder(home, encoder.info.as_dict(), bulk=True)
        if fast is not None:
            return fast
    return encoder


def embed(home: Home | Path | str | None, texts: list[str], model: str | None = None):  # -> (vectors, EncoderInfo)
    """(len(texts), dim) unit rows of `texts` under `model` (the packaged MiniLM by default),
    through the home's ONNX export when there is one: what `embedsearch embed` prints.
    The rows are the ones an index built with that model stores for the same text."""
    if not texts or any(not t.strip() for t in texts):
        raise EmbedsearchError("nothing to embed: give at least one non-empty text")
    built = None
    if home is not None:  # an index of this home made with that model names the export to use (no torch)
        home, name = Home.of(home), canonical_name(model)
        built = next((m["encoder"] for n in home.names() if (m := home.peek(n)) is not None
                      and isinstance(m.get("encoder"), dict) and m["encoder"].get("name") == name), None)
    encoder = resolve_encoder(home, model, built)
    return encoder.encode(texts), encoder.info

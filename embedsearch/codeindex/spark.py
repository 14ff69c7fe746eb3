"""Encoding a corpus on Apache Spark, and building an ordinary index from what it wrote.

`embedsearch index PATHS --engine spark --out DATASET`: the driver lists the files (the
same walk as `index`: .gitignore, --exclude, size limit); reading, chunking and encoding
run on the executors (`mapInArrow`), each executor loading the encoder's ONNX export once
(shipped with the job by `SparkContext.addFile`, never downloaded). The output is a Parquet
dataset of chunks (path, lines, kind, name, text, meta), their content hashes and vectors,
with `_embedsearch.json` beside the part files saying which encoder and options made them.
A re-run encodes only the chunks whose content hash the previous dataset lacks (a join on
the hash, not a re-embed), and replaces the dataset as one folder when done.

`embedsearch index --from-parquet DATASET --name NAME` then builds an ordinary index (HNSW +
SQLite + manifest, by the same crash-safe commit as `index`) from such a dataset, so a
corpus encoded on a cluster is searched on a laptop. docs/scale-out.md says how to run it
on a real cluster. pyspark is an optional extra, imported only here.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from embedsearch.errors import EmbedsearchError
from embedsearch.home import Home
from embedsearch.spark_session import session

SIDECAR = "_embedsearch.json"  # Spark skips files starting with "_" when it reads the dataset
CHUNK_COLUMNS = "path string, start_line int, end_line int, kind string, name string, text string, " \
                "meta string, hash string"


# ---------------------------------------------------------------- on the executors


def _chunker(text_field: str, id_field: str | None, representation: str):
    """mapInArrow function: batches of file paths -> batches of their chunks and hashes."""

    def run(batches):
        import pyarrow as pa

        from embedsearch.chunking import chunk_text
        from embedsearch.errors import EmbedsearchError as Refused
        from embedsearch.codeindex.representation import embed_hash

        names = [c.split()[0] for c in CHUNK_COLUMNS.split(", ")]
        kinds = {"string": pa.string(), "int": pa.int32()}  # exactly CHUNK_COLUMNS, or Spark refuses the batch
        schema = pa.schema([(n, kinds[c.split()[1]]) for n, c in zip(names, CHUNK_COLUMNS.split(", "))])
        for batch in batches:
            out: dict[str, list] = {n: [] for n in names}
            for path in batch.column("path").to_pylist():
                try:
                    data = Path(path).read_bytes()
                except OSError:
                    continue
                if not data.strip() or b"\x00" in data[:8192]:
                    continue
                try:
                    chunks = chunk_text(path, data.decode("utf-8", errors="replace"), text_field, id_field)
                except Refused:
                    continue
                for c in chunks:
                    for n, v in zip(names, (c.path, c.start_line, c.end_line, c.kind, c.name, c.text,
                                            json.dumps(c.meta, ensure_ascii=False, default=str),
                                            embed_hash(c, representation))):
                        out[n].append(v)
            yield pa.RecordBatch.from_pydict(out, schema=schema)

    return run


_ENCODERS: dict = {}  # per executor process: the export loaded once


def _encoder_on_executor(folder: str):
    if folder not in _ENCODERS:
        from embedsearch.onnx_encoder import META_FILE, OnnxEncoder

        meta = json.loads((Path(folder) / META_FILE).read_text())
        # one thread: Spark runs a task per core, so a task's encoder using every core would
        # oversubscribe the machine as soon as two tasks share it (local[2] ran slower than local[1])
        _ENCODERS[folder] = OnnxEncoder(Path(folder), meta, threads=1, bulk=True)
    return _ENCODERS[folder]


def _encoder_job(export_name: str, representation: str):
    """mapInArrow function: batches of chunks -> the same with their vectors."""

    def run(batches):
        import pyarrow as pa
        from pyspark import SparkFiles

        from embedsearch.chunking import Chunk
        from embedsearch.codeindex.indexing import chunk_vectors

        encoder = _encoder_on_executor(SparkFiles.get(export_name))
        for batch in batches:
            cols = batch.to_pydict()
            chunks = [Chunk(p, s, e, k, n, t, json.loads(m or "{}")) for p, s, e, k, n, t, m in
                      zip(cols["path"], cols["start_line"], cols["end_line"], cols["kind"], cols["name"],
                          cols["text"], cols["meta"])]
            vectors = chunk_vectors(chunks, representation, encoder)[0] if chunks else np.zeros((0, 1))
            yield batch.append_column("vector", pa.array([v.tolist() for v in vectors],
                                                         type=pa.list_(pa.float32())))

    return run


# ---------------------------------------------------------------- the jobs


def encode_corpus(home: Home | Path | str, paths: list[str], out: str, model: str | None = None,
                  master: str = "local[2]", text_field: str = "text", id_field: str | None = None,
                  max_file_bytes: int | None = None, exclude: list[str] | None = None,
                  representation: str | None = None) -> dict:
    """Chunk and encode every file under `paths` on Spark into the Parquet dataset `out`,
    reusing the vectors of chunks `out` already holds; returns what was done."""
    from embedsearch.encoding import resolve_encoder
    from embedsearch.fileio import replace_folder
    from embedsearch.codeindex.indexing import DEFAULT_OPTIONS
    from embedsearch.onnx_encoder import META_FILE, cache_dir
    from embedsearch.walk import MAX_FILE_BYTES, discover

    started = time.perf_counter()
    home = Home.of(home)
    representation = representation or DEFAULT_OPTIONS["representation"]
    target = Path(out).expanduser().absolute()
    encoder = resolve_encoder(home, model)  # exports the model into the home's cache when it can
    export = cache_dir(home, encoder.info.digest)
    if not (export / META_FILE).is_file():
        raise EmbedsearchError(f"the Spark job ships the encoder's ONNX export to the executors, and "
                               f"{encoder.info.name} could not be exported; use an exportable model")
    walk = discover(paths, max_bytes=max_file_bytes or MAX_FILE_BYTES, exclude=list(exclude or []))
    files = [str(p) for p in walk.files]
    if not files:
        raise EmbedsearchError(f"no files to index under {', '.join(paths)}")
    previous = _sidecar(target)
    reuse = previous is not None and previous.get("encoder", {}).get("digest") == encoder.info.digest \
        and previous.get("options", {}).get("representation") == representation
    spark = session(master, "embedsearch index")
    try:
        from pyspark.sql import functions as F

        spark.sparkContext.addFile(str(export), recursive=True)
        parts = max(1, min(len(files), spark.sparkContext.defaultParallelism * 4))
        listed = spark.createDataFrame([(f,) for f in files], "path string").repartition(parts)
        chunks = listed.mapInArrow(_chunker(text_field, id_field, representation), CHUNK_COLUMNS).cache()
        n_chunks = chunks.count()
        if n_chunks == 0:
            raise EmbedsearchError(f"no text to index under {', '.join(paths)}")
        vector_schema = CHUNK_COLUMNS + ", vector array<float>"
        if reuse:
            old = spark.read.parquet(str(target)).select("hash", "vector").dropDuplicates(["hash"])
            joined = chunks.join(old, "hash", "left").select(*[c.split()[0] for c in vector_schema.split(", ")])
            kept = joined.filter(F.col("vector").isNotNull())
            todo = joined.filter(F.col("vector").isNull()).drop("vector")
        else:
            kept, todo = None, chunks
        encoded = todo.mapInArrow(_encoder_job(export.name, representation), vector_schema)
        result = encoded if kept is None else kept.unionByName(encoded)
        sidecar = {"format": 1, "encoder": encoder.info.as_dict(), "sources": [os.path.abspath(p) for p in paths],
                   "options": {"text_field": text_field, "id_field": id_field, "representation": representation,
                               "lexical_weight": DEFAULT_OPTIONS["lexical_weight"]},
                   "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "chunks": n_chunks}

        def write(tmp: Path) -> None:
            result.write.mode("overwrite").parquet(str(tmp))
            (tmp / SIDECAR).write_text(json.dumps(sidecar, indent=2))

        embedded = todo.count()
        target.parent.mkdir(parents=True, exist_ok=True)
        encoding_started = time.perf_counter()
        replace_folder(target, write)  # runs the encoding: the job's throughput is chunks over this time
        encoding_seconds = time.perf_counter() - encoding_started
        files_read = spark.read.parquet(str(target)).select("path").distinct().count()
    finally:
        spark.stop()
    return {"out": str(target), "files_listed": len(files), "files_read": files_read, "chunks": n_chunks,
            "embedded": embedded, "reused": n_chunks - embedded, "skipped": dict(walk.skipped),
            "encoder": encoder.info.name, "seconds": time.perf_counter() - started,
            "encoding_seconds": encoding_seconds}


def _sidecar(folder: Path) -> dict | None:
    try:
        return json.loads((folder / SIDECAR).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def build_from_parquet(home: Home | Path | str, name: str, dataset: str, wait: float = 0.0, shards: int = 1) -> dict:
    """An ordinary index NAME from a dataset `encode_corpus` wrote (vectors as stored, no
    encoder run), committed like any index generation, or with `shards` > 1 that many
    ordinary indexes under NAME (shards.py); returns what was done."""
    import pyarrow.parquet as pq

    from embedsearch.ann import HnswParams
    from embedsearch.codeindex.store import Item, manifest_generation, write_generation

    started = time.perf_counter()
    home = Home.of(home)
    folder = Path(dataset).expanduser().absolute()
    meta = _sidecar(folder)
    if meta is None:
        raise EmbedsearchError(f"{dataset} is not a dataset written by `embedsearch index --engine spark` "
                               f"(no {SIDECAR} in it)")
    try:
        table = pq.read_table(folder, columns=["path", "start_line", "end_line", "kind", "name", "hash", "text",
                                               "meta", "vector"])
    except Exception as exc:  # pyarrow raises several kinds for a damaged dataset
        raise EmbedsearchError(f"cannot read {dataset}: {type(exc).__name__}: {exc}") from None
    table = table.sort_by([("path", "ascending"), ("start_line", "ascending"), ("end_line", "descending")])
    n, dim = table.num_rows, int(meta["encoder"]["dim"])
    flat = table.column("vector").combine_chunks()
    vectors = np.asarray(flat.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
    if n == 0 or vectors.size != n * dim:
        raise EmbedsearchError(f"{dataset}: {n} chunks but {vectors.size} vector values; expected {dim} per chunk")
    vectors = vectors.reshape(n, dim)  # (n, dim)
    cols = {c: table.column(c).to_pylist() for c in ("path", "start_line", "end_line", "kind", "name", "hash",
                                                     "text", "meta")}
    try:
        rows = [Item(p, s, e, k, nm, t, json.loads(m or "{}"), id=i, hash=h) for i, (p, s, e, k, nm, h, t, m) in
                enumerate(zip(*(cols[c] for c in ("path", "start_line", "end_line", "kind", "name", "hash", "text",
                                                  "meta"))))]
    except (ValueError, TypeError) as exc:
        raise EmbedsearchError(f"cannot read {dataset}: a chunk's meta column is not JSON ({exc})") from None
    manifest = {"kind": "code", "encoder": meta["encoder"], "sources": meta.get("sources", []),
                "options": {**meta.get("options", {}), "from_parquet": str(folder)}}
    if shards > 1:
        from embedsearch.codeindex.shards import write_sharded

        write_sharded(home, name, manifest, vectors, rows, shards, HnswParams(), wait=wait)
    else:
        with home.lock(name, wait=wait):
            existing = home.peek(name)
            if existing is not None and existing.get("kind") not in (None, "code"):
                raise EmbedsearchError(f"{name!r} is a {existing.get('kind')} entry in {home}, not an index; "
                                       "choose another --name")
            write_generation(home, name, manifest, vectors, rows, HnswParams(),
                             based_on=manifest_generation(home.folder(name)))
    return {"name": name, "from_parquet": str(folder), "chunks": n, "dim": dim, "shards": shards,
            "files": len(set(cols["path"])), "seconds": time.perf_counter() - started}

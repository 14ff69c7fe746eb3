"""Writing a table out: .npy (+ keys), word2vec text, or the TensorFlow Embedding Projector's
vectors.tsv + metadata.tsv (https://projector.tensorflow.org, "Load")."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedsearch.errors import EmbedsearchError
from embedsearch.tables.base import Table

FORMATS = ("npy", "word2vec", "projector")


@dataclass
class Exported:
    table: str
    format: str
    rows: int
    files: list[str]
    renamed_keys: int = 0  # keys whose whitespace became '_' (word2vec cannot hold spaces)

    def as_dict(self) -> dict:
        return {"table": self.table, "format": self.format, "rows": self.rows, "files": self.files,
                "renamed_keys": self.renamed_keys}


def _clean(key: str) -> str:
    """A key as one TSV cell: tabs and newlines would break the projector's columns."""
    return " ".join(key.split()) or "_"


def export_table(table: Table, fmt: str, out: str | Path, limit: int | None = None) -> Exported:
    """Write the first `limit` rows (all by default) of a table in one of FORMATS.

    npy: OUT (the (n, d) float32 array) and OUT with .keys.txt (one key a line, row order).
    word2vec: OUT as word2vec text. projector: the folder OUT with vectors.tsv and
    metadata.tsv (a header row with key and label columns when the table has labels)."""
    if fmt not in FORMATS:
        raise EmbedsearchError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if limit is not None and limit < 1:
        raise EmbedsearchError(f"--limit must be at least 1, got {limit}")
    n = min(limit or len(table), len(table))
    keys = table.keys[:n]
    vectors = np.asarray(table.vectors[:n], dtype=np.float32)  # (n, d)
    out = Path(out).expanduser()
    if fmt == "npy":
        out = out if out.suffix == ".npy" else out.with_name(out.name + ".npy")
        out.parent.mkdir(parents=True, exist_ok=True)
        np.save(out, vectors)
        keys_path = out.with_suffix(".keys.txt")
        keys_path.write_text("".join(_clean(k) + "\n" for k in keys), encoding="utf-8")
        return Exported(table.name, fmt, n, [str(out), str(keys_path)],
                        sum(_clean(k) != k for k in keys))
    if fmt == "word2vec":
        from embedsearch.tables.wordvec_files import write_word2vec

        out.parent.mkdir(parents=True, exist_ok=True)
        renamed = write_word2vec(out, keys, vectors)
        return Exported(table.name, fmt, n, [str(out)], renamed)
    out.mkdir(parents=True, exist_ok=True)
    row_fmt = "\t".join(["%.6g"] * vectors.shape[1])
    with open(out / "vectors.tsv", "w", encoding="utf-8") as f:
        for v in vectors:
            f.write(row_fmt % tuple(v.tolist()) + "\n")
    with open(out / "metadata.tsv", "w", encoding="utf-8") as f:
        if table.labels:  # more than one column: the projector wants a header row
            f.write("key\tfirst_label\tlabels\n")
            for k in keys:
                ls = table.labels.get(k) or []
                f.write(f"{_clean(k)}\t{_clean(ls[0]) if ls else ''}\t{_clean(', '.join(ls))}\n")
        else:  # one column: no header
            f.writelines(_clean(k) + "\n" for k in keys)
    return Exported(table.name, fmt, n, [str(out / "vectors.tsv"), str(out / "metadata.tsv")],
                    sum(_clean(k) != k for k in keys))

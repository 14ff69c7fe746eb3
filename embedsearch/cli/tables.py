"""`embedsearch tables | lookup | neighbours | analogy | similarity | doesnt-match |
most-similar | compare | export`: every embedding
space as a lookup table with named keys. Each command parses, calls one library function
(embedsearch.tables), and renders."""

from __future__ import annotations

import click

from embedsearch.cli.render import EXACT_OPTION, JSON_OPTION, console, json_lines, k_option, progress_bar, table



def _notes(t) -> None:
    """What a lookup chose for the user ('Paris' -> 'paris'), on stderr so JSON stays clean."""
    for note in t.notes:
        console(stderr=True).print(f"note: {note}")


def _fmt(x) -> str:
    return "-" if x is None else (f"{x:,}" if isinstance(x, int) else f"{x:.3f}")


@click.group("tables", invoke_without_command=True)
@JSON_OPTION
@click.pass_context
def tables_group(ctx: click.Context, as_json: bool) -> None:
    """List every table: GloVe, the encoder's token table, CF factors, index vectors, your files.

    Alone it lists; `tables add NAME PATH` registers a word2vec or GloVe file."""
    if ctx.invoked_subcommand is not None:
        return
    from embedsearch.tables.registry import list_tables

    infos = list_tables(ctx.obj["home"])
    if as_json:
        json_lines(i.as_dict() for i in infos)
        return
    console().print(table("tables", ["name", "kind", "keys", "dim", "source"],
                          [[i.name, i.kind, _fmt(i.count), _fmt(i.dim), i.source] for i in infos]))


@tables_group.command("add")
@click.argument("name")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["auto", "word2vec", "word2vec-binary", "glove"]),
              default="auto", show_default=True, help="File format (auto: a 'COUNT DIM' header means word2vec).")
@JSON_OPTION
@click.pass_obj
def add_cmd(obj, name, path, fmt, as_json):
    """Register a word2vec (text or binary) or GloVe text file as table NAME (read once)."""
    from embedsearch.tables.registry import add_file

    with progress_bar(f"reading {path}") as start:
        advance = start(None) if not as_json else None
        entry = add_file(obj["home"], name, path, fmt, progress=advance)
    if as_json:
        json_lines([entry])
        return
    dup = f", {entry['duplicates']} repeated keys dropped" if entry["duplicates"] else ""
    console().print(f"table {name!r}: {entry['count']:,} keys x {entry['dim']} dims ({entry['format']}){dup}")


@tables_group.command("rm")
@click.argument("name")
@click.pass_obj
def rm_cmd(obj, name):
    """Forget a registered table (the file itself is left alone)."""
    from embedsearch.tables.registry import remove

    remove(obj["home"], name)
    console().print(f"removed table {name!r}")


@click.command("lookup")
@click.argument("table_name", metavar="TABLE")
@click.argument("key")
@JSON_OPTION
@click.pass_obj
def lookup_cmd(obj, table_name, key, as_json):
    """Print the row of KEY, and show that one_hot(KEY) @ W picks the same row."""
    from embedsearch.tables.ops import lookup
    from embedsearch.tables.registry import open_table

    t = open_table(obj["home"], table_name)
    res = lookup(t, key)
    _notes(t)
    if as_json:
        json_lines([res.as_dict()])
        return
    c = console()
    c.print(f"{res.table}[{res.key!r}] = row {res.row} of {len(res.one_hot_vector)} dims, "
            f"norm {float((res.vector ** 2).sum() ** 0.5):.4f}")
    c.print("  " + " ".join(f"{x:+.4f}" for x in res.vector))
    verdict = "identical" if res.max_abs_difference == 0 else f"max |difference| {res.max_abs_difference:.2e}"
    c.print(f"one_hot({res.row}) @ W: {verdict} to the row (an embedding lookup is that product, without it)")


@click.command("neighbours")
@click.argument("table_name", metavar="TABLE")
@click.argument("key", required=False)
@click.option("--vector", default=None, help="Query with these numbers instead of a key (comma or space separated).")
@k_option("How many neighbours.")
@EXACT_OPTION
@JSON_OPTION
@click.pass_obj
def neighbours_cmd(obj, table_name, key, vector, k, exact, as_json):
    """Nearest keys to KEY (or --vector) by cosine. The HNSW index is built on first use and
    kept in the index home."""
    from embedsearch.errors import EmbedsearchError
    from embedsearch.tables.ops import neighbours
    from embedsearch.tables.registry import open_table

    values = None
    if vector is not None:
        try:
            values = [float(v) for v in vector.replace(",", " ").split()]
        except ValueError:
            raise EmbedsearchError(f"--vector must be numbers separated by commas or spaces, got {vector!r}") from None
    t = open_table(obj["home"], table_name)
    with progress_bar(f"building HNSW index of {table_name}") as start:
        hits = neighbours(t, key, values, k=k, exact=exact, home=obj["home"], progress=None if as_json else start)
    _notes(t)
    if as_json:
        json_lines(h.as_dict() for h in hits)
        return
    what = repr(key) if key is not None else "the vector"
    console().print(table(f"nearest to {what} in {table_name}{' (exact)' if exact else ''}",
                          ["#", "key", "cosine"], [[str(i), h.key, f"{h.cosine:.4f}"] for i, h in enumerate(hits, 1)]))


@click.command("analogy")
@click.argument("table_name", metavar="TABLE")
@click.argument("a")
@click.argument("b")
@click.argument("c")
@k_option("How many answers of each kind (3CosAdd, 3CosMul).", default=5)
@click.option("--restrict-vocab", type=int, default=None, help="Answer only among the first N keys.")
@JSON_OPTION
@click.pass_obj
def analogy_cmd(obj, table_name, a, b, c, k, restrict_vocab, as_json):
    """A - B + C: `analogy glove-6B-50d king man woman` -> queen, by 3CosAdd and 3CosMul
    (the three input keys are never answers)."""
    from embedsearch.tables.ops import analogy
    from embedsearch.tables.registry import open_table

    t = open_table(obj["home"], table_name)
    res = analogy(t, a, b, c, k=k, restrict=restrict_vocab)
    _notes(t)
    if as_json:
        json_lines([res.as_dict()])
        return
    rows = [[str(i + 1), f"{x.key} ({x.cosine:.3f})", f"{y.key} ({y.cosine:.3f})"]
            for i, (x, y) in enumerate(zip(res.add, res.mul))]
    a_, b_, c_ = res.inputs
    console().print(table(f"{a_} - {b_} + {c_} in {table_name}", ["#", "3CosAdd", "3CosMul"], rows))


@click.command("similarity")
@click.argument("table_name", metavar="TABLE")
@click.argument("a")
@click.argument("b")
@JSON_OPTION
@click.pass_obj
def similarity_cmd(obj, table_name, a, b, as_json):
    """Cosine of A and B in TABLE (gensim's `similarity`): `similarity glove-6b-50d cat dog`."""
    from embedsearch.tables.ops import similarity
    from embedsearch.tables.registry import open_table

    t = open_table(obj["home"], table_name)
    cosine = similarity(t, a, b)
    a, b = t.keys[t.row_of(a)], t.keys[t.row_of(b)]  # the keys used (another case falls back, with a note)
    _notes(t)
    if as_json:
        json_lines([{"table": table_name, "a": a, "b": b, "cosine": round(cosine, 6)}])
    else:
        console().print(f"cosine({a}, {b}) = {cosine:.4f} in {table_name}")


@click.command("doesnt-match")
@click.argument("table_name", metavar="TABLE")
@click.argument("keys", nargs=-1, required=True)
@JSON_OPTION
@click.pass_obj
def doesnt_match_cmd(obj, table_name, keys, as_json):
    """The key of KEYS least like the others (gensim's `doesnt_match`): the one furthest
    from their mean. `doesnt-match glove-6b-50d breakfast cereal dinner lunch`."""
    from embedsearch.tables.ops import doesnt_match
    from embedsearch.tables.registry import open_table

    if len(keys) < 3:
        raise click.UsageError(f"give at least three KEYS to find the odd one out, got {len(keys)}")
    t = open_table(obj["home"], table_name)
    res = doesnt_match(t, keys)
    _notes(t)
    if as_json:
        json_lines([{"table": table_name, **res.as_dict()}])
        return
    rows = [[k, f"{c:.4f}", "<- odd one out" if k == res.odd else ""] for k, c in res.cosines]
    console().print(table(f"which does not match, in {table_name}", ["key", "cosine to the mean", ""], rows))


@click.command("most-similar")
@click.argument("table_name", metavar="TABLE")
@click.option("--pos", "positive", multiple=True, metavar="KEY", help="A key to move towards (repeatable).")
@click.option("--neg", "negative", multiple=True, metavar="KEY", help="A key to move away from (repeatable).")
@k_option("How many answers.", most=10_000)
@click.option("--cosmul", is_flag=True, help="Multiply shifted cosines (3CosMul, gensim's most_similar_cosmul) "
                                              "instead of adding vectors.")
@JSON_OPTION
@click.pass_obj
def most_similar_cmd(obj, table_name, positive, negative, k, cosmul, as_json):
    """Keys nearest to the sum of the --pos keys minus the --neg keys (gensim's
    `most_similar`): `most-similar glove-6b-50d --pos king --pos woman --neg man`."""
    from embedsearch.tables.ops import most_similar
    from embedsearch.tables.registry import open_table

    if not positive and not negative:
        raise click.UsageError("give at least one --pos or --neg KEY")
    t = open_table(obj["home"], table_name)
    hits = most_similar(t, positive, negative, k=k, cosmul=cosmul)
    _notes(t)
    if as_json:
        json_lines({"key": h.key, "row": h.row, "score": round(h.cosine, 6)} for h in hits)
        return
    query = " + ".join(positive) + "".join(f" - {n}" for n in negative)
    console().print(table(f"{query.lstrip(' +')} in {table_name}{' (3CosMul)' if cosmul else ''}",
                          ["#", "key", "score"], [[str(i), h.key, f"{h.cosine:.4f}"] for i, h in enumerate(hits, 1)]))


@click.command("compare")
@click.argument("table_names", nargs=-1, metavar="[TABLE...]")
@click.option("--cf", "cf_model", default=None, help="CF model whose item factors to use [default: the first].")
@click.option("--data", default=None, type=click.Path(file_okay=False),
              help="MovieLens 100K folder for titles and genres [default: the CF model's, else downloaded].")
@k_option("Neighbours per key.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Movie comparison: only the first N movies of u.item.")
@click.option("--max-keys", type=click.IntRange(min=1), default=3000, show_default=True,
              help="Compare at most this many shared keys.")
@click.option("--picture", default="compare.png", show_default=True, type=click.Path(dir_okay=False),
              help="Where to write the side-by-side PCA picture (PNG).")
@click.option("--no-picture", is_flag=True, help="Skip the picture.")
@click.option("--raw-cka", is_flag=True,
              help="Linear CKA on the rows as stored, norms included (default: unit rows; CF factor norms carry popularity).")
@JSON_OPTION
@click.pass_obj
def compare_cmd(obj, table_names, cf_model, data, k, limit, max_keys, picture, no_picture, raw_cka, as_json):
    """Compare tables over their shared keys: neighbour overlap@k, genre agreement@k, linear
    CKA, Spearman of pairwise cosines, the cross-validated R² of a linear map each way, and a
    PCA picture.

    With no TABLE: the same movies three ways - CF item factors, the sentence encoder on
    "title (year): genres", and GloVe averaged over title words."""
    from embedsearch.tables.compare import compare_tables, movie_tables
    from embedsearch.tables.registry import open_table

    home = obj["home"]
    if table_names:
        if len(table_names) < 2:
            raise click.UsageError("name at least two tables (or none, for the movie comparison)")
        tables = [open_table(home, n) for n in table_names]
    else:
        with progress_bar("encoding movie titles") as start:
            tables = movie_tables(home, cf_model, data, progress=None if as_json else start, limit=limit)
    report = compare_tables(tables, k=k, max_keys=max_keys, picture=None if no_picture else picture, raw_cka=raw_cka)
    if as_json:
        json_lines([report.as_dict()])
        return
    rows = [[p.a, p.b, f"{p.used:,}", f"{p.overlap:.3f}", f"{p.cka:.3f}", _fmt(p.cosine_spearman)]
            for p in report.pairs]
    console().print(table(f"tables compared over shared keys (k = {k})",
                          ["table A", "table B", "keys", f"overlap@{k}", "CKA (raw)" if raw_cka else "CKA",
                           "Spearman"], rows, right=("keys", f"overlap@{k}", "CKA", "CKA (raw)", "Spearman")))
    genres: dict[str, float] = {}
    for p in report.pairs:
        genres.update(p.genre_agreement)
    if genres:
        console().print(table(f"genre agreement@{k}: share of a key's neighbours with a genre in common",
                              ["table", "genre agreement"], [[n, f"{g:.3f}"] for n, g in genres.items()],
                              right=("genre agreement",)))
    maps = []
    for p in report.pairs:
        for src, dst, r2, per in ((p.a, p.b, p.r2_a_to_b, p.r2_per_dim_a_to_b), (p.b, p.a, p.r2_b_to_a, p.r2_per_dim_b_to_a)):
            maps.append([src, dst, f"{r2:.3f}", f"{min(per):.2f} .. {max(per):.2f}"])
    console().print(table("cross-validated R² of a linear map from one table to the other",
                          ["from", "to", "R²", "R² per column of 'to'"], maps, right=("R²",)))
    if report.picture:
        console().print(f"picture: {report.picture}")


@click.command("export")
@click.argument("table_name", metavar="TABLE")
@click.option("--format", "fmt", type=click.Choice(["npy", "word2vec", "projector"]), required=True)
@click.option("--out", default=None, type=click.Path(),
              help="Output file (npy, word2vec) or folder (projector) [default: TABLE.npy / TABLE.txt / TABLE-projector/].")
@click.option("--limit", type=int, default=None, help="Only the first N rows.")
@JSON_OPTION
@click.pass_obj
def export_cmd(obj, table_name, fmt, out, limit, as_json):
    """Write a table as .npy (+ keys), word2vec text, or Embedding Projector TSV files."""
    from embedsearch.tables.export import export_table
    from embedsearch.tables.registry import open_table

    out = out or {"npy": f"{table_name}.npy", "word2vec": f"{table_name}.txt", "projector": f"{table_name}-projector"}[fmt]
    res = export_table(open_table(obj["home"], table_name), fmt, out, limit)
    if as_json:
        json_lines([res.as_dict()])
        return
    note = f" ({res.renamed_keys} keys had whitespace replaced)" if res.renamed_keys else ""
    console().print(f"wrote {res.rows:,} rows of {table_name} as {fmt}: {', '.join(res.files)}{note}")


@click.command("align")
@click.argument("table_a", metavar="A")
@click.argument("table_b", metavar="B")
@click.option("--key", "keys", multiple=True, metavar="KEY",
              help="Show this key's translated neighbours: B's keys nearest its mapped A-row (repeatable).")
@click.option("--map", "maps", type=click.Choice(["procrustes", "ridge", "both"]), default="both", show_default=True,
              help="procrustes: orthogonal (keeps A's geometry); ridge: any linear map, penalty by cross-validation.")
@k_option("Neighbours per key.", most=1000)
@click.option("--test-share", type=float, default=0.2, show_default=True,
              help="Shared keys held out to measure precision@1/@10 of finding the same key.")
@click.option("--max-keys", type=click.IntRange(min=25), default=20_000, show_default=True,
              help="Use at most this many shared keys (the first in A's order).")
@click.option("--seed", default=0, show_default=True, help="Seed of the held-out keys.")
@JSON_OPTION
@click.pass_obj
def align_cmd(obj, table_a, table_b, keys, maps, k, test_share, max_keys, seed, as_json):
    """Map table A onto table B over their shared keys and measure how often a held-out key's
    mapped A-row finds its own B-row (precision@1, @10); with --key, its translated neighbours."""
    from embedsearch.tables.align import MAPS, align
    from embedsearch.tables.registry import open_table

    a, b = open_table(obj["home"], table_a), open_table(obj["home"], table_b)
    out = align(a, b, list(keys), MAPS if maps == "both" else (maps,), k, test_share, max_keys, seed)
    _notes(a)
    if as_json:
        json_lines([out.as_dict()])
        return
    term = console()
    rows = [[m, f"{p['precision_at_1']:.3f}", f"{p['precision_at_10']:.3f}"] for m, p in out.precision.items()]
    term.print(f"{out.a} -> {out.b}: {out.used:,} of {out.shared:,} shared keys used")
    term.print(f"maps fitted on {out.train:,}, tested on {out.test:,} held out (chance@1 {1 / out.used:.5f})")
    term.print(table("a held-out key finds its own row", ["map", "precision@1", "precision@10"], rows,
                     right=("precision@1", "precision@10")))
    for key, per_map in out.translations.items():
        for m, hits in per_map.items():
            term.print(table(f"{key!r} from {out.a} translated into {out.b} ({m})", ["#", "key", "cosine"],
                             [[str(i), h["key"], f"{h['cosine']:.3f}"] for i, h in enumerate(hits, 1)],
                             right=("#", "cosine")))

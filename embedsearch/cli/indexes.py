"""`embedsearch index / search / similar / list / info / rm`: code and text indexes.

Each command parses, calls one library function, and renders."""

from __future__ import annotations

import os

import click

from embedsearch.cli.render import (EXACT_OPTION, JSON_OPTION, console, given_options, human_bytes, json_lines,
                                    k_option, location, preview, progress_bar, table)
from embedsearch.codeindex.filters import KINDS, LANGUAGES, Filters

K_OPTION = k_option("How many results to show.")


def filter_options(command):
    """--glob, --kind, --lang, --where, --min-score: which items may answer (filters.Filters)."""
    for option in reversed([
        click.option("--glob", "globs", multiple=True, metavar="GLOB",
                     help="Only paths matching GLOB (any tail of the path; 'json/' = under json; '!GLOB' "
                          "excludes). Repeatable."),
        click.option("--kind", "kinds", multiple=True, type=click.Choice(KINDS), help="Only this kind. Repeatable."),
        click.option("--lang", "langs", multiple=True, type=click.Choice(list(LANGUAGES)),
                     help="Only files of this language. Repeatable."),
        click.option("--where", "where", multiple=True, metavar="FIELD=VALUE",
                     help="Only records whose FIELD (a JSONL/CSV column) is VALUE. Repeatable."),
        click.option("--min-score", type=float, default=None, help="Leave out results scoring below this."),
    ]):
        command = option(command)
    return command


FORMAT_OPTION = click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "grep", "paths"]), default=None,
    help="table (default); json (= --json); grep: 'path:line: name  score' lines, as editors' "
         "quickfix lists read; paths: each file once, best first.")


def _print_hits(fmt: str, hits, queries: list[str] | None = None) -> bool:
    """Print hits as grep lines or paths; False when `fmt` is another format. With several
    queries (`queries[i]` asked for `hits[i]`, a list), each grep line ends with its query."""
    if fmt == "grep":
        for h, q in zip(hits, queries or [None] * len(hits)):
            click.echo(f"{_editor_path(h.path)}:{h.start_line}: {h.name}  {h.score:.3f}" + (f"  [{q}]" if q else ""))
    elif fmt == "paths":
        for path in dict.fromkeys(_editor_path(h.path) for h in hits):
            click.echo(path)
    else:
        return False
    return True


def _editor_path(path: str) -> str:
    """A path an editor opens from the working folder: relative when below it, else absolute."""
    rel = os.path.relpath(path) if os.path.isabs(path) else path
    return path if rel.startswith("..") else rel


def _filters(globs, kinds, langs, where, min_score) -> Filters:
    return Filters.parse(globs, kinds, langs, where, min_score)


WAIT_OPTION = click.option(  # the flag arrives as the seconds the library waits: forever, or not at all
    "--wait", is_flag=True, callback=lambda ctx, param, value: float("inf") if value else 0.0,
    help="When another process is writing NAME, wait for it to finish instead of stopping.")


def _waiting(message: str) -> None:
    console(stderr=True).print(message + " ...")


def _index_spark(ctx, paths, name, model, text_field, id_field, max_bytes, exclude, engine, out, master,
                 from_parquet, shards, wait, as_json):
    """`index --engine spark` (encode on Spark, then build) and `index --from-parquet`."""
    from embedsearch.codeindex.spark import build_from_parquet, encode_corpus

    unused = given_options(ctx, "add", "remove", "replace", "rebuild", "no_exclude")
    if unused:
        raise click.UsageError(f"{', '.join(unused)} work on local indexes; a Spark-built index is rebuilt from "
                               "its dataset")
    term = console()
    if engine == "spark":
        if from_parquet:
            raise click.UsageError("give --engine spark with --out DATASET, or --from-parquet DATASET, not both")
        if not out or not paths:
            raise click.UsageError("--engine spark needs PATHS and --out DATASET (where the encoded chunks go)")
        encoded = encode_corpus(ctx.obj["home"], list(paths), out, model, master, text_field or "text", id_field,
                                max_bytes, list(exclude) or None)
        if not as_json:
            term.print(f"encoded on Spark ({master}): {encoded['files_read']} files read of {encoded['files_listed']}, "
                       f"{encoded['chunks']} chunks, {encoded['embedded']} embedded, {encoded['reused']} reused "
                       f"from the previous dataset, {encoded['seconds']:.1f} s -> {encoded['out']}")
        from_parquet = encoded["out"]
    built = build_from_parquet(ctx.obj["home"], name, from_parquet, wait=wait, shards=shards)
    if as_json:
        json_lines([{**(encoded if engine == "spark" else {}), **built}])
        return
    split = f" in {shards} shards" if shards > 1 else ""
    term.print(f"[bold]{name}[/]: {built['chunks']} chunks from {built['files']} files{split}, built from "
               f"{built['from_parquet']} in {built['seconds']:.1f} s")


def _confirm(message: str) -> bool:
    """Ask before a run drops most of an index; refuse where nobody can answer."""
    import sys

    return sys.stdin.isatty() and click.confirm(message + "; go on?", default=False, err=True)


@click.command("index")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--name", "-n", required=True, help="Index name (a folder under the index home).")
@click.option("--add", "add", multiple=True, type=click.Path(), metavar="PATH",
              help="Add PATH to the index's sources (repeatable).")
@click.option("--remove", "remove", multiple=True, type=click.Path(), metavar="PATH",
              help="Drop PATH, one of the index's sources, and everything from it (repeatable).")
@click.option("--replace", is_flag=True, help="Make PATHS the index's only sources (asks first when that "
                                               "drops more than half its chunks).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before --replace drops most of the index.")
@click.option("--model", default=None, help="sentence-transformers model name or folder [default: packaged all-MiniLM-L6-v2].")
@click.option("--text-field", default=None, help="Column holding the text in JSONL/CSV files; several joined "
                                                 "with commas (title,overview) [default: text, or what NAME was "
                                                 "built with].")
@click.option("--id-field", default=None, help="Column that identifies a JSONL/CSV record (its name in results; "
                                               "rows are matched by it on updates).")
@click.option("--max-file-size", "max_bytes", type=click.IntRange(min=1), default=None,
              help="Skip files larger than this many bytes [default: 1000000, or what NAME was built with].")
@click.option("--exclude", multiple=True, help=".gitignore-style pattern to skip (repeatable; replaces the "
                                               "patterns NAME was built with).")
@click.option("--no-exclude", is_flag=True, help="Forget the --exclude patterns NAME was built with.")
@click.option("--rebuild", is_flag=True, help="Re-embed everything instead of reusing unchanged chunks.")
@click.option("--engine", type=click.Choice(["local", "spark"]), default="local", show_default=True,
              help="spark: chunk and encode PATHS on Spark into the Parquet dataset --out, then build NAME from it.")
@click.option("--out", "out", type=click.Path(file_okay=False), default=None,
              help="--engine spark: the Parquet dataset to write (a re-run encodes only chunks it lacks).")
@click.option("--master", default="local[2]", show_default=True,
              help="--engine spark: where Spark runs (local[N], spark://HOST:7077, yarn, k8s://...).")
@click.option("--from-parquet", "from_parquet", type=click.Path(file_okay=False), default=None,
              help="Build NAME from a dataset `--engine spark` wrote (no encoding here).")
@click.option("--shards", type=click.IntRange(min=1), default=1, show_default=True,
              help="With --engine spark or --from-parquet: split NAME into this many ordinary indexes "
                   "(by a hash of each file's path); search merges their answers.")
@WAIT_OPTION
@JSON_OPTION
@click.pass_context
def index_cmd(ctx, paths, name, add, remove, replace, yes, model, text_field, id_field, max_bytes, exclude,
              no_exclude, rebuild, engine, out, master, from_parquet, shards, wait, as_json):
    """Index code and text under PATHS as NAME (incremental when NAME exists).

    A new index holds PATHS. An existing one keeps its sources: with no PATHS (or the same
    ones) it is brought up to date with the options it was built with, or with those given;
    --add and --remove change its sources; --replace makes PATHS its only ones."""
    from embedsearch.codeindex.indexing import build_index

    obj = ctx.obj
    if exclude and no_exclude:
        raise click.UsageError("give --exclude or --no-exclude, not both")
    if engine == "spark" or from_parquet:
        return _index_spark(ctx, paths, name, model, text_field, id_field, max_bytes, exclude, engine, out, master,
                            from_parquet, shards, wait, as_json)
    if given_options(ctx, "out", "master", "shards"):
        raise click.UsageError("--out, --master and --shards belong to --engine spark and --from-parquet")

    with progress_bar("embedding") as progress:
        summary = build_index(name, list(paths) or None, obj["home"], model=model, text_field=text_field,
                              id_field=id_field,
                              max_file_bytes=max_bytes, exclude=list(exclude) or ([] if no_exclude else None), rebuild=rebuild,
                              progress=None if as_json else progress, add=list(add), remove=list(remove),
                              replace=replace, confirm=None if yes else _confirm,
                              wait=wait, on_wait=_waiting)
    if as_json:
        json_lines([summary.as_dict()])
        return
    out = console()
    s = summary
    if s.up_to_date:
        out.print(f"[bold]{name}[/]: up to date ({s.chunks} chunks from {s.files_read} files, {s.seconds:.1f} s)")
        return
    out.print(f"[bold]{name}[/]: {s.files_read} files read, {s.chunks} chunks "
              f"(+{s.added} added, ~{s.changed} changed, -{s.removed} removed, {s.unchanged} unchanged)")
    texts = f" ({s.texts_embedded} texts: code and summaries)" if s.texts_embedded > s.embedded else ""
    out.print(f"embedded {s.embedded} chunks{texts} in {s.embed_seconds:.1f} s ({s.chunks_per_second:.1f} chunks/s); "
              f"total {s.seconds:.1f} s")
    if s.truncated:
        out.print(f"{s.truncated} chunks are longer than the encoder reads (its first tokens are embedded; "
                  "the full text is stored)")
    if s.replaced_utf8:
        out.print(f"not valid UTF-8: {s.replaced_utf8} file(s), decoded with replacement characters")
    for reason, n in sorted(s.skipped.items()):
        example = (s.skipped_examples.get(reason) or [""])[0]
        out.print(f"skipped {n}: {reason}" + (f" (e.g. {example})" if example else ""))


@click.command("search")
@click.argument("name")
@click.argument("query", required=False)
@K_OPTION
@click.option("--queries", "queries_file", type=click.File("rb"), help="File with one query per line (batch mode).")
@EXACT_OPTION
@click.option("--model", default=None, help="Refuse unless the index was built with this encoder.")
@click.option("--explain", is_flag=True, help="Show what each ranking feature added to every score.")
@filter_options
@click.option("--dense", is_flag=True, help="Rank by cosine alone (no BM25, no re-ranking).")
@click.option("--no-rerank", is_flag=True, help="Keep the fused cosine + BM25 order (no re-ranking).")
@click.option("--lexical-weight", type=click.FloatRange(min=0), default=None,
              help="Weight of BM25 against cosine (default: the index's, 0.3).")
@FORMAT_OPTION
@JSON_OPTION
@click.pass_obj
def search_cmd(obj, name, query, k, queries_file, exact, model, explain, globs, kinds, langs, where, min_score,
               dense, no_rerank, lexical_weight, fmt, as_json):
    """Search index NAME for QUERY, in plain English or code.

    Code indexes are ranked by cosine and BM25 fused, then re-ranked; record and prose
    indexes keep the fused order (the re-ranker was fit on code)."""
    _one_blas_thread()
    from embedsearch.codeindex.search import search

    if (query is None) == (queries_file is None):
        raise click.UsageError("give a QUERY or --queries FILE (not both)")
    queries = [query] if query is not None else [q for q in _text_of(queries_file).splitlines() if q.strip()]
    if not queries:
        raise click.UsageError("the --queries file holds no queries")
    if dense and lexical_weight:
        raise click.UsageError("--dense means no BM25: leave out --lexical-weight")
    if explain and fmt in ("grep", "paths"):
        raise click.UsageError(f"--format {fmt} has no room for --explain: use the table or --json")
    if as_json and fmt not in (None, "json"):
        raise click.UsageError("--json is --format json: give one of them")
    results = search(obj["home"], name, queries, k=k, exact=exact, model=model, explain=explain,
                     filters=_filters(globs, kinds, langs, where, min_score),
                     lexical_weight=0.0 if dense else lexical_weight,
                     rerank=False if (dense or no_rerank) else None)
    batch = queries_file is not None
    as_json = as_json or fmt == "json"
    if fmt in ("grep", "paths"):
        _print_hits(fmt, [h for hits in results for h in hits],
                    [q for q, hits in zip(queries, results) for _ in hits] if batch and len(queries) > 1 else None)
        return
    if as_json:
        json_lines(({"query": q, **h.as_dict()} if batch else h.as_dict()) for q, hits in zip(queries, results)
                   for h in hits)
        return
    for q, hits in zip(queries, results):
        _hits_table(q, hits)
        if explain:
            _explanations(hits)


@click.command("similar")
@click.argument("name")
@click.option("--path", "path", type=click.Path(), help="A file in the index...")
@click.option("--line", type=click.IntRange(min=1), default=1, show_default=True, help="...and a line in it.")
@click.option("--text", help="Or a code snippet.")
@click.option("--id", "item_id", type=click.IntRange(min=0), help="Or an item by id (a result's `id`).")
@K_OPTION
@EXACT_OPTION
@filter_options
@FORMAT_OPTION
@JSON_OPTION
@click.pass_obj
def similar_cmd(obj, name, path, line, text, item_id, k, exact, globs, kinds, langs, where, min_score, fmt, as_json):
    """Find chunks most like the one at --path/--line or with --id, or like --text (clone lookup)."""
    _one_blas_thread()
    from embedsearch.codeindex.search import similar

    if sum(x is not None for x in (path, text, item_id)) != 1:
        raise click.UsageError("give one of --path FILE [--line N], --id N or --text SNIPPET")
    item, hits = similar(obj["home"], name, path=path, line=line, text=text, item_id=item_id, k=k, exact=exact,
                         filters=_filters(globs, kinds, langs, where, min_score))
    if _print_hits(fmt, hits):
        return
    if as_json or fmt == "json":
        json_lines(h.as_dict() for h in hits)
        return
    title = f"like {location(item.display, item.start_line, item.end_line)} {item.name}" if item else "like the snippet"
    _hits_table(title, hits)


@click.command("embed")
@click.argument("texts", nargs=-1, required=True)
@click.option("--model", default=None, help="Encoder name or folder (default: the packaged all-MiniLM-L6-v2).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), help="Write the vectors to this .npy file instead.")
@click.pass_obj
def embed_cmd(obj, texts, model, out_path):
    """Print the vector of each TEXT (one JSON line each: text, encoder, vector), or write
    them all to --out FILE.npy as a (texts, dim) float32 array. TEXT '-' reads one text
    per line from standard input."""
    from embedsearch.encoding import embed

    if texts == ("-",):
        with click.open_file("-") as stdin:
            texts = tuple(line for line in stdin.read().splitlines() if line.strip())
    vectors, info = embed(obj["home"], list(texts), model)
    if out_path:
        import numpy as np

        np.save(out_path, vectors)
        click.echo(f"wrote {vectors.shape[0]} vectors of {vectors.shape[1]} dimensions ({info.name}) to {out_path}")
        return
    json_lines({"text": t, "encoder": info.name, "vector": [round(float(x), 6) for x in v]} for t, v in zip(texts, vectors))


def _one_blas_thread() -> None:
    """A query does no large matrix product (HNSW and onnxruntime have their own threads),
    and OpenBLAS starting its thread pool when numpy is imported costs 0.06-0.1 s of a
    cold search here; so one BLAS thread, unless the user chose otherwise. Only effective
    before numpy's first import, which the CLI defers to the command."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _hits_table(title: str, hits) -> None:
    out = console()
    rows = [[str(h.rank), f"{h.score:.3f}", f"{location(h.display, h.start_line, h.end_line)}\n[bold]{h.name}[/]",
             preview(h.text, h.path, highlight=out.is_terminal)] for h in hits]
    out.print(table(title, ["#", "score", "location / name", "preview"], rows, show_lines=True))


def _text_of(file) -> str:
    """A --queries file's text; anything but UTF-8 is a clear error, not a traceback."""
    from embedsearch.errors import EmbedsearchError

    data = file.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise EmbedsearchError(f"{file.name} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); "
                               "save it as UTF-8") from None


def _explanations(hits) -> None:
    """Per hit: its score as the sum of what each feature added, largest first, wrapped to
    the terminal's width."""
    from rich.markup import escape

    from embedsearch.codeindex.rerank import LABELS

    out = console()
    for h in hits:
        parts = sorted(((v, f) for f, v in (h.explain or {}).items() if round(v, 3)), key=lambda p: -abs(p[0]))
        terms = [f"{'+' if v >= 0 else '-'} {abs(v):.3f} {LABELS.get(f, f)}" for v, f in parts]
        if terms:
            terms[0] = terms[0].lstrip("+ ")
        via = f" (scored by its nested {h.via})" if h.via else ""
        lines = [f"#{h.rank} {h.name}{via} {h.score:.3f} ="]
        for term in terms:  # wrapped between terms, never inside one
            if len(lines[-1]) + 1 + len(term) > max(40, out.width):
                lines.append("   ")
            lines[-1] += " " + term
        out.print(escape("\n".join(lines)), highlight=False, soft_wrap=True)


@click.command("list")
@JSON_OPTION
@click.pass_obj
def list_cmd(obj, as_json):
    """List the indexes and models in the index home."""
    from embedsearch.catalog import list_entries

    entries = list_entries(obj["home"])
    if as_json:
        json_lines(entries)
        return
    if not entries:
        console().print(f"no indexes in {obj['home']} (create one with `embedsearch index PATH --name NAME`)")
        return
    rows = [[e["name"], e["kind"], str(e.get("items", "")), e.get("encoder", ""), e.get("updated", "")]
            for e in entries]
    console().print(table(f"indexes in {obj['home']}", ["name", "kind", "items", "encoder", "updated"], rows))


@click.command("info")
@click.argument("name")
@JSON_OPTION
@click.pass_obj
def info_cmd(obj, name, as_json):
    """Show counts, encoder, HNSW parameters and size of index NAME."""
    from embedsearch.codeindex.store import describe

    info = describe(obj["home"], name)
    if as_json:
        json_lines([info])
        return
    rows = [[k, human_bytes(v) if k == "bytes_on_disk" else
             "\n".join(v) if isinstance(v, list) else str(v)] for k, v in _flatten(info)]
    console().print(table(f"index {name}", ["field", "value"], rows))


def _flatten(d: dict, prefix: str = ""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _flatten(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


@click.command("rm")
@click.argument("name")
@WAIT_OPTION
@click.pass_obj
def rm_cmd(obj, name, wait):
    """Delete index NAME and all its files."""
    from embedsearch.codeindex.store import remove_index

    remove_index(obj["home"], name, wait=wait, on_wait=_waiting)
    console().print(f"removed {name}")


@click.command("check")
@click.argument("name")
@click.option("--recall", is_flag=True, help="Also measure HNSW recall@10 against exact search on a sample.")
@JSON_OPTION
@click.pass_obj
def check_cmd(obj, name, recall, as_json):
    """Verify that manifest, metadata, vectors and HNSW of index NAME agree."""
    from embedsearch.codeindex.integrity import check

    report = check(obj["home"], name, recall=recall)
    if as_json:
        json_lines([report.as_dict()])
    else:
        out = console()
        for key, value in report.facts.items():
            out.print(f"{key}: {value}")
        for problem in report.problems:
            out.print(f"[red]problem:[/] {problem}")
        out.print(f"{name}: " + ("[green]ok[/]" if report.ok else f"[red]{len(report.problems)} problem(s)[/]; "
                                 f"`embedsearch repair {name}` rebuilds what it can"))
    if not report.ok:
        raise SystemExit(1)


@click.command("repair")
@click.argument("name")
@WAIT_OPTION
@JSON_OPTION
@click.pass_obj
def repair_cmd(obj, name, wait, as_json):
    """Write index NAME anew from whatever is intact: its items with their own vectors, or
    with their texts embedded again when no trustworthy copy of those vectors is left."""
    from embedsearch.codeindex.integrity import repair

    done = repair(obj["home"], name, wait=wait, on_wait=_waiting)
    if as_json:
        json_lines([done])
        return
    console().print(f"{name}: generation {done['generation']} written with {done['items']} items; {done['vectors']}")

"""`embedsearch eval ...`: quality measurements on standard tasks."""

from __future__ import annotations

import click

from embedsearch.cli.render import console, json_lines, progress_bar, table


@click.group("eval")
def eval_group() -> None:
    """Measure search and embedding quality on standard tasks."""


@eval_group.command("codesearch")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--model", default=None, help="Encoder to evaluate [default: packaged all-MiniLM-L6-v2].")
@click.option("--index", "index_name", default=None,
              help="Keep the evaluation index under this name in the home (re-runs then embed nothing new).")
@click.option("--include-tests", is_flag=True, help="Also use test folders and test_*.py files.")
@click.option("--exact", is_flag=True, help="Brute-force search instead of HNSW.")
@click.option("--misses", type=click.IntRange(min=0), default=0, help="Show this many queries whose target was missed.")
@click.option("--baseline", is_flag=True, help="Also measure plain dense search (code as-is, cosine) in the same run.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per method.")
@click.pass_obj
def codesearch_cmd(obj, paths, model, index_name, include_tests, exact, misses, baseline, as_json):
    """CodeSearchNet-style quality on Python code under PATHS: docstrings are the queries,
    the code with docstrings removed is what gets searched."""
    from embedsearch.evaluate.codesearch import BASELINE, DEFAULT, evaluate

    methods = (BASELINE, DEFAULT) if baseline else (DEFAULT,)
    with progress_bar("embedding corpus") as progress:
        reports = evaluate(list(paths), home=obj["home"], index_name=index_name, model=model, exact=exact,
                           include_tests=include_tests, progress=None if as_json else progress, misses=misses,
                           methods=methods)
    if as_json:
        json_lines(r.as_dict() for r in reports)
        return
    first = reports[0]
    rows = [[r.method, f"{r.mrr_at_10:.3f}", f"{r.recall_at_1:.3f}", f"{r.recall_at_10:.3f}", f"{r.seconds:.0f} s"]
            for r in reports]
    out = console()
    out.print(table(f"code search: {first.queries} queries, {first.candidates} candidates ({first.encoder}"
                    f"{', exact' if exact else ''})", ["method", "MRR@10", "Recall@1", "Recall@10", "time"], rows))
    if baseline and first.mrr_at_10 > 0:
        out.print(f"MRR@10 {100 * (reports[1].mrr_at_10 / first.mrr_at_10 - 1):+.1f}% over the baseline")
    for r in reports:
        for m in r.misses:
            out.print(f"missed ({r.method}): {m['query']!r} -> wanted {m['wanted']}, got {', '.join(m['got'])}")


def register(main: click.Group) -> None:
    main.add_command(eval_group)

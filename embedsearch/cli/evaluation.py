"""`embedsearch eval ...`: quality measurements on standard tasks."""

from __future__ import annotations

import click

from embedsearch.cli.render import EXACT_OPTION, JSON_OPTION, console, json_lines, progress_bar, table


@click.group("eval")
def eval_group() -> None:
    """Measure search and embedding quality on standard tasks."""


@eval_group.command("codesearch")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--model", default=None, help="Encoder to evaluate [default: packaged all-MiniLM-L6-v2].")
@click.option("--index", "index_name", default=None,
              help="Keep the evaluation index under this name in the home (re-runs then embed nothing new).")
@click.option("--include-tests", is_flag=True, help="Also use test folders and test_*.py files.")
@EXACT_OPTION
@click.option("--misses", type=click.IntRange(min=0), default=0, help="Show this many queries whose target was missed.")
@click.option("--baseline", is_flag=True, help="Also measure plain dense search (code as-is, cosine) in the same run.")
@click.option("--questions", type=click.Path(exists=True, dir_okay=False),
              help="Ask these questions (TSV: question<TAB>path:name[,name]) of the code as it is, "
                   "instead of docstring queries of a docstring-free copy.")
@JSON_OPTION
@click.pass_obj
def codesearch_cmd(obj, paths, model, index_name, include_tests, exact, misses, baseline, questions, as_json):
    """Code search quality on Python code under PATHS. By default CodeSearchNet-style:
    docstrings are the queries, the code with docstrings removed is what gets searched.
    With --questions, your own questions are asked of the code as it is; an answer's path
    is the end of the indexed file's path, e.g. relative to a folder in PATHS
    (json/decoder.py:JSONDecoder.decode)."""
    from embedsearch.evaluate.codesearch import BASELINE, DEFAULT, evaluate, read_questions

    methods = (BASELINE, DEFAULT) if baseline else (DEFAULT,)
    asked = read_questions(questions) if questions else None
    with progress_bar("embedding corpus") as progress:
        reports = evaluate(list(paths), home=obj["home"], index_name=index_name, model=model, exact=exact,
                           include_tests=include_tests, progress=None if as_json else progress, misses=misses,
                           methods=methods, questions=asked, questions_from=questions or "")
    if as_json:
        json_lines({k: v for k, v in r.as_dict().items() if k != "ranks"} for r in reports)
        return
    first = reports[0]
    rows = [[r.method, f"{r.mrr_at_10:.3f}", f"{r.recall_at_1:.3f}", f"{r.recall_at_10:.3f}", f"{r.seconds:.0f} s"]
            for r in reports]
    out = console()
    asked = "questions" if questions else "docstring queries"
    out.print(table(f"code search: {first.queries} {asked}, {first.candidates} candidates ({first.encoder}"
                    f"{', exact' if exact else ''})", ["method", "MRR@10", "Recall@1", "Recall@10", "time"], rows))
    if baseline and first.mrr_at_10 > 0:
        out.print(f"MRR@10 {100 * (reports[1].mrr_at_10 / first.mrr_at_10 - 1):+.1f}% over the baseline")
    for r in reports:
        for m in r.misses:
            out.print(f"missed ({r.method}): {m['query']!r} -> wanted {m['wanted']}, got {', '.join(m['got'])}")


@eval_group.command("analogies")
@click.argument("table_name", metavar="TABLE")
@click.option("--questions", default=None, type=click.Path(dir_okay=False),
              help="Analogy file in the Google format [default: questions-words.txt from the word benchmarks].")
@click.option("--restrict-vocab", type=click.IntRange(min=1), default=300_000, show_default=True,
              help="Use only the first N keys (the most frequent words): gensim's default.")
@click.option("--method", type=click.Choice(["add", "mul", "both"]), default="add", show_default=True,
              help="3CosAdd, 3CosMul, or both.")
@click.option("--case-sensitive", is_flag=True, help="Match words exactly (default: ignoring case, like gensim).")
@JSON_OPTION
@click.pass_obj
def analogies_cmd(obj, table_name, questions, restrict_vocab, method, case_sensitive, as_json):
    """Word-analogy accuracy per section and overall (a b c d: is d nearest to b - a + c?)."""
    from embedsearch.evaluate.analogies import default_file, evaluate_analogies
    from embedsearch.tables.registry import open_table

    path = questions or default_file("questions-words.txt", "--questions")
    t = open_table(obj["home"], table_name)
    methods = ["add", "mul"] if method == "both" else [method]
    with progress_bar("analogies") as start:
        report = evaluate_analogies(t, path, restrict_vocab, methods, not case_sensitive,
                                    progress=None if as_json else start(None))
    if as_json:
        json_lines([report.as_dict()])
        return
    names = {"add": "3CosAdd", "mul": "3CosMul"}
    rows = [[s.name, str(s.questions), str(s.oov)] + [_pct(s.accuracy(m)) for m in methods]
            for s in report.sections + [report.total]]
    console().print(table(f"analogies: {table_name}, first {report.restrict_vocab:,} keys "
                          f"({report.seconds:.1f} s)", ["section", "questions", "OOV"] +
                          [names[m] for m in methods], rows))


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


@eval_group.command("similarity")
@click.argument("table_name", metavar="TABLE")
@click.option("--pairs", "files", multiple=True, type=click.Path(dir_okay=False),
              help="Word-pair file(s) 'word word score' [default: WordSim-353 and SimLex-999].")
@click.option("--restrict-vocab", type=click.IntRange(min=1), default=300_000, show_default=True)
@click.option("--case-sensitive", is_flag=True)
@JSON_OPTION
@click.pass_obj
def similarity_cmd(obj, table_name, files, restrict_vocab, case_sensitive, as_json):
    """Spearman correlation between human similarity scores and cosine similarity."""
    from embedsearch.evaluate.analogies import default_file
    from embedsearch.evaluate.similarity import evaluate_similarity
    from embedsearch.tables.registry import open_table

    paths = list(files) or [default_file("wordsim353.tsv", "--pairs"), default_file("simlex999.txt", "--pairs")]
    t = open_table(obj["home"], table_name)
    reports = [evaluate_similarity(t, p, restrict_vocab, not case_sensitive) for p in paths]
    if as_json:
        json_lines(r.as_dict() for r in reports)
        return
    from pathlib import Path

    rows = [[Path(r.file).name, str(r.pairs), str(r.oov), _num(r.spearman), _num(r.pearson)] for r in reports]
    console().print(table(f"word similarity: {table_name}", ["file", "pairs", "OOV", "Spearman", "Pearson"], rows))


def _num(x) -> str:
    return "-" if x is None else f"{x:.3f}"

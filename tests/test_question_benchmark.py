"""The question benchmark (bench/questions/) is what search quality is judged by: its files
must parse, name definitions that exist, and keep the development and test parts apart."""

from __future__ import annotations

import ast
from pathlib import Path

from embedsearch.evaluate.codesearch import read_questions
from tests.conftest import STDLIB

QUESTIONS = Path(__file__).resolve().parents[1] / "bench" / "questions"


def _qualified_names(tree: ast.AST, prefix: str = ""):
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield prefix + node.name
            yield from _qualified_names(node, f"{prefix}{node.name}.")
        else:
            yield from _qualified_names(node, prefix)


def test_parts_share_no_question_and_no_code_base():
    parts = {part: {tsv.stem: read_questions(tsv) for tsv in sorted((QUESTIONS / part).glob("*.tsv"))}
             for part in ("dev", "test")}
    assert sum(len(q) for files in parts.values() for q in files.values()) >= 200
    assert len(parts["dev"]) + len(parts["test"]) >= 5
    texts = {part: {q.text.lower() for qs in files.values() for q in qs} for part, files in parts.items()}
    assert not texts["dev"] & texts["test"]
    for part, files in parts.items():
        for stem, qs in files.items():
            assert len({q.text.lower() for q in qs}) == len(qs), f"{part}/{stem} repeats a question"
            assert all(4 <= len(q.text.split()) <= 16 for q in qs), f"{part}/{stem}"
    # stdlib modules (dev) and stdlib modules (test) are different files
    def files(part):
        return {q.path for q in parts[part]["stdlib"]}
    assert not files("dev") & files("test")
    third_party = [{q.path.split("/")[0] for q in qs} for part in parts.values() for s, qs in part.items() if s != "stdlib"]
    assert len(set().union(*third_party)) == sum(len(t) for t in third_party)  # each package in one part


def test_standard_library_answers_exist():
    """Every stdlib answer names a definition at that qualified name in that file (the
    third-party ones are checked by bench/questions_bench.py, which installs them)."""
    for part in ("dev", "test"):
        for q in read_questions(QUESTIONS / part / "stdlib.tsv"):
            source = STDLIB / q.path
            assert source.is_file(), q.path
            names = set(_qualified_names(ast.parse(source.read_text(encoding="utf-8"))))
            assert set(q.names) <= names, (q.path, q.names)

"""Python source split with `ast`: every function, method and class is a chunk (nested
ones too), named by its qualified name; module-level code between them is kept as
windows so no line of the file is lost. Unparseable files fall back to windows."""

from __future__ import annotations

import ast

from embedsearch.chunking import Chunk, lines_of, windows

DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def chunk(path: str, text: str) -> list[Chunk]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return windows.chunk(path, text)
    try:  # a generated file (a 1,200-branch elif chain) nests deeper than the recursion limit
        found = list(definitions(tree))
    except RecursionError:
        return windows.chunk(path, text)
    lines = lines_of(text)
    out: list[Chunk] = []
    for node, qualname, kind in found:
        start, end = span(node)
        doc, params = facts(node)
        out.append(Chunk(path, start, end, kind, qualname, "\n".join(lines[start - 1:end]), doc=doc, params=params))
    top = [span(n) for n in tree.body if isinstance(n, DEFS)]
    out.extend(windows.spans(path, lines, windows.uncovered(len(lines), top), "module"))
    out.sort(key=lambda c: (c.start_line, -c.end_line))
    return out


def facts(node: ast.AST) -> tuple[str, tuple[str, ...]]:
    """(docstring or "", parameter names without self/cls) of a def or class node."""
    doc = ast.get_docstring(node, clean=True) or ""
    if isinstance(node, ast.ClassDef):
        return doc, ()
    args = node.args
    names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
    return doc, tuple(n for n in names if n not in ("self", "cls"))


def span(node: ast.AST) -> tuple[int, int]:
    """First line (decorators included) and last line of a definition."""
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return start, node.end_lineno or node.lineno


def definitions(tree: ast.AST, prefix: str = "", in_class: bool = False):
    """(node, qualified name, kind) for every def and class, depth first."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, DEFS):
            qualname = f"{prefix}{node.name}"
            if isinstance(node, ast.ClassDef):
                kind = "class"
            else:
                kind = "method" if in_class else "function"
            yield node, qualname, kind
            yield from definitions(node, qualname + ".", isinstance(node, ast.ClassDef))
        else:
            # defs inside if/try/with blocks at the same level keep the same prefix
            yield from definitions(node, prefix, in_class)

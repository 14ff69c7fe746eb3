"""List a code base's functions, methods and classes by name and signature, without their
docstrings: how the question benchmark's questions were written (bench/questions/README.md).

A question writer picks a definition whose purpose they know from its name and signature,
writes the question a developer would type, and only then reads the code to check that
the definition really answers it.

    python bench/list_definitions.py ROOT [SUBPATH ...]
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def signature(node: ast.AST) -> str:
    if isinstance(node, ast.ClassDef):
        return "(" + ", ".join(ast.unparse(b) for b in node.bases) + ")"
    return "(" + ast.unparse(node.args) + ")"


def definitions(tree: ast.AST, prefix: str = ""):
    for node in getattr(tree, "body", []):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = f"{prefix}{node.name}"
            yield name, node
            if isinstance(node, ast.ClassDef):
                yield from definitions(node, f"{name}.")


def main() -> None:
    root = Path(sys.argv[1])
    subpaths = sys.argv[2:] or ["."]
    for sub in subpaths:
        files = [root / sub] if (root / sub).is_file() else sorted((root / sub).rglob("*.py"))
        for path in files:
            if "test" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            rel = path.relative_to(root)
            for name, node in definitions(tree):
                print(f"{rel}:{name}{signature(node)}")


if __name__ == "__main__":
    main()

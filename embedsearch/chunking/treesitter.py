"""Other languages through tree-sitter, where the language's grammar package is installed
(tree-sitter-javascript, -go, -rust, -java, -c). Functions, methods and classes become
chunks; the lines between them become windows, as for Python."""

from __future__ import annotations

import importlib
from functools import lru_cache

from embedsearch.chunking import Chunk, windows

# suffix -> (grammar module, attribute returning the language pointer)
GRAMMARS = {
    ".js": ("tree_sitter_javascript", "language"),
    ".mjs": ("tree_sitter_javascript", "language"),
    ".cjs": ("tree_sitter_javascript", "language"),
    ".jsx": ("tree_sitter_javascript", "language"),
    ".go": ("tree_sitter_go", "language"),
    ".rs": ("tree_sitter_rust", "language"),
    ".java": ("tree_sitter_java", "language"),
    ".c": ("tree_sitter_c", "language"),
    ".h": ("tree_sitter_c", "language"),
}

# node type -> chunk kind; containers also give their name to what they contain
DEFINITIONS = {
    "function_declaration": "function", "generator_function_declaration": "function",
    "method_definition": "method", "class_declaration": "class",
    "function_definition": "function",  # C
    "method_declaration": "method", "interface_declaration": "class",  # Java, Go
    "constructor_declaration": "method", "enum_declaration": "class",
    "type_declaration": "type",  # Go
    "function_item": "function", "impl_item": "class", "struct_item": "type",  # Rust
    "trait_item": "class", "enum_item": "type", "mod_item": "module",
}


@lru_cache(maxsize=None)
def _parser(suffix: str):
    module_name, attr = GRAMMARS[suffix]
    try:
        import tree_sitter

        module = importlib.import_module(module_name)
        return tree_sitter.Parser(tree_sitter.Language(getattr(module, attr)()))
    except (ImportError, AttributeError, ValueError, TypeError):
        return None


def supports(suffix: str) -> bool:
    return suffix in GRAMMARS and _parser(suffix) is not None


def chunk(path: str, text: str) -> list[Chunk]:
    from pathlib import Path

    parser = _parser(Path(path).suffix.lower())
    source = text.encode("utf-8", "surrogatepass")
    tree = parser.parse(source)
    lines = text.splitlines()
    out: list[Chunk] = []
    top: list[tuple[int, int]] = []

    def visit(node, prefix: str, depth: int, container: str | None) -> None:
        for child in node.children:
            kind = DEFINITIONS.get(child.type)
            if kind is None:
                visit(child, prefix, depth, container)
                continue
            if kind == "function" and container == "class":  # Rust: fn inside impl or trait
                kind = "method"
            a, b = child.start_point[0] + 1, child.end_point[0] + 1
            receiver = _receiver(child, source) if not prefix else ""  # Go: func (s *Server) Start()
            name = prefix + (f"{receiver}." if receiver else "") + _name(child, source)
            out.append(Chunk(path, a, b, kind, name, "\n".join(lines[a - 1:b]), doc="", params=()))
            if depth == 0:
                top.append((a, b))
            visit(child, name + ".", depth + 1, kind)

    visit(tree.root_node, "", 0, None)
    out.extend(windows.spans(path, lines, windows.uncovered(len(lines), top), "module"))
    out.sort(key=lambda c: (c.start_line, -c.end_line))
    return out


def _receiver(node, source: bytes) -> str:
    """The type a Go method is declared on (`Server` for `func (s *Server) Start()`), so the
    method is named `Server.Start` as a Java or Python method is named after its class."""
    receiver = node.child_by_field_name("receiver") if node.type == "method_declaration" else None
    if receiver is None:
        return ""
    stack = [receiver]
    while stack:
        n = stack.pop()
        if n.type == "type_identifier":
            return source[n.start_byte:n.end_byte].decode("utf-8", "replace")
        stack.extend(reversed(n.named_children))
    return ""


def _name(node, source: bytes) -> str:
    named = node.child_by_field_name("name")
    declarator = node.child_by_field_name("declarator")  # C: int f(int x)
    while named is None and declarator is not None:
        named = declarator if declarator.type in ("identifier", "field_identifier") else None
        declarator = declarator.child_by_field_name("declarator")
    if named is None:  # Go's type_declaration holds a type_spec that has the name
        inner = next((c for c in node.named_children if c.child_by_field_name("name")), None)
        named = inner.child_by_field_name("name") if inner else node.child_by_field_name("type")
    if named is None:
        return f"<{node.type}@{node.start_point[0] + 1}>"
    return source[named.start_byte:named.end_byte].decode("utf-8", "replace")

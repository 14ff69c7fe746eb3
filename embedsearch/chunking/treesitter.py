"""Other languages through tree-sitter, with the grammar packages from PyPI that
`pyproject.toml` installs (JavaScript, TypeScript/TSX, Go, Rust, Java, C, C++, C#, Ruby,
PHP, Kotlin, Bash). Functions, methods, classes and types become chunks, each with the
comment block written right above it (`///`, `/** */`, `//` lines, `#` lines: the
language's doc comment) as part of its text and as its doc; the lines between them become
windows, as for Python. A grammar that is not installed leaves its files to windows."""

from __future__ import annotations

import importlib
import re
from functools import lru_cache

from embedsearch.chunking import Chunk, lines_of, windows

# suffix -> (grammar module, function returning the language pointer)
GRAMMARS = {
    ".js": ("tree_sitter_javascript", "language"), ".mjs": ("tree_sitter_javascript", "language"),
    ".cjs": ("tree_sitter_javascript", "language"), ".jsx": ("tree_sitter_javascript", "language"),
    ".ts": ("tree_sitter_typescript", "language_typescript"), ".mts": ("tree_sitter_typescript", "language_typescript"),
    ".cts": ("tree_sitter_typescript", "language_typescript"), ".tsx": ("tree_sitter_typescript", "language_tsx"),
    ".go": ("tree_sitter_go", "language"),
    ".rs": ("tree_sitter_rust", "language"),
    ".java": ("tree_sitter_java", "language"),
    ".c": ("tree_sitter_c", "language"), ".h": ("tree_sitter_c", "language"),
    ".cpp": ("tree_sitter_cpp", "language"), ".cc": ("tree_sitter_cpp", "language"),
    ".cxx": ("tree_sitter_cpp", "language"), ".hpp": ("tree_sitter_cpp", "language"),
    ".hh": ("tree_sitter_cpp", "language"), ".hxx": ("tree_sitter_cpp", "language"),
    ".cs": ("tree_sitter_c_sharp", "language"),
    ".rb": ("tree_sitter_ruby", "language"), ".rake": ("tree_sitter_ruby", "language"),
    ".php": ("tree_sitter_php", "language_php"),
    ".kt": ("tree_sitter_kotlin", "language"), ".kts": ("tree_sitter_kotlin", "language"),
    ".sh": ("tree_sitter_bash", "language"), ".bash": ("tree_sitter_bash", "language"),
}
NAMED_FILES = {"Rakefile": ".rb", "Gemfile": ".rb", "Vagrantfile": ".rb"}  # files whose name says their language

# node type -> chunk kind, for every grammar; containers also give their name to what they
# contain. A node type listed here means the same thing in each grammar that has it.
DEFINITIONS = {
    "function_declaration": "function", "generator_function_declaration": "function",
    "method_definition": "method", "class_declaration": "class", "abstract_class_declaration": "class",
    "function_definition": "function",  # C, C++, PHP, Bash
    "method_declaration": "method", "interface_declaration": "class",  # Java, Go, C#, PHP
    "constructor_declaration": "method", "enum_declaration": "type",
    "type_declaration": "type",  # Go
    "type_alias_declaration": "type",  # TypeScript
    "function_item": "function", "impl_item": "class", "struct_item": "type",  # Rust
    "trait_item": "class", "enum_item": "type", "mod_item": "module",
    "class_specifier": "class", "struct_specifier": "type", "union_specifier": "type",  # C, C++ (with a body)
    "struct_declaration": "type", "record_declaration": "class",  # C#
    "trait_declaration": "class",  # PHP
    "object_declaration": "class",  # Kotlin
}
# grammar module -> node types that are definitions there only (a Ruby `class` node is a
# class; in JavaScript `class` is also the name of a class expression's node)
OWN_DEFINITIONS = {
    "tree_sitter_ruby": {"method": "function", "singleton_method": "method", "class": "class",
                         "singleton_class": "class"},
}
# containers that only group definitions (a C++ or C# namespace, a Ruby module): their
# definitions are chunked as if at the top level, and the container is not a chunk itself
NAMESPACES = {"namespace_definition", "namespace_declaration", "file_scoped_namespace_declaration", "module"}
NEEDS_BODY = {"class_specifier", "struct_specifier", "union_specifier"}  # else a mere mention: `struct x *p`
FUNCTION_VALUES = {"arrow_function", "function_expression", "function"}  # const f = () => ...
BOUND = {"variable_declarator", "public_field_definition", "field_definition"}
NAME_TYPES = {"identifier", "field_identifier", "qualified_identifier", "destructor_name", "operator_name",
              "type_identifier", "simple_identifier"}
HASH_COMMENTS = {"tree_sitter_ruby", "tree_sitter_bash", "tree_sitter_php"}
WRAPPERS = {"template_declaration"}  # part of the definition they wrap
# a file a grammar cannot parse within this long is chunked as windows: a few kilobytes of odd
# text can send a generated parser into minutes and gigabytes (tree-sitter-kotlin 1.1.0 did)
PARSE_SECONDS = 3.0
_TEMPLATE_ARGS = re.compile(r"<[^<>]*>")  # `Lru<K, V>::get` is named Lru.get


@lru_cache(maxsize=None)
def _parser(suffix: str):
    module_name, attr = GRAMMARS[suffix]
    try:
        import tree_sitter

        module = importlib.import_module(module_name)
        return tree_sitter.Parser(tree_sitter.Language(getattr(module, attr)()))
    except (ImportError, AttributeError, ValueError, TypeError):
        return None


def _parse(parser, source: bytes):
    """The syntax tree, or None when parsing took more than PARSE_SECONDS (tree-sitter stops
    when the progress callback says so; it is offered only with a read callback)."""
    import time

    deadline = time.monotonic() + PARSE_SECONDS
    try:
        return parser.parse(lambda offset, point: source[offset:offset + 65536],
                            progress_callback=lambda offset, has_error: time.monotonic() > deadline)
    except ValueError:  # "Parsing failed": stopped by the callback
        return None


def grammar_suffix(path: str) -> str:
    """The suffix that picks a file's grammar (its own, or its name's: `Rakefile` is Ruby)."""
    from pathlib import Path

    p = Path(path)
    return NAMED_FILES.get(p.name, p.suffix.lower())


def supports(path: str) -> bool:
    """Whether the file at `path` has an installed grammar."""
    suffix = grammar_suffix(path)
    return suffix in GRAMMARS and _parser(suffix) is not None


def chunk(path: str, text: str) -> list[Chunk]:
    suffix = grammar_suffix(path)
    module = GRAMMARS[suffix][0]
    definitions = {**DEFINITIONS, **OWN_DEFINITIONS.get(module, {})}
    source = text.encode("utf-8", "surrogatepass")
    parser = _parser(suffix)
    tree = _parse(parser, source)
    if tree is None:  # stopped in time (some inputs send a generated parser into a spin): windows
        parser.reset()  # or the next file would resume this one
        return windows.chunk(path, text)
    lines = lines_of(text)
    hash_comments = module in HASH_COMMENTS
    out: list[Chunk] = []
    top: list[tuple[int, int]] = []

    def visit(node, prefix: str, depth: int, container: str | None) -> None:
        for child in node.named_children:  # (a keyword token can share a node type's name: Ruby's `class`)
            if child.type in NAMESPACES and (child.type != "module" or module == "tree_sitter_ruby"):
                visit(child, prefix, depth, container)
                continue
            kind = definitions.get(child.type)
            span = child
            if kind is None and child.type in BOUND and container in (None, "class", "type"):
                value = child.child_by_field_name("value")
                if value is not None and value.type in FUNCTION_VALUES:
                    kind = "method" if container else "function"
                    if child.type == "variable_declarator" and child.parent is not None and \
                            child.parent.named_child_count == 1:
                        span = child.parent  # `const f = () => {...}` from `const`
            if kind is None or (child.type in NEEDS_BODY and child.child_by_field_name("body") is None):
                visit(child, prefix, depth, container)
                continue
            own = _name(child, source)
            while span.parent is not None and span.parent.type in WRAPPERS:
                span = span.parent  # C++ `template <typename T>` above the class it makes
            if kind == "function" and (container in ("class", "type") or "::" in own):
                kind = "method"  # Rust fn in impl, Kotlin fun in class, C++ `void Server::start()`
            a = span.start_point[0] + 1
            b = span.end_point[0] + (0 if span.end_point[1] == 0 and span.end_point[0] > span.start_point[0] else 1)
            b = max(a, min(b, len(lines)))  # a node ending at the start of a line ends on the one before
            first = comment_start(lines, a, hash_comments)
            body = "\n".join(lines[first - 1:b])
            receiver = _receiver(child, source) if not prefix else ""  # Go: func (s *Server) Start()
            name = prefix + (f"{receiver}." if receiver else "") + _plain_name(own)
            out.append(Chunk(path, first, b, kind, name, body, doc=leading_doc(body, hash_comments), params=()))
            if depth == 0:
                top.append((first, b))
            visit(child, name + ".", depth + 1, kind)

    visit(tree.root_node, "", 0, None)
    out.extend(windows.spans(path, lines, windows.uncovered(len(lines), top), "module"))
    out.sort(key=lambda c: (c.start_line, -c.end_line))
    return out


_MARKERS = re.compile(r"^\s*(?:///?!?|/\*\*?|\*/|\*(?!/)|#+)\s?")
_TAGS = re.compile(r"</?[A-Za-z][^>]*>")  # C#'s <summary> and friends


def _line_comment(line: str, hash_comments: bool) -> bool:
    return line.startswith("//") or (hash_comments and line.startswith("#") and not line.startswith(("#!", "#[")))


def comment_start(lines: list[str], start: int, hash_comments: bool = False) -> int:
    """The first line of the comment block written right above line `start` (1-based), or
    `start` when there is none. Attribute and annotation lines between the comment and the
    definition (`#[derive(...)]`, `@Override`) are passed over; a blank line ends the block."""
    i, first = start - 1, start
    while i >= 1:
        line = lines[i - 1].strip()
        if line.endswith("*/"):  # a block comment: up to its opening line
            j = i
            while j >= 1 and "/*" not in lines[j - 1]:
                j -= 1
            if j < 1:
                break
            first = i = j
        elif _line_comment(line, hash_comments):
            first = i
        elif not (line.startswith(("#[", "@")) and first == start):
            break
        i -= 1
    return first


def leading_doc(text: str, hash_comments: bool = False) -> str:
    """The doc comment a chunk's text starts with, without comment markers or tags, up to
    its first blank line or @tag: what the chunk says it is for. Read from the text alone,
    so a chunk rebuilt from stored rows gets the same doc (and summary) as when it was
    chunked."""
    body: list[str] = []
    in_block = False
    for raw in lines_of(text):
        line = raw.strip()
        if in_block:
            in_block = "*/" not in line
        elif line.startswith("/*"):
            in_block = "*/" not in line[2:]
        elif not _line_comment(line, hash_comments):
            break
        part = _TAGS.sub("", _MARKERS.sub("", line, count=1)).strip()
        part = part[:-2].rstrip() if part.endswith("*/") else part
        if part.startswith("@"):
            break
        if part:
            body.append(part)
        elif body:
            break
    return " ".join(body)


def chunk_doc(path: str, text: str) -> str:
    """leading_doc for a chunk of the file at `path`, with that language's comment markers."""
    return leading_doc(text, GRAMMARS.get(grammar_suffix(path), ("",))[0] in HASH_COMMENTS)


def _plain_name(name: str) -> str:
    """`Lru<K, std::vector<V>>::get` -> `Lru.get`: template arguments out, `::` as `.`."""
    while (shorter := _TEMPLATE_ARGS.sub("", name)) != name:
        name = shorter
    return name.replace("::", ".")


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
    if node.type in BOUND:
        named = node.child_by_field_name("name") or node.child_by_field_name("property")
    else:
        named = node.child_by_field_name("name")
    declarator = node.child_by_field_name("declarator")  # C: int f(int x); C++: void Server::start()
    while named is None and declarator is not None:
        named = declarator if declarator.type in NAME_TYPES else None
        declarator = declarator.child_by_field_name("declarator")
    if named is None:  # Go's type_declaration holds a type_spec that has the name
        inner = next((c for c in node.named_children if c.child_by_field_name("name")), None)
        named = inner.child_by_field_name("name") if inner else node.child_by_field_name("type")
    if named is None:  # Kotlin and others without a name field: the first identifier child
        named = next((c for c in node.named_children if c.type in NAME_TYPES), None)
    if named is None:
        return f"<{node.type}@{node.start_point[0] + 1}>"
    return source[named.start_byte:named.end_byte].decode("utf-8", "replace")

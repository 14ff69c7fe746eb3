"""Output helpers shared by command modules: rich tables for people, JSON lines for
machines, and a progress bar on stderr for long work. rich is imported only when a table or
bar is drawn: `--json` output does not need it (~50 ms of a cold query)."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

# the one --json flag: JSON lines (one compact object per line), snake_case keys, in every command
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="One JSON object per line, for scripts.")
EXACT_OPTION = click.option("--exact", is_flag=True, help="Brute-force cosine over every row instead of the HNSW graph.")


def k_option(help: str, default: int = 10, most: int | None = None, dest: str = "k"):
    """-k/--top: how many answers, at least 1 (a usage error otherwise, exit 2), the same
    option in every command that ranks."""
    return click.option("-k", "--top", dest, type=click.IntRange(min=1, max=most), default=default,
                        show_default=True, help=help)

SUFFIX_LEXERS = {".py": "python", ".pyi": "python", ".js": "javascript", ".go": "go", ".rs": "rust",
                 ".java": "java", ".c": "c", ".h": "c", ".md": "markdown", ".sh": "bash", ".ts": "typescript"}


def console(stderr: bool = False, soft_wrap: bool = True) -> Console:
    """A rich console; `soft_wrap=False` folds long lines at the terminal width."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=soft_wrap)


def json_lines(objects) -> None:
    for obj in objects:
        click.echo(json.dumps(obj, ensure_ascii=False, default=str))


def table(title: str | None, columns: list[str], rows: list[list], right: tuple[str, ...] = (), **kw) -> Table:
    """A rich table; the columns named in `right` (numbers) are right-aligned."""
    from rich.table import Table

    t = Table(title=title, **kw)
    for c in columns:
        t.add_column(c, overflow="fold", justify="right" if c in right else "left")
    for r in rows:
        t.add_row(*r)
    return t


def preview(text: str, path: str, lines: int = 6, width: int = 80, highlight: bool = True):
    """The first lines of a hit, syntax-highlighted by the file's suffix. Without
    `highlight` (output that is not a terminal shows no colours anyway) the same text is
    returned plain, which spares loading pygments and compiling its lexer (~0.15 s)."""
    import textwrap

    lexer = SUFFIX_LEXERS.get(Path(path).suffix.lower(), "text")
    if lexer == "text":  # prose wraps; code keeps its lines
        head, wrap = " ".join(text.split())[:lines * width // 2], True
    else:
        head, wrap = textwrap.dedent("\n".join(line[:width] for line in text.splitlines()[:lines])), False
    if not highlight:
        from rich.text import Text

        return Text(head, no_wrap=not wrap, overflow="fold" if wrap else "crop")
    if lexer == "python":
        from embedsearch.cli.highlight import python_text

        return python_text(head)
    from rich.syntax import Syntax

    if wrap:
        return Syntax(head, lexer, background_color="default", word_wrap=True)
    return Syntax(head, lexer, theme="ansi_dark", background_color="default", word_wrap=False)


@contextmanager
def progress_bar(label: str):
    """A `progress(total) -> advance(n)` callback drawing a rich bar on stderr. The bar
    appears with the first advance, so work that fails on its input shows only the error."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn(), console=console(stderr=True), transient=False)

    started = []

    def start(total: int | None):
        task = None

        def advance(n: int) -> None:
            nonlocal task
            if task is None:
                bar.start()
                started.append(True)
                task = bar.add_task(label, total=total)
            bar.advance(task, n)

        return advance

    try:
        yield start
    finally:
        if started:  # stopping a bar never drawn would still print an empty line
            bar.stop()


def location(path: str, start: int, end: int) -> str:
    return f"{path}:{start}" if start == end else f"{path}:{start}-{end}"


def human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def given_options(ctx, *params: str) -> list[str]:
    """The options among `params` (parameter names) that the command line gave, as the user
    typed them (--bias-wd): for refusing options that do not apply to the chosen mode."""
    import click

    out = []
    for p in params:
        if ctx.get_parameter_source(p) == click.core.ParameterSource.COMMANDLINE:
            opt = next((o for o in ctx.command.params if o.name == p), None)
            out.append(max(opt.opts, key=len) if opt is not None else f"--{p.replace('_', '-')}")
    return out

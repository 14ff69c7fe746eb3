"""The `embedsearch` command. Each command group lives in its own module; this one only
wires them together and turns user errors into one clear line (exit 1) instead of a
traceback. Click itself answers usage errors with exit code 2.

A command's module is imported only when that command runs (or `--help` lists them all),
so `embedsearch search` does not pay for building the cf and tables commands."""

from __future__ import annotations

import importlib
import os
import sys

import click

from embedsearch import __version__
from embedsearch.errors import EmbedsearchError, suggest


# command name -> "module:attribute" under embedsearch.cli
COMMANDS = {
    **{name: f"indexes:{name}_cmd" for name in ("index", "search", "similar", "list", "info", "rm", "check", "repair",
                                                "embed")},
    "eval": "evaluation:eval_group",
    "cf": "cf:cf_group",
    "tables": "tables:tables_group",
    "cache": "cache:cache_group",
    "serve": "serve:serve_cmd",
    "mcp": "serve:mcp_cmd",
    **{name: f"tables:{name}_cmd" for name in ("lookup", "neighbours", "analogy", "compare", "align", "export",
                                                 "similarity")},
    "doesnt-match": "tables:doesnt_match_cmd",
    "most-similar": "tables:most_similar_cmd",
}
# Commands that only read: once their output is flushed, the process may skip tearing down
# numpy, onnxruntime and a loaded HNSW graph (~60 ms of a 0.5 s cold query).
READ_ONLY = {"search", "similar"}
_quick_exit = False


class ErrorHandlingGroup(click.Group):
    """A group that loads its commands on demand and reports EmbedsearchError and OSError
    as one line, never a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name].split(":")
        return getattr(importlib.import_module(f"embedsearch.cli.{module}"), attr)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in COMMANDS:
            close = suggest(name, COMMANDS)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            ctx.fail(f"No such command {name!r}.{hint}")
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context):
        global _quick_exit
        debug = ctx.params.get("debug") or os.environ.get("EMBEDSEARCH_DEBUG") == "1"
        try:
            out = super().invoke(ctx)
            _quick_exit = ctx.invoked_subcommand in READ_ONLY
            return out
        except (click.exceptions.Exit, click.Abort, click.ClickException):
            raise
        except EmbedsearchError as exc:
            if debug:
                raise
            raise click.ClickException(str(exc)) from None
        except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as Unix tools do
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except OSError as exc:
            if debug:
                raise
            where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
            raise click.ClickException(f"{exc.strerror or exc}{where}") from None
        except Exception as exc:  # a bug: say so briefly, show the traceback on request
            if debug:
                raise
            raise click.ClickException(
                f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)"
            ) from None


@click.group(cls=ErrorHandlingGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="embedsearch")
@click.option(
    "--home",
    type=click.Path(file_okay=False),
    envvar="EMBEDSEARCH_HOME",
    help="Folder that holds indexes, models and tables [default: $EMBEDSEARCH_HOME, else ./indexes if it "
         "exists, else the user data folder, e.g. ~/.local/share/embedsearch].",
)
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.pass_context
def main(ctx: click.Context, home: str | None, debug: bool) -> None:
    """Nearest-neighbour search in embedding spaces.

    Index code and text with a sentence encoder and search it in plain English, train
    collaborative-filtering factors on MovieLens, and explore word-vector tables.
    """
    from embedsearch.home import Home

    ctx.obj = {"home": Home(home), "debug": debug}


def run() -> None:
    """The console script: `main`, then, after a read-only command that succeeded, an exit
    that skips the interpreter's teardown (nothing is left to flush or release but the
    output). Every other ending is `main`'s own."""
    try:
        main()
    except SystemExit as exc:
        if not (_quick_exit and exc.code in (None, 0)):
            raise
    if not _quick_exit:
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # a closed pipe (`| head`): the output that mattered went out
        pass
    os._exit(0)

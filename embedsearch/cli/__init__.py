"""The `embedsearch` command. Each command group lives in its own module; this one only
wires them together and turns user errors into one clear line (exit 1) instead of a
traceback. Click itself answers usage errors with exit code 2."""

from __future__ import annotations

import os
import sys

import click

from embedsearch import __version__
from embedsearch.errors import EmbedsearchError


class ErrorHandlingGroup(click.Group):
    """A group that reports EmbedsearchError and OSError as one line, never a traceback."""

    def invoke(self, ctx: click.Context):
        debug = ctx.params.get("debug") or os.environ.get("EMBEDSEARCH_DEBUG") == "1"
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, click.ClickException):
            raise
        except EmbedsearchError as exc:
            if debug:
                raise
            raise click.ClickException(str(exc)) from None
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
    help="Folder that holds indexes and models (default: ./indexes, or $EMBEDSEARCH_HOME).",
)
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.pass_context
def main(ctx: click.Context, home: str | None, debug: bool) -> None:
    """Nearest-neighbour search in embedding spaces.

    Index code and text with a sentence encoder and search it in plain English, train
    collaborative-filtering factors on MovieLens, and explore word-vector tables.
    """
    from embedsearch.home import resolve_home

    ctx.obj = {"home": resolve_home(home), "debug": debug}


def _register() -> None:
    from embedsearch.cli import cf, evaluation, indexes, tables

    for module in (indexes, evaluation, cf, tables):
        module.register(main)


_register()

"""`embedsearch cache [clear]`: what the home keeps only to be fast (caches.py)."""

from __future__ import annotations

import click

from embedsearch.caches import KINDS
from embedsearch.cli.render import JSON_OPTION, console, human_bytes, json_lines, table

KIND = click.option("--kind", "kinds", multiple=True, type=click.Choice(KINDS),
                    help="Only this kind (repeatable) [default: all].")


@click.group("cache", invoke_without_command=True)
@KIND
@JSON_OPTION
@click.pass_context
def cache_group(ctx: click.Context, kinds, as_json: bool) -> None:
    """List what the home keeps only to be fast: ONNX exports, table graphs and rows that
    can be made again, downloaded data sets. `cache clear` removes them."""
    if ctx.invoked_subcommand is not None:
        return
    from embedsearch.caches import list_caches

    entries = list_caches(ctx.obj["home"], tuple(kinds) or KINDS)
    if as_json:
        json_lines(e.as_dict() for e in entries)
        return
    out = console()
    out.print(table(f"caches of {ctx.obj['home']}", ["kind", "name", "size", "when removed"],
                    [[e.kind, e.name, human_bytes(e.bytes), e.rebuilt] for e in entries], right=("size",)))
    out.print(f"{len(entries)} entries, {human_bytes(sum(e.bytes for e in entries))}; "
              "`embedsearch cache clear` removes them")


@cache_group.command("clear")
@KIND
@JSON_OPTION
@click.pass_obj
def clear_cmd(obj, kinds, as_json: bool) -> None:
    """Remove cache entries (all kinds, or those given with --kind); each is made again
    when next needed. Indexes, CF models and derived tables are never touched."""
    from embedsearch.caches import clear_caches

    removed = clear_caches(obj["home"], tuple(kinds) or KINDS)
    if as_json:
        json_lines(e.as_dict() for e in removed)
        return
    console().print(f"removed {len(removed)} cache entries, {human_bytes(sum(e.bytes for e in removed))} freed")

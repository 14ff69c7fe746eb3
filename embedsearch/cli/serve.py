"""`embedsearch serve` (web page and JSON API) and `embedsearch mcp` (tools for coding
agents over stdio): each parses its options and starts one library server."""

from __future__ import annotations

import click

from embedsearch.cli.render import console

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback lets other machines read your indexes.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.pass_obj
def serve_cmd(obj, host, port):
    """Serve the home's indexes and tables: a web page at / and a JSON API under /api
    (read-only). Indexes updated meanwhile by `embedsearch index` are answered from their
    new generation on the next request."""
    from embedsearch.web import serve

    if host not in LOOPBACK:
        console(stderr=True).print(f"warning: listening on {host}: anyone who can reach this machine can read "
                                   "every index in the home")
    shown = f"[{host}]" if ":" in host else host
    serve(obj["home"], host, port,
          on_ready=lambda: console(stderr=True).print(f"serving {obj['home']} at http://{shown}:{port}/ "
                                                      "(Ctrl-C stops)"))


@click.command("mcp")
@click.pass_obj
def mcp_cmd(obj):
    """Run an MCP server on stdin/stdout with tools list_indexes, search and similar, for
    coding agents (configure the agent to start `embedsearch mcp`)."""
    from embedsearch.mcp_server import run

    run(obj["home"])

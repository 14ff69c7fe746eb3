"""`embedsearch mcp`: the home's indexes as tools for a coding agent, over MCP on stdio.

Built on the official MCP Python SDK (`mcp.server.mcpserver.MCPServer`). Three tools, each
one `serving.Workspace` verb, answering with what an agent needs to open the code: the
file path and line range of every result, its name and kind, its score, and its text.
Errors come back as tool errors carrying the CLI's one-line message. Read-only.
"""

from __future__ import annotations

from typing import Any

from embedsearch.errors import EmbedsearchError
from embedsearch.codeindex.filters import Filters
from embedsearch.home import Home

INSTRUCTIONS = (
    "embedsearch finds code and text by meaning in indexes the user built with `embedsearch index`. "
    "Call list_indexes first to learn the index names. Use search with a plain-English description of what "
    "the code does (\"parse a date string into a datetime\"), not only identifiers; use similar to find code "
    "like a given snippet or like the chunk at a file and line. Results carry path, start_line and end_line."
)


def _hit(hit, with_text: bool = True) -> dict:
    out = {"rank": hit.rank, "score": round(hit.score, 4), "path": hit.path, "start_line": hit.start_line,
           "end_line": hit.end_line, "name": hit.name, "kind": hit.kind, "id": hit.id}
    if with_text:
        out["text"] = hit.text
    return out


def create_server(home: Home | str | None = None):
    """The MCPServer with the tools bound to HOME (one Workspace, one worker thread)."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    from embedsearch.serving import MAX_K, Worker, Workspace

    workspace = Workspace(home)
    worker = Worker()
    server = MCPServer("embedsearch", instructions=INSTRUCTIONS)

    async def call(fn, *args, **kwargs):
        try:
            return await worker.run(fn, *args, **kwargs)
        except EmbedsearchError as exc:
            raise ToolError(str(exc)) from None

    @server.tool(description="List the code and text indexes that can be searched, with how many chunks each "
                             "holds and which folders or files they were built from.")
    async def list_indexes() -> list[dict]:
        entries = await call(workspace.indexes)
        out = []
        for e in entries:
            if e.get("kind") in ("code", "text"):
                info = await call(workspace.info, e["name"])
                out.append({"name": e["name"], "kind": e["kind"], "items": e.get("items"),
                            "sources": info.get("sources", []), "updated": e.get("updated", "")})
        return out

    @server.tool(description="Search an index by meaning. `query` is a plain-English description of what the "
                             "code or text does, or a code fragment. Returns the best chunks (functions, classes, "
                             "sections, records) with path, start_line, end_line, name, kind, score and text. "
                             f"`k` is how many (1-{MAX_K}); `path_glob` (e.g. 'src/*', '!*/tests/*'), `kind` "
                             "(function, method, class, type, module, section, record, cell, window) and "
                             "`language` (python, go, rust, javascript, typescript, java, markdown, ...) narrow it.")
    async def search(index: str, query: str, k: int = 10, path_glob: list[str] | None = None,
                     kind: list[str] | None = None, language: list[str] | None = None) -> list[dict]:
        filters = Filters.parse(path_glob or (), kind or (), language or ())
        answer = await call(workspace.search, index, query, k, filters=filters)
        return [_hit(h) for h in answer.hits]

    @server.tool(description="Find chunks most like one already in the index (give `path` and `line` of a file "
                             "in the index, or `id` from a search result) or like a code snippet (`text`). "
                             "Useful for finding duplicates and other implementations of the same thing.")
    async def similar(index: str, path: str | None = None, line: int | None = None, id: int | None = None,
                      text: str | None = None, k: int = 10) -> dict[str, Any]:
        answer = await call(workspace.similar, index, id, path, line if path is not None else None, text, k)
        return {"item": _hit(answer.item, with_text=False) if answer.item else None,
                "results": [_hit(h) for h in answer.hits]}

    return server


def run(home: Home | str | None = None) -> None:
    """Serve on stdin/stdout until the client closes the connection."""
    create_server(home).run("stdio")

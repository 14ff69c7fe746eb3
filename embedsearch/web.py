"""`embedsearch serve`: a JSON API and a web page over one home, on Starlette.

Every route parses its request, calls one `serving.Workspace` verb and renders JSON; the
page at `/` (embedsearch/web_static/) is plain HTML, CSS and JavaScript that calls the same
API. Safe by default: read-only (nothing here indexes, trains or deletes), no file is served
but the page's own static assets, request bodies and `k` are bounded, and every error is
JSON `{"error": "..."}` carrying the CLI's one-line message (404 for an unknown name, 400
for other bad input, 503 while a writer holds what was asked for).

All library calls run on one worker thread, in order: an open index's SQLite connection
belongs to the thread that opened it, and on a small machine one query at a time is also
the fastest way through a burst.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

from embedsearch.errors import Busy, EmbedsearchError, UnknownName
from embedsearch.codeindex.filters import Filters
from embedsearch.home import Home

STATIC = Path(__file__).parent / "web_static"
MAX_BODY = 64 * 1024  # bytes of a JSON request
MAX_QUERY = 10_000  # characters of a query or snippet


class BadRequest(EmbedsearchError):
    """A request the API cannot read (not JSON, a missing or mistyped field)."""


class TooLarge(BadRequest):
    """A request body over MAX_BODY."""


def _filters(body: dict) -> Filters:
    where = []
    for pair in _strings(body, "where"):
        field, sep, value = pair.partition("=")
        if not sep:
            raise BadRequest(f"where expects FIELD=VALUE, got {pair!r}")
        where.append((field.strip(), value.strip()))
    min_score = body.get("min_score")
    if min_score is not None and not isinstance(min_score, (int, float)):
        raise BadRequest("min_score must be a number")
    return Filters.parse(_strings(body, "glob"), _strings(body, "kind"), _strings(body, "lang"), where, min_score)


def _strings(body: dict, key: str) -> list[str]:
    value = body.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{key} must be a string or a list of strings")
    return value


def _field(body: dict, key: str, kind, default=None, required: bool = False):
    value = body.get(key, default)
    if value is None:
        if required:
            raise BadRequest(f"missing {key!r}")
        return None
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise BadRequest(f"{key} must be a whole number, got {value!r}")
    if kind is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise BadRequest(f"{key} must be a number, got {value!r}")
    if kind is str:
        if not isinstance(value, str):
            raise BadRequest(f"{key} must be a string, got {value!r}")
        if len(value) > MAX_QUERY:
            raise BadRequest(f"{key} is {len(value):,} characters; the limit is {MAX_QUERY:,}")
    return value


def _flag(body: dict, key: str) -> bool:
    """A true/false field, from JSON (a boolean) or a query string ("true", "1", "false", "0")."""
    value = body.get(key, False)
    if isinstance(value, str):
        if value.lower() not in ("true", "1", "false", "0", ""):
            raise BadRequest(f"{key} must be true or false, got {value!r}")
        return value.lower() in ("true", "1")
    if not isinstance(value, bool):
        raise BadRequest(f"{key} must be true or false, got {value!r}")
    return value


def hit_json(hit, highlight: bool = False) -> dict:
    """A hit as the CLI's --json writes it, plus its location, and with `highlight` its text
    as coloured HTML (what the page shows; pygments takes about 2 ms a hit, so only on request)."""
    from embedsearch.serving import highlighted, location

    out = {**hit.as_dict(), "location": location(hit)}
    if highlight:
        out["html"] = highlighted(hit.path, hit.text)
    return out


def create_app(home: Home | str | None = None):
    """The Starlette application serving HOME (its Workspace is made here and kept)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from embedsearch.serving import Worker, Workspace

    workspace = Workspace(home)
    worker = Worker()
    call = worker.run

    def error(exc: Exception):
        if isinstance(exc, TooLarge):
            return JSONResponse({"error": str(exc)}, status_code=413)
        if isinstance(exc, UnknownName):
            return JSONResponse({"error": str(exc)}, status_code=404)
        if isinstance(exc, Busy):
            return JSONResponse({"error": str(exc)}, status_code=503)
        if isinstance(exc, (EmbedsearchError, OSError)):
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"error": f"internal error: {type(exc).__name__}: {exc}"}, status_code=500)

    def endpoint(handler):
        async def wrapped(request: Request):
            try:
                return JSONResponse(await handler(request))
            except Exception as exc:  # every error is JSON, never a traceback page
                return error(exc)
        return wrapped

    async def body_of(request: Request) -> dict:
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > MAX_BODY:
            raise TooLarge(f"request body of {int(size):,} bytes; the limit is {MAX_BODY:,}")
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > MAX_BODY:
                raise TooLarge(f"request body over {MAX_BODY:,} bytes")
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise BadRequest("the request body is not JSON") from None
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        return body

    def params(request: Request) -> dict:
        q = request.query_params
        body: dict = {}
        for key in q.keys():
            values = q.getlist(key)
            body[key] = values if key in ("glob", "kind", "lang", "where") else values[-1]
        for key, kind, what in (("k", int, "a whole number"), ("limit", int, "a whole number"),
                                ("id", int, "a whole number"), ("line", int, "a whole number"),
                                ("lexical_weight", float, "a number"), ("min_score", float, "a number")):
            if key in body:
                try:
                    body[key] = kind(body[key])
                except ValueError:
                    raise BadRequest(f"{key} must be {what}, got {body[key]!r}") from None
        return body

    async def indexes(request):
        return {"indexes": await call(workspace.indexes)}

    async def tables(request):
        return {"tables": await call(workspace.tables)}

    async def info(request):
        return await call(workspace.info, request.path_params["name"])

    async def search(request):
        body = await body_of(request) if request.method == "POST" else params(request)
        name = _field(body, "index", str, required=True)
        query = _field(body, "query", str, required=True)
        dense = _flag(body, "dense")
        weight = _field(body, "lexical_weight", float)
        rerank = False if dense or _flag(body, "no_rerank") else None
        answer = await call(workspace.search, name, query, _field(body, "k", int, 10),
                            _flag(body, "exact"), 0.0 if dense else weight, rerank, _flag(body, "explain"),
                            _filters(body))
        colour = _flag(body, "highlight")
        return {"index": name, "generation": answer.generation, "query": query,
                "results": [hit_json(h, colour) for h in answer.hits]}

    async def similar(request):
        body = await body_of(request) if request.method == "POST" else params(request)
        name = _field(body, "index", str, required=True)
        answer = await call(workspace.similar, name, _field(body, "id", int), _field(body, "path", str),
                            _field(body, "line", int), _field(body, "text", str), _field(body, "k", int, 10),
                            _flag(body, "exact"), _filters(body))
        colour = _flag(body, "highlight")
        return {"index": name, "generation": answer.generation,
                "item": hit_json(answer.item, colour) if answer.item else None,
                "results": [hit_json(h, colour) for h in answer.hits]}

    async def neighbours(request):
        p = params(request)
        return {"table": _field(p, "table", str, required=True), "key": _field(p, "key", str, required=True),
                "results": await call(workspace.neighbours, p["table"], p["key"], _field(p, "k", int, 10),
                                      _flag(p, "exact"))}

    async def analogy(request):
        p = params(request)
        args = [_field(p, key, str, required=True) for key in ("table", "a", "b", "c")]
        return await call(workspace.analogy, *args, _field(p, "k", int, 5))

    async def lookup(request):
        p = params(request)
        return await call(workspace.lookup, _field(p, "table", str, required=True), _field(p, "key", str, required=True))

    async def table_map(request):
        p = params(request)
        return await call(workspace.map, _field(p, "table", str, required=True), _field(p, "limit", int, 3000))

    async def compare(request):
        p = params(request)
        return await call(workspace.compare, _field(p, "a", str, required=True), _field(p, "b", str, required=True),
                          _field(p, "k", int, 10), _field(p, "limit", int, 3000))

    async def page(request):
        return FileResponse(STATIC / "index.html")

    async def not_found(request, exc):
        return JSONResponse({"error": f"no such page: {request.url.path}"}, status_code=404)

    api = [
        Route("/api/indexes", endpoint(indexes)),
        Route("/api/tables", endpoint(tables)),
        Route("/api/info/{name}", endpoint(info)),
        Route("/api/search", endpoint(search), methods=["GET", "POST"]),
        Route("/api/similar", endpoint(similar), methods=["GET", "POST"]),
        Route("/api/neighbours", endpoint(neighbours)),
        Route("/api/analogy", endpoint(analogy)),
        Route("/api/lookup", endpoint(lookup)),
        Route("/api/map", endpoint(table_map)),
        Route("/api/compare", endpoint(compare)),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app):
        warming = asyncio.ensure_future(call(workspace.warm))  # the first request need not pay for it
        yield
        warming.cancel()
        await call(workspace.close)  # on the thread that opened the indexes
        worker.shutdown()

    app = Starlette(routes=[Route("/", page), *api, Mount("/static", StaticFiles(directory=STATIC), name="static")],
                    exception_handlers={404: not_found}, lifespan=lifespan)
    app.state.workspace = workspace
    return app


def serve(home: Home | str | None, host: str = "127.0.0.1", port: int = 8765, on_ready=None) -> None:
    """Run the server until interrupted (uvicorn)."""
    import uvicorn

    config = uvicorn.Config(create_app(home), host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    if on_ready is not None:
        original = server.startup

        async def startup(sockets=None):
            await original(sockets)
            if server.started:
                on_ready()

        server.startup = startup
    server.run()

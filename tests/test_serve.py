"""`embedsearch serve`'s JSON API through Starlette's test client, and `embedsearch mcp`
through the MCP SDK's own client: every endpoint and tool, bad input, and an index updated
by another writer during a burst of requests. Real encoder, real indexes."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import threading

import numpy as np
import pytest



@pytest.fixture(scope="module")
def words_home(tmp_path_factory):
    """A home with two derived tables over the same 400 words: GloVe rows, and the same
    rows rotated with a little noise (so their maps differ but their neighbours agree)."""
    from embedsearch.tables import glove
    from embedsearch.tables.registry import register_derived

    home = tmp_path_factory.mktemp("words") / "home"
    g = glove.load()
    keys = g.keys[100:500]
    rows = np.asarray(g.vectors[100:500], dtype=np.float32)
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(50, 50)))
    labels = {k: ["short" if len(k) <= 4 else "long"] for k in keys}
    register_derived(home, "words-a", keys, rows, "glove rows", labels, {"seed": 0})
    register_derived(home, "words-b", keys, (rows @ q + 0.05 * rng.normal(size=rows.shape)).astype(np.float32),
                     "rotated glove rows", labels, {"seed": 0})
    return home


@pytest.fixture(scope="module")
def client(stdlib_index):
    from starlette.testclient import TestClient

    from embedsearch.web import create_app

    home, _, _ = stdlib_index
    with TestClient(create_app(home)) as c:
        yield c


def test_page_and_static_assets_only(client):
    page = client.get("/")
    assert page.status_code == 200 and "<form id=\"search-form\">" in page.text
    assert client.get("/static/app.js").status_code == 200
    for path in ("/static/../web.py", "/static/%2e%2e/web.py", "/etc/passwd", "/api/nothing"):
        r = client.get(path)
        assert r.status_code == 404 and "error" in r.json()


def test_indexes_and_info(client, stdlib_index):
    home, name, _ = stdlib_index
    listed = client.get("/api/indexes").json()["indexes"]
    assert [e["name"] for e in listed] == [name] and listed[0]["kind"] == "code" and listed[0]["items"] > 100
    info = client.get(f"/api/info/{name}").json()
    assert info["items"] == listed[0]["items"] and info["generation"] >= 1 and info["sources"]
    r = client.get("/api/info/stdlb")
    assert r.status_code == 404 and "did you mean 'stdlib'" in r.json()["error"]


def test_search_as_the_cli_answers(client, stdlib_index, cli):
    home, name, _ = stdlib_index
    r = client.post("/api/search", json={"index": name, "query": "serialize an object to a JSON formatted string",
                                         "k": 5, "highlight": True})
    assert r.status_code == 200
    body = r.json()
    cli_hits = [json.loads(line) for line in
                cli("--home", home, "search", name, "serialize an object to a JSON formatted string", "-k", "5",
                    "--json").stdout.splitlines()]
    assert [(h["path"], h["start_line"], h["name"]) for h in body["results"]] == \
        [(h["path"], h["start_line"], h["name"]) for h in cli_hits]
    first = body["results"][0]
    assert first["location"].endswith(f":{first['start_line']}-{first['end_line']}")
    assert "<span" in first["html"] and body["generation"] >= 1
    # GET with repeated filter parameters works the same; filters apply
    g = client.get("/api/search", params={"index": name, "query": "copy a file", "k": 3,
                                          "kind": ["function"], "glob": ["shutil.py"]})
    assert g.status_code == 200 and g.json()["results"]
    assert all(h["kind"] == "function" and h["path"].endswith("shutil.py") for h in g.json()["results"])
    assert "html" not in g.json()["results"][0]  # coloured only when asked: it costs more than the search
    dense = client.post("/api/search", json={"index": name, "query": "copy a directory tree", "dense": True,
                                             "explain": True, "k": 2}).json()["results"]
    assert dense and all(h["score"] == h["cosine"] for h in dense)


def test_similar_by_id_by_place_and_by_text(client, stdlib_index):
    home, name, corpus = stdlib_index
    first = client.post("/api/search", json={"index": name, "query": "wrap text to a width", "k": 1}).json()
    hit = first["results"][0]
    by_id = client.post("/api/similar", json={"index": name, "id": hit["id"], "k": 3}).json()
    assert by_id["item"]["id"] == hit["id"] and len(by_id["results"]) == 3
    assert hit["id"] not in [h["id"] for h in by_id["results"]]
    by_place = client.get("/api/similar", params={"index": name, "path": hit["path"], "line": hit["start_line"],
                                                  "k": 3}).json()
    assert [h["id"] for h in by_place["results"]] == [h["id"] for h in by_id["results"]]
    by_text = client.post("/api/similar", json={"index": name, "text": "def fill(text, width=70):", "k": 2}).json()
    assert by_text["item"] is None and len(by_text["results"]) == 2


def test_tables_neighbours_analogy_lookup_map_compare(client, words_home):
    from starlette.testclient import TestClient

    from embedsearch.web import create_app

    assert any(t["name"] == "glove-6B-50d" for t in client.get("/api/tables").json()["tables"])
    n = client.get("/api/neighbours", params={"table": "glove-6B-50d", "key": "frog", "k": 3, "exact": "true"}).json()
    assert [r["key"] for r in n["results"]] == ["snake", "ape", "toad"]
    a = client.get("/api/analogy", params={"table": "glove-6B-50d", "a": "king", "b": "man", "c": "woman"}).json()
    assert a["cos_add"][0]["key"] == "queen"
    look = client.get("/api/lookup", params={"table": "glove-6B-50d", "key": "king"}).json()
    assert look["one_hot_equal"] is True and look["dim"] == 50
    with TestClient(create_app(words_home)) as c:
        m = c.get("/api/map", params={"table": "words-a", "limit": 300}).json()
        assert len(m["keys"]) == len(m["x"]) == len(m["y"]) == len(m["labels"]) == 300
        assert set(m["labels"]) == {"short", "long"}
        cmp = c.get("/api/compare", params={"a": "words-a", "b": "words-b", "k": 5}).json()
        assert len(cmp["keys"]) == 400 and len(cmp["a"]["neighbours"][0]) == 5
        assert cmp["figures"]["overlap"] > 0.5 and cmp["figures"]["r2_a_to_b"] > 0.9
        i = cmp["keys"].index("city") if "city" in cmp["keys"] else 0
        assert i not in cmp["a"]["neighbours"][i]  # a key is not its own neighbour


@pytest.mark.parametrize("request_args, status, message", [
    (("post", "/api/search", {"json": {"index": "stdlib-nope", "query": "x"}}), 404, "did you mean 'stdlib'"),
    (("post", "/api/search", {"json": {"index": "stdlib", "query": "x", "k": 0}}), 400, "k must be"),
    (("post", "/api/search", {"json": {"index": "stdlib", "query": "x", "k": 101}}), 400, "k must be"),
    (("post", "/api/search", {"json": {"index": "stdlib", "query": "x", "k": "ten"}}), 400, "whole number"),
    (("post", "/api/search", {"json": {"index": "stdlib", "query": "   "}}), 400, "empty query"),
    (("post", "/api/search", {"json": {"index": "stdlib"}}), 400, "missing 'query'"),
    (("post", "/api/search", {"content": b"not json"}), 400, "not JSON"),
    (("post", "/api/search", {"json": ["a list"]}), 400, "JSON object"),
    (("post", "/api/search", {"json": {"index": "stdlib", "query": "x" * 70_000}}), 413, "limit"),
    (("post", "/api/search", {"json": {"index": "stdlib", "query": "x", "kind": ["functon"]}}), 404,
     "did you mean 'function'"),
    (("get", "/api/search", {"params": {"index": "stdlib", "query": "x", "k": "many"}}), 400, "whole number"),
    (("post", "/api/similar", {"json": {"index": "stdlib", "id": 10 ** 9}}), 400, "has no item"),
    (("get", "/api/neighbours", {"params": {"table": "glove-6B-50d", "key": "frogg", "exact": "true"}}), 404,
     "did you mean"),
    (("get", "/api/map", {"params": {"table": "glove-6B-50d", "limit": 10 ** 6}}), 400, "limit must be"),
])
def test_bad_requests_are_one_json_line(client, request_args, status, message):
    method, path, kwargs = request_args
    r = getattr(client, method)(path, **kwargs)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert message in error and "Traceback" not in error and "\n" not in error


def test_an_update_during_a_burst_is_seen_whole(tmp_path):
    """Another process's `index` commits a new generation while requests keep coming: every
    request answers (no error), each from one generation, the new one from its commit on."""
    from starlette.testclient import TestClient

    from embedsearch.codeindex.indexing import build_index
    from embedsearch.web import create_app

    src = tmp_path / "src"
    src.mkdir()
    (src / "shapes.py").write_text(textwrap.dedent('''
        def circle_area(radius):
            """Area of a circle of the given radius."""
            return 3.14159 * radius * radius


        def square_area(side):
            """Area of a square."""
            return side * side
        '''))
    home = tmp_path / "home"
    build_index("shapes", [str(src)], home)
    query = {"index": "shapes", "query": "compute the n-th fibonacci number", "k": 3}
    done = threading.Event()

    def writer():
        (src / "numbers.py").write_text(textwrap.dedent('''
            def fibonacci(n):
                """The n-th Fibonacci number, iteratively."""
                a, b = 0, 1
                for _ in range(n):
                    a, b = b, a + b
                return a
            '''))
        build_index("shapes", [str(src)], home)
        done.set()

    seen = []
    with TestClient(create_app(home)) as c:
        before = c.post("/api/search", json=query).json()
        t = threading.Thread(target=writer)
        t.start()
        for _ in range(400):  # bounded: the writer takes seconds
            r = c.post("/api/search", json=query)
            assert r.status_code == 200, r.text
            seen.append(r.json())
            if done.is_set() and seen[-1]["generation"] > before["generation"]:
                break
        t.join(timeout=120)
    generations = [s["generation"] for s in seen]
    assert generations == sorted(generations) and generations[-1] == before["generation"] + 1
    for s in seen:
        names = {h["name"] for h in s["results"]}
        assert ("fibonacci" in names) == (s["generation"] > before["generation"]), s
        assert all(os.path.exists(h["path"]) for h in s["results"])


# ------------------------------------------------------------------ MCP


def test_mcp_tools_through_the_sdk_client(stdlib_index):
    import anyio
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    home, name, corpus = stdlib_index
    params = StdioServerParameters(command=sys.executable, args=["-m", "embedsearch", "--home", str(home), "mcp"],
                                   env={**os.environ, "HF_HUB_OFFLINE": "1"})

    async def session_run():
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = {t.name: t for t in (await session.list_tools()).tools}
                assert set(tools) == {"list_indexes", "search", "similar"}
                assert "plain-English" in tools["search"].description
                listed = await session.call_tool("list_indexes", {})
                found = await session.call_tool("search", {"index": name, "query": "wrap text to a width", "k": 3})
                like = await session.call_tool("similar", {"index": name, "text": "def dedent(text):", "k": 2})
                bad = await session.call_tool("search", {"index": "stdlb", "query": "x"})
                return listed, found, like, bad

    listed, found, like, bad = anyio.run(session_run)
    assert not listed.is_error and any(name in c.text for c in listed.content)
    assert not found.is_error
    results = found.structured_content["result"]
    assert len(results) == 3 and all({"path", "start_line", "end_line", "name", "text"} <= set(r) for r in results)
    assert any("textwrap" in r["path"] for r in results)
    assert not like.is_error and len(like.structured_content["results"]) == 2
    assert bad.is_error and "unknown index 'stdlb'" in bad.content[0].text and "did you mean 'stdlib'" in \
        bad.content[0].text

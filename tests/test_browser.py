"""The web page in a real browser: headless Chromium from the system's packages (`.ci/run`
installs it), driven by Playwright, against `embedsearch serve` started as a user starts it.
Search with highlighted previews and "more like this", the table explorer's map and its
neighbours, the compare view's linked selection."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import numpy as np
import pytest

from tests.conftest import SHARED_DATA

ML100K = SHARED_DATA / "ml-100k"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and not os.environ.get("CI"):
    pytest.skip("no system Chromium (apt-get install chromium; .ci/run does)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str):
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def server(stdlib_index, tmp_path_factory):
    """`embedsearch serve` over a copy of the stdlib index's home with two word tables."""
    from embedsearch.tables import glove
    from embedsearch.tables.registry import register_derived

    src_home, _, _ = stdlib_index
    home = tmp_path_factory.mktemp("browser") / "home"
    shutil.copytree(src_home, home)
    g = glove.load()
    keys = g.keys[200:800]
    rows = np.asarray(g.vectors[200:800], dtype=np.float32)
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(50, 50)))
    labels = {k: ["short" if len(k) <= 4 else "long"] for k in keys}
    register_derived(home, "words-a", keys, rows, "glove rows", labels, {"n": 600})
    register_derived(home, "words-b", keys, (rows @ q).astype(np.float32), "rotated glove rows", labels, {"n": 600})
    # a CF model (one short epoch) and 300 of its movies through the sentence encoder, for the compare view
    from embedsearch.cf.train import TrainOptions
    from embedsearch.cf.workflow import TrainRequest, train_and_save
    from embedsearch.tables.compare import build_movie_tables

    train_and_save(home, TrainRequest(data=str(ML100K), name="ml",
                                      options=TrainOptions(epochs=1, bs=1024, factors=16, lr=0.01)))
    build_movie_tables(home, ML100K, limit=300)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "embedsearch", "--home", str(home), "serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            _get(url + "/api/indexes")
            break
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(proc.stdout.read().decode())
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        pg = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(server + "/")
        yield pg
        browser.close()
        assert not errors, errors  # no JavaScript error on the way


def test_search_shows_highlighted_results_and_more_like_this(page):
    page.fill("#query", "serialize an object to a JSON formatted string")
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("#results li .loc")
    first = page.locator("#results li").first
    assert "json/__init__.py:" in first.locator(".loc").inner_text()
    assert first.locator(".name").inner_text() == "dumps"
    assert first.locator("pre.code span").count() > 5  # coloured by pygments
    code = first.locator("pre.code")
    folded = code.bounding_box()["height"]
    code.click()
    assert "open" in code.get_attribute("class") and code.bounding_box()["height"] > folded
    first.locator("button.more").click()
    page.wait_for_function("document.getElementById('results-title').textContent.startsWith('like ')")
    assert "dumps" in page.inner_text("#results-title")
    assert page.locator("#results li").count() == 10
    page.fill("#query", "   ")
    page.click("#search-form button[type=submit]")
    assert "say what you are looking for" in page.inner_text("#status")


def test_table_map_draws_and_clicking_a_point_lists_its_neighbours(page, server):
    page.click("nav [data-tab=tables]")
    page.select_option("#map-table", "words-a")
    page.wait_for_function("document.getElementById('map-caption').textContent.includes('600 keys')")
    drawn = page.evaluate("""() => { const c = document.getElementById('map-canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""")
    assert drawn > 600  # every point is a few painted pixels
    assert "short" in page.inner_text("#map-legend") and "long" in page.inner_text("#map-legend")
    i = 17
    key, x, y = page.evaluate(f"[mapPlot.keys[{i}], mapPlot.px[{i}], mapPlot.py[{i}]]")
    box = page.locator("#map-canvas").bounding_box()
    scale = box["width"] / page.evaluate("document.getElementById('map-canvas').width")
    page.mouse.move(box["x"] + x * scale, box["y"] + y * scale)
    assert page.inner_text("#tooltip").startswith(key)
    page.mouse.click(box["x"] + x * scale, box["y"] + y * scale)
    page.wait_for_function(f"document.getElementById('map-selected').textContent === {json.dumps('nearest to ' + key)}")
    expected = _get(f"{server}/api/neighbours?table=words-a&key={urllib.parse.quote(key)}&k=10")["results"]
    shown = page.locator("#map-neighbours li").all_inner_texts()
    assert [s.rsplit(" (", 1)[0] for s in shown] == [n["key"] for n in expected]


def test_compare_view_highlights_a_movies_neighbours_in_both_maps(page, tmp_path):
    """CF item factors beside the movies through the sentence encoder: pick a movie, and its
    neighbours in each space are ringed in both maps."""
    page.click("nav [data-tab=compare]")
    page.select_option("#cmp-a", "ml-items")
    page.select_option("#cmp-b", "movies-minilm")
    page.fill("#cmp-key", "Toy Story (1995)")
    page.click("#compare-form button[type=submit]")
    page.wait_for_selector("#cmp-selected strong")
    assert page.inner_text("#cmp-selected strong") == "Toy Story (1995)"
    assert "300 shared keys" in page.inner_text("#cmp-figures")
    marked = page.evaluate("[plotA.selected, plotB.selected, plotA.marks.size, plotB.marks.size, "
                           "comparison.a.neighbours[plotA.selected], comparison.b.neighbours[plotA.selected]]")
    assert marked[0] == marked[1] and marked[0] == page.evaluate("comparison.keys.indexOf('Toy Story (1995)')")
    union = set(marked[4]) | set(marked[5])
    assert marked[2] == marked[3] == len(union)  # every neighbour, of either space, ringed in both maps
    # the rings are drawn: pixels around a neighbour in map A are the neighbour colours, not the background
    j = marked[4][0]
    colour = page.evaluate(f"""() => {{ const c = document.getElementById('cmp-canvas-a');
        const x = Math.round(plotA.px[{j}] + 5), y = Math.round(plotA.py[{j}]);
        return Array.from(c.getContext('2d').getImageData(x - 1, y - 1, 3, 3).data); }}""")
    assert any(colour[i] > 150 and colour[i + 2] < 100 for i in range(0, len(colour), 4))  # orange or purple-ish
    page.screenshot(path=str(tmp_path / "compare.png"))
    assert (tmp_path / "compare.png").stat().st_size > 10_000


def test_compare_view_links_the_selection_in_both_maps(page):
    page.click("nav [data-tab=compare]")
    page.select_option("#cmp-a", "words-a")
    page.select_option("#cmp-b", "words-b")
    page.click("#compare-form button[type=submit]")
    page.wait_for_function("document.getElementById('cmp-figures').textContent.includes('600 shared keys')")
    assert "R²" in page.inner_text("#cmp-figures") and "overlap@10" in page.inner_text("#cmp-figures")
    x, y = page.evaluate("[plotB.px[5], plotB.py[5]]")
    box = page.locator("#cmp-canvas-b").bounding_box()
    scale = box["width"] / page.evaluate("document.getElementById('cmp-canvas-b').width")
    page.mouse.click(box["x"] + x * scale, box["y"] + y * scale)
    page.wait_for_selector("#cmp-selected strong")
    picked = page.evaluate("[plotA.selected, plotB.selected, comparison.keys[plotA.selected]]")
    assert picked[0] == picked[1] and page.inner_text("#cmp-selected strong") == picked[2]
    # a rotation keeps every neighbour: all ten are marked "in both"
    assert "(10 of 10:" in page.inner_text("#cmp-selected")

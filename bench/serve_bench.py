"""How fast `embedsearch serve` answers, against a cold CLI query measured in the same run.

Starts `embedsearch serve` on a free loopback port over HOME, then:

1. warm queries through the HTTP API, one keep-alive connection, one at a time: p50 and
   p99 over N queries (hand-written questions from bench/questions, cycled);
2. cold CLI queries (`embedsearch search NAME QUERY --json`, a new process each) on the same
   index, interleaved with warm batches so both see the same machine load: the median, and
   its ratio to the warm p50;
3. throughput with C concurrent clients (threads, each with its own connection);
4. in headless Chromium (the system's, through Playwright): the time the page reports from
   sending a search to showing its results, and from asking for a table's map to having
   drawn it (`--map-table`, e.g. a CF model's item factors: 1,664 movies).

    .venv/bin/python bench/serve_bench.py --home /tmp/stdhome --name stdlib --map-table movielens-items
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def questions() -> list[str]:
    out = []
    for f in sorted((ROOT / "bench" / "questions").rglob("*.tsv")):
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                out.append(line.split("\t")[0])
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(conn: http.client.HTTPConnection, body: dict) -> float:
    t = time.perf_counter()
    conn.request("POST", "/api/search", json.dumps(body), {"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        raise SystemExit(f"search failed: {r.status} {data[:200]!r}")
    return time.perf_counter() - t


def pct(values: list[float], p: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", required=True)
    ap.add_argument("--name", required=True, help="Index to query.")
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--cold", type=int, default=10, help="Cold CLI queries.")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--warmup", type=float, default=15.0, help="Seconds of queries before measuring.")
    ap.add_argument("--map-table", default=None, help="Table whose map the browser draws.")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f} at start", flush=True)
    qs = questions()
    exe = str(Path(sys.executable).with_name("embedsearch"))
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    server = subprocess.Popen([exe, "--home", args.home, "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for _ in range(600):
            try:
                post(conn, {"index": args.name, "query": "warm up", "k": 10})
                break
            except (ConnectionError, OSError):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                time.sleep(0.2)
        # warm-up: the server reads the index's BM25 postings into memory in the background
        # (a few seconds; FTS5 answers until then): measure the steady state after it
        start = time.perf_counter()
        i = 0
        while i < 10 or time.perf_counter() - start < args.warmup:
            post(conn, {"index": args.name, "query": qs[i % len(qs)], "k": 10})
            i += 1
        warm, cold = [], []
        per_batch = max(1, args.queries // max(args.cold, 1))
        for i in range(args.queries):
            warm.append(post(conn, {"index": args.name, "query": qs[i % len(qs)], "k": 10}))
            if (i + 1) % per_batch == 0 and len(cold) < args.cold:
                t = time.perf_counter()
                subprocess.run([exe, "--home", args.home, "search", args.name, qs[(i * 7) % len(qs)], "-k", "10",
                                "--json"], env=env, check=True, stdout=subprocess.DEVNULL)
                cold.append(time.perf_counter() - t)
        p50, p99 = pct(warm, 50) * 1000, pct(warm, 99) * 1000
        cold_median = statistics.median(cold) * 1000
        print(f"warm HTTP query, {len(warm)} queries, one client: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
              f"mean {statistics.mean(warm) * 1000:.1f} ms", flush=True)
        print(f"cold CLI query, {len(cold)} runs interleaved: median {cold_median:.0f} ms "
              f"({cold_median / p50:.0f}x the warm p50)", flush=True)

        done = []
        lock = threading.Lock()

        def client(n: int, offset: int) -> None:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            for j in range(n):
                dt = post(c, {"index": args.name, "query": qs[(offset + j) % len(qs)], "k": 10})
                with lock:
                    done.append(dt)

        each = max(1, args.queries // args.clients)
        threads = [threading.Thread(target=client, args=(each, 37 * t)) for t in range(args.clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        print(f"{args.clients} concurrent clients, {len(done)} queries: {len(done) / wall:.0f} queries/s, "
              f"p50 {pct(done, 50) * 1000:.0f} ms, p99 {pct(done, 99) * 1000:.0f} ms per request", flush=True)

        chromium = shutil.which("chromium")
        if chromium:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(f"http://127.0.0.1:{port}/?index={args.name}")
                page.wait_for_function("document.getElementById('index').options.length > 0")
                renders = []
                for q in qs[:20]:
                    page.fill("#query", q)
                    page.click("#search-form button[type=submit]")
                    page.wait_for_function("/^\\d+ ms$/.test(document.getElementById('status').textContent)")
                    renders.append(int(page.inner_text("#status").split()[0]))
                print(f"page, search sent to results shown: median {statistics.median(renders)} ms, "
                      f"max {max(renders)} ms over {len(renders)} searches", flush=True)
                if args.map_table:
                    page.click("nav [data-tab=tables]")
                    draws = []
                    for _ in range(5):
                        page.evaluate("document.getElementById('status').textContent = ''")
                        page.select_option("#map-table", args.map_table)
                        page.evaluate("drawMap()")
                        page.wait_for_function("/^\\d+ ms$/.test(document.getElementById('status').textContent)")
                        draws.append(int(page.inner_text("#status").split()[0]))
                    keys = page.inner_text("#map-caption")
                    print(f"page, map of {keys.split(' keys')[0]} keys of {args.map_table} asked for and drawn: "
                          f"first {draws[0]} ms, then median {statistics.median(draws[1:])} ms", flush=True)
                browser.close()
        else:
            print("no system Chromium: the page was not timed", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()

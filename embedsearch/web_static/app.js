// embedsearch's page: plain JavaScript over the JSON API (no build step, no library).
"use strict";

const $ = (id) => document.getElementById(id);
const status = (text) => { $("status").textContent = text || ""; };

async function api(path, body) {
  const opts = body === undefined ? {} :
    { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, opts);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

// ------------------------------------------------------------------ tabs

document.querySelectorAll("nav .tab").forEach((button) => button.addEventListener("click", () => {
  document.querySelectorAll("nav .tab, .panel").forEach((n) => n.classList.remove("active"));
  button.classList.add("active");
  $(button.dataset.tab).classList.add("active");
}));

// ------------------------------------------------------------------ search

function searchBody() {
  const body = { index: $("index").value, query: $("query").value, k: Number($("k").value) || 10, highlight: true };
  const list = (v) => v.split(",").map((s) => s.trim()).filter(Boolean);
  if ($("glob").value.trim()) body.glob = list($("glob").value);
  if ($("kind").value) body.kind = [$("kind").value];
  if ($("lang").value.trim()) body.lang = list($("lang").value);
  if ($("where").value.trim()) body.where = [$("where").value.trim()];
  if ($("min-score").value !== "") body.min_score = Number($("min-score").value);
  if ($("dense").checked) body.dense = true;
  if ($("no-rerank").checked) body.no_rerank = true;
  return body;
}

function showHits(title, hits) {
  $("results-title").textContent = title;
  const list = $("results");
  list.replaceChildren();
  for (const hit of hits) {
    const code = el("pre", { class: "code" });
    code.innerHTML = hit.html;
    code.addEventListener("click", () => code.classList.toggle("open"));
    const more = el("button", { type: "button", class: "more", onclick: () => moreLike(hit) }, "more like this");
    list.append(el("li", { "data-id": hit.id },
      el("div", { class: "hit-head" },
        el("span", { class: "score" }, hit.score.toFixed(3)),
        el("span", { class: "loc" }, hit.location),
        el("span", { class: "name" }, hit.name),
        el("span", { class: "kind" }, hit.kind), more),
      code));
  }
  if (!hits.length) list.append(el("li", {}, "no results"));
}

async function runSearch(event) {
  event.preventDefault();
  const body = searchBody();
  if (!body.query.trim()) { status("say what you are looking for"); return; }
  status("searching...");
  try {
    const started = performance.now();
    const data = await api("/api/search", body);
    showHits(`${data.results.length} results for "${data.query}"`, data.results);
    status(`${Math.round(performance.now() - started)} ms`);
  } catch (err) { status(err.message); }
}

async function moreLike(hit) {
  const body = searchBody();
  delete body.query;
  body.id = hit.id;
  status("looking for similar chunks...");
  try {
    const data = await api("/api/similar", body);
    showHits(`like ${hit.location} ${hit.name}`, data.results);
    status("");
  } catch (err) { status(err.message); }
}

$("search-form").addEventListener("submit", runSearch);

// ------------------------------------------------------------------ plots

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
  "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d"];

class Plot {
  // A scatter of 2-D points on a canvas: hover names a point, click selects it.
  constructor(canvas, onPick, legend) {
    this.canvas = canvas;
    this.legend = legend;
    this.ctx = canvas.getContext("2d");
    this.onPick = onPick;
    this.marks = new Map(); // row -> colour
    this.selected = null;
    canvas.addEventListener("mousemove", (e) => this.hover(e));
    canvas.addEventListener("mouseleave", () => { $("tooltip").hidden = true; });
    canvas.addEventListener("click", (e) => { const i = this.nearest(e); if (i !== null) this.onPick(i); });
  }

  set(keys, x, y, labels) {
    this.keys = keys; this.x = x; this.y = y; this.labels = labels || [];
    const pad = 12, w = this.canvas.width, h = this.canvas.height;
    const [x0, x1] = [Math.min(...x), Math.max(...x)], [y0, y1] = [Math.min(...y), Math.max(...y)];
    this.px = x.map((v) => pad + (v - x0) / ((x1 - x0) || 1) * (w - 2 * pad));
    this.py = y.map((v) => h - pad - (v - y0) / ((y1 - y0) || 1) * (h - 2 * pad));
    const groups = [...new Set(this.labels.filter(Boolean))];
    this.colour = new Map(groups.map((g, i) => [g, PALETTE[i % PALETTE.length]]));
    if (this.legend) {
      this.legend.replaceChildren(...groups.slice(0, PALETTE.length).map((g) =>
        el("span", {}, el("i", { style: `background:${this.colour.get(g)}` }), g)));
    }
    this.marks.clear(); this.selected = null;
    this.draw();
  }

  draw() {
    const { ctx } = this;
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.globalAlpha = this.selected === null ? 0.7 : 0.25;
    for (let i = 0; i < this.px.length; i++) {
      ctx.fillStyle = this.colour.get(this.labels[i]) || "#607d8b";
      ctx.fillRect(this.px[i] - 1.5, this.py[i] - 1.5, 3, 3);
    }
    ctx.globalAlpha = 1;
    for (const [i, colour] of this.marks) this.ring(i, colour, 5);
    if (this.selected !== null) {
      this.ring(this.selected, "#000", 7);
      ctx.fillStyle = "#000"; ctx.font = "12px sans-serif";
      ctx.fillText(this.keys[this.selected], this.px[this.selected] + 9, this.py[this.selected] - 6);
    }
  }

  ring(i, colour, r) {
    const { ctx } = this;
    ctx.strokeStyle = colour; ctx.lineWidth = 2;
    ctx.beginPath(); ctx.arc(this.px[i], this.py[i], r, 0, 2 * Math.PI); ctx.stroke();
  }

  nearest(e) {
    if (!this.px) return null;
    const box = this.canvas.getBoundingClientRect();
    const mx = (e.clientX - box.left) * this.canvas.width / box.width;
    const my = (e.clientY - box.top) * this.canvas.height / box.height;
    let best = null, bestD = 64; // within 8 px
    for (let i = 0; i < this.px.length; i++) {
      const d = (this.px[i] - mx) ** 2 + (this.py[i] - my) ** 2;
      if (d < bestD) { bestD = d; best = i; }
    }
    return best;
  }

  hover(e) {
    const i = this.nearest(e), tip = $("tooltip");
    if (i === null) { tip.hidden = true; return; }
    tip.hidden = false;
    tip.textContent = this.labels[i] ? `${this.keys[i]} (${this.labels[i]})` : this.keys[i];
    tip.style.left = `${e.clientX + 12}px`; tip.style.top = `${e.clientY + 12}px`;
  }
}

function fillKeys(datalist, keys) {
  datalist.replaceChildren(...keys.slice(0, 5000).map((k) => el("option", { value: k })));
}

// ------------------------------------------------------------------ table explorer

const mapPlot = new Plot($("map-canvas"), (i) => pickOnMap(mapPlot.keys[i]), $("map-legend"));

async function drawMap(event) {
  if (event) event.preventDefault();
  const table = $("map-table").value;
  if (!table) return;
  status(`drawing ${table}...`);
  try {
    const started = performance.now();
    const data = await api(`/api/map?table=${encodeURIComponent(table)}&limit=${Number($("map-limit").value) || 3000}`);
    mapPlot.set(data.keys, data.x, data.y, data.labels);
    fillKeys($("map-keys"), data.keys);
    $("map-caption").textContent = `${data.keys.length.toLocaleString()} keys of ${table}, first two principal components`;
    status(`${Math.round(performance.now() - started)} ms`);
    if ($("map-key").value && event && event.submitter) await pickOnMap($("map-key").value);
  } catch (err) { status(err.message); }
}

async function pickOnMap(key) {
  const table = $("map-table").value;
  try {
    const data = await api(`/api/neighbours?table=${encodeURIComponent(table)}&key=${encodeURIComponent(key)}&k=10`);
    const row = mapPlot.keys.indexOf(key);
    mapPlot.selected = row >= 0 ? row : null;
    mapPlot.marks.clear();
    for (const n of data.results) {
      const i = mapPlot.keys.indexOf(n.key);
      if (i >= 0) mapPlot.marks.set(i, "#d62728");
    }
    mapPlot.draw();
    $("map-selected").textContent = `nearest to ${key}`;
    $("map-neighbours").replaceChildren(...data.results.map((n) => el("li", {}, `${n.key} (${n.cosine.toFixed(3)})`)));
    status("");
  } catch (err) { status(err.message); }
}

$("map-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if ($("map-key").value && mapPlot.keys && $("map-table").value === mapPlot.table) { await pickOnMap($("map-key").value); return; }
  await drawMap(e);
  mapPlot.table = $("map-table").value;
  if ($("map-key").value) await pickOnMap($("map-key").value);
});
$("map-table").addEventListener("change", () => drawMap());

// ------------------------------------------------------------------ compare

let comparison = null;
const plotA = new Plot($("cmp-canvas-a"), (i) => pickCompared(i), $("cmp-legend"));
const plotB = new Plot($("cmp-canvas-b"), (i) => pickCompared(i));

async function runCompare(event) {
  if (event) event.preventDefault();
  const a = $("cmp-a").value, b = $("cmp-b").value, k = Number($("cmp-k").value) || 10;
  if (comparison && comparison.a.table === a && comparison.b.table === b && comparison.k === k && $("cmp-key").value) {
    const i = comparison.keys.indexOf($("cmp-key").value);
    if (i >= 0) { pickCompared(i); return; }
  }
  status(`comparing ${a} and ${b}...`);
  try {
    const data = await api(`/api/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}&k=${k}`);
    comparison = { ...data, k };
    plotA.set(data.keys, data.a.x, data.a.y, data.labels);
    plotB.set(data.keys, data.b.x, data.b.y, data.labels);
    fillKeys($("cmp-keys"), data.keys);
    const f = data.figures, fmt = (v) => (v === null || v === undefined ? "-" : v.toFixed(3));
    $("cmp-figures").textContent = `${f.keys_used.toLocaleString()} shared keys; overlap@${f.k} ${fmt(f.overlap)}, ` +
      `linear CKA ${fmt(f.linear_cka)}, cosine Spearman ${fmt(f.cosine_spearman)}, ` +
      `R² ${f.a}→${f.b} ${fmt(f.r2_a_to_b)}, ${f.b}→${f.a} ${fmt(f.r2_b_to_a)}`;
    $("cmp-caption-a").textContent = `${a}: first two principal components`;
    $("cmp-caption-b").textContent = `${b}: first two principal components`;
    status("");
    const i = data.keys.indexOf($("cmp-key").value);
    if (i >= 0) pickCompared(i);
  } catch (err) { status(err.message); }
}

function pickCompared(i) {
  const na = new Set(comparison.a.neighbours[i]), nb = new Set(comparison.b.neighbours[i]);
  for (const plot of [plotA, plotB]) {
    plot.selected = i;
    plot.marks.clear();
    for (const j of na) plot.marks.set(j, nb.has(j) ? "#9467bd" : "#ff7f0e");
    for (const j of nb) if (!na.has(j)) plot.marks.set(j, "#1f77b4");
    plot.draw();
  }
  const both = [...na].filter((j) => nb.has(j)).map((j) => comparison.keys[j]);
  $("cmp-selected").replaceChildren(
    el("strong", {}, comparison.keys[i]), ": neighbours in ",
    el("span", { style: "color:#ff7f0e" }, comparison.a.table), " only, in ",
    el("span", { style: "color:#1f77b4" }, comparison.b.table), " only, ",
    el("span", { style: "color:#9467bd" }, "in both"), ` (${both.length} of ${comparison.k}` +
    (both.length ? `: ${both.join(", ")})` : ")"));
  $("cmp-key").value = comparison.keys[i];
}

$("compare-form").addEventListener("submit", runCompare);

// ------------------------------------------------------------------ start

async function start() {
  try {
    const [{ indexes }, { tables }] = await Promise.all([api("/api/indexes"), api("/api/tables")]);
    const searchable = indexes.filter((ix) => ix.kind === "code" || ix.kind === "text");
    $("index").replaceChildren(...searchable.map((ix) => el("option", { value: ix.name }, ix.name)));
    const names = tables.map((t) => t.name);
    for (const select of [$("map-table"), $("cmp-a"), $("cmp-b")]) {
      select.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
    }
    const items = tables.find((t) => t.kind === "cf-items");
    if (items) { $("map-table").value = items.name; $("cmp-a").value = items.name; }
    if (names.includes("movies-minilm")) $("cmp-b").value = "movies-minilm";
    const params = new URLSearchParams(location.search);
    if (params.get("index")) $("index").value = params.get("index");
    if (params.get("q")) { $("query").value = params.get("q"); $("search-form").requestSubmit(); }
    if (!searchable.length) status("no index in this home yet: build one with `embedsearch index`");
  } catch (err) { status(err.message); }
}

start();

// The grid of charts: one card per metric (system metrics in a section of their own), a
// search over metric names, each card resizable (drag its corner) and expandable (one
// click: full width, taller), each drawn when it first comes near the viewport.
import { errorBox } from "./api.js";
import { fill, h } from "./dom.js";
import { MetricChart } from "./metricchart.js";

const SYSTEM = "system/";
const metrics = (n) => `${n} metric${n === 1 ? "" : "s"}`;

/**
 * `ctx`: the page's context (see metricchart.js); `openHref(key)`: the one-metric page;
 * `onLoaded(chart)`: after a chart's load. Returns the element to show and its controls.
 */
export function chartGrid(ctx, keys, { openHref, onLoaded }) {
  const records = new Map();  // key → { card, plot, chart, visible, stale }
  const parts = {
    metrics: gridSection("Metrics", "metric-charts"),
    system: gridSection("System metrics", "system-charts"),
  };
  const count = h("span", { class: "status", id: "metric-count" });
  const search = h("input", { type: "search", id: "metric-search", placeholder: "Search metrics…",
    "aria-label": "Search metrics", oninput: () => filter() });
  // Cards a screen away start loading before they show; the rest wait.
  const seen = new IntersectionObserver(onSeen, { rootMargin: "300px 0px" });
  const sized = new ResizeObserver(onResized);

  function add(key) {
    if (records.has(key)) return;
    const plot = h("div", { class: "chart-plot", "data-key": key });
    const expand = h("button", { type: "button", class: "chart-expand", "aria-pressed": "false",
      title: "Full width and taller", onclick: () => toggle(record, expand) }, "Expand");
    const card = h("article", { class: "chart-card", "data-key": key },
      h("header", { class: "chart-head" },
        h("h3", { class: "chart-title", title: key }, key),
        h("a", { class: "chart-open", href: openHref(key), title: `${key} alone: zoom, smoothing, CSV` }, "Open"),
        expand),
      plot);
    const chart = new MetricChart(plot, key, ctx, { onLoaded: (c) => { card.classList.remove("loading"); onLoaded?.(c); } });
    const record = { key, card, plot, chart, visible: false, stale: true };
    records.set(key, record);
    (key.startsWith(SYSTEM) ? parts.system : parts.metrics).grid.append(card);
    seen.observe(card);
    sized.observe(plot);
  }

  function onSeen(entries) {
    for (const entry of entries) {
      const record = records.get(entry.target.dataset.key);
      record.visible = entry.isIntersecting;
      if (record.visible && record.stale) load(record);
    }
  }

  function load(record) {
    record.stale = false;
    record.card.classList.add("loading");
    record.chart.load().catch((e) => {
      record.card.classList.remove("loading");
      window.Plotly.purge(record.plot);
      fill(record.plot, errorBox(e));  // the error takes the chart's place
      record.stale = true;
    });
  }

  let pending = new Set();
  function onResized(entries) {
    for (const entry of entries) pending.add(entry.target);
    requestAnimationFrame(() => {
      for (const plot of pending) {
        // A card hidden by the search, or a page already left, has nothing to lay out.
        const shown = plot.isConnected && plot.offsetParent !== null && plot.classList.contains("js-plotly-plot");
        if (shown) window.Plotly.Plots.resize(plot).catch(() => {});
      }
      pending = new Set();
    });
  }

  function toggle(record, button) {
    const expanded = record.card.classList.toggle("expanded");
    button.setAttribute("aria-pressed", String(expanded));
    button.textContent = expanded ? "Shrink" : "Expand";
    record.card.style.height = "";  // a dragged height gives way to the expanded one
    if (expanded) record.card.scrollIntoView({ block: "nearest" });
  }

  function filter() {
    const words = search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const record of records.values()) {
      const match = words.every((w) => record.key.toLowerCase().includes(w));
      record.card.hidden = !match;
      shown += match ? 1 : 0;
    }
    for (const part of Object.values(parts)) {
      part.element.hidden = ![...part.grid.children].some((card) => !card.hidden);
    }
    fill(count, words.length ? `${shown} of ${metrics(records.size)}` : metrics(records.size));
    empty.hidden = shown > 0 || !records.size;
  }

  /** Settings that change the data (x axis, grouping): visible charts fetch again now,
   * the others when they come into view. */
  function reloadAll() {
    for (const record of records.values()) {
      record.chart.range = null;
      if (record.visible && !record.card.hidden) load(record);
      else record.stale = true;
    }
  }

  const empty = h("p", { class: "empty-state", id: "no-metric-match", hidden: true }, "No metric matches the search.");
  keys.forEach(add);
  filter();
  return {
    element: h("div", { class: "chart-sections" }, empty, parts.metrics.element, parts.system.element),
    search,
    count,
    charts: () => [...records.values()].map((r) => r.chart),
    redrawAll: () => records.forEach((r) => r.chart.draw()),
    reloadAll,
    addKeys: (more) => { more.forEach(add); filter(); },
  };
}

function gridSection(title, id) {
  const grid = h("div", { class: "chart-grid", id });
  return { grid, element: h("section", { class: "chart-section" }, h("h2", {}, title), grid) };
}

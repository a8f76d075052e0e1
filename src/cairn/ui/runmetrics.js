// A run's Metrics and System metrics tabs: one row per metric with a sparkline of its
// history, latest/min/max, and a link to its chart. Histories load as rows scroll into view,
// a few at a time, downsampled by the server (min and max of each bucket keep every spike).
import { ApiError, cairn, get } from "./api.js";
import { emptyState, fill, formatValue, h, relativeTime, table } from "./dom.js";
import { href } from "./router.js";

export const isSystem = (key) => key.startsWith("system/");

const BUCKETS = 60;      // points in a sparkline
const PARALLEL = 4;      // histories asked for at once
const SVG = "http://www.w3.org/2000/svg";

export function metricsPanel(run, system, live) {
  const id = run.info.run_id;
  const metrics = (run.data?.metrics || []).filter((m) => isSystem(m.key) === system)
    .sort((a, b) => a.key.localeCompare(b.key));
  if (!metrics.length) {
    return system
      ? emptyState("No system metrics for this run. Start a run with them on to sample CPU, memory, disk, network and GPU every few seconds:",
        "with cairn.start_run(log_system_metrics=True):\n    ...")
      : emptyState("No metrics logged yet. Log one per step to see it here:", 'cairn.log_metric("loss", 0.42, step=1)');
  }
  const rows = metrics.map((m) => metricRow(id, m));
  loadWhenSeen(rows, live);
  const headers = ["Metric", "History", "Latest", "Min", "Max", "Step", "Points", "Logged"];
  return [
    h("p", { class: "status" }, system
      ? "Sampled while the run ran. Open a metric for its full chart."
      : "Open a metric for its full chart (zoom, smoothing, other runs)."),
    table(headers, rows.map((r) => r.tr), { class: "grid metric-table", id: system ? "system-metrics" : "metrics" }),
  ];
}

function metricRow(runId, metric) {
  const cells = { spark: h("td", { class: "spark" }), min: h("td", { class: "num min" }, "…"),
    max: h("td", { class: "num max" }, "…"), points: h("td", { class: "num points" }, "…") };
  const name = metric.key.replace(/^system\//, "");
  const tr = h("tr", { dataset: { key: metric.key } },
    h("th", {}, h("a", { href: href("charts", { runs: runId, key: metric.key }), title: `Chart of ${metric.key}` }, name)),
    cells.spark, h("td", { class: "num latest" }, formatValue(metric.value)), cells.min, cells.max,
    h("td", { class: "num" }, String(metric.step ?? "")), cells.points, h("td", {}, relativeTime(metric.timestamp)));
  return { tr, cells, runId, key: metric.key };
}

/** Fill each row once it nears the screen, with at most PARALLEL requests in flight. */
function loadWhenSeen(rows, live) {
  const byElement = new Map(rows.map((r) => [r.tr, r]));
  const queue = [];
  let running = 0;
  const pump = () => {
    while (running < PARALLEL && queue.length) {
      const row = queue.shift();
      if (!live() || !row.tr.isConnected) continue;
      running++;
      fillRow(row).finally(() => { running--; pump(); });
    }
  };
  const observer = new IntersectionObserver((entries) => {
    if (!live()) return observer.disconnect();
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      observer.unobserve(entry.target);
      queue.push(byElement.get(entry.target));
    }
    pump();
  }, { rootMargin: "300px" });
  for (const row of rows) observer.observe(row.tr);
}

async function fillRow({ tr, cells, runId, key }) {
  try {
    const series = await history(runId, key);
    const values = series.points.flatMap((p) => [p.min, p.max]).filter(Number.isFinite);
    fill(cells.min, values.length ? formatValue(Math.min(...values)) : "");
    fill(cells.max, values.length ? formatValue(Math.max(...values)) : "");
    fill(cells.points, String(series.total_points ?? series.points.length));
    fill(cells.spark, sparkline(series.points, key));
    tr.dataset.loaded = "1";
  } catch (error) {
    for (const cell of [cells.min, cells.max, cells.points]) fill(cell, "?");
    cells.spark.title = error.message || String(error);
  }
}

/** The history in buckets of min/max/last; from a server without Cairn's endpoint, the full
 * history, one point per bucket. */
async function history(runId, key) {
  try {
    const answer = await cairn("metrics/downsampled", { run_ids: runId, key, buckets: BUCKETS });
    return answer.series[0];
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 404) throw error;
    const answer = await get("metrics/get-history", { run_id: runId, metric_key: key });
    const points = (answer.metrics || []).map((m) => ({ x: Number(m.step), min: Number(m.value), max: Number(m.value), last: Number(m.value) }));
    return { points: points.sort((a, b) => a.x - b.x), total_points: points.length };
  }
}

function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** A small line of the last value per bucket over a band from its min to its max. */
function sparkline(points, key) {
  const finite = points.filter((p) => Number.isFinite(p.last) && Number.isFinite(p.min) && Number.isFinite(p.max));
  const width = 140, height = 30, pad = 2;
  const box = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "sparkline", role: "img",
    "aria-label": `History of ${key}` });
  if (finite.length < 2) return box;
  const xs = finite.map((p) => p.x), low = Math.min(...finite.map((p) => p.min)), high = Math.max(...finite.map((p) => p.max));
  const x0 = Math.min(...xs), dx = (Math.max(...xs) - x0) || 1, dy = (high - low) || 1;
  const X = (x) => (pad + ((x - x0) / dx) * (width - 2 * pad)).toFixed(1);
  const Y = (y) => (height - pad - ((y - low) / dy) * (height - 2 * pad)).toFixed(1);
  const band = [...finite.map((p) => `${X(p.x)},${Y(p.max)}`), ...[...finite].reverse().map((p) => `${X(p.x)},${Y(p.min)}`)];
  box.append(svg("polygon", { points: band.join(" "), class: "band" }),
    svg("polyline", { points: finite.map((p) => `${X(p.x)},${Y(p.last)}`).join(" "), class: "line" }));
  return box;
}

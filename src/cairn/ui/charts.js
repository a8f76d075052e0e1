// Charts: one metric of the selected runs over step / wall time / relative time.
// Long histories come downsampled per pixel bucket (min, max, last); zoom asks again.
import { ApiError, cairn, cairnUrl, errorBox, get, post } from "./api.js";
import { fill, h } from "./dom.js";
import { plotly } from "./plotly.js";


// About one bucket per horizontal pixel of the plot: finer adds nothing a screen can show.
// With many series on one plot, one per two pixels: the server reads less, plotly draws less.
const MIN_BUCKETS = 100, MAX_BUCKETS = 4000, MARGIN = 80, CROWDED = 4;

function bucketsFor(element, seriesCount) {
  const width = Math.round((element.clientWidth || 1000) - MARGIN) / (seriesCount > CROWDED ? 2 : 1);
  return Math.max(MIN_BUCKETS, Math.min(MAX_BUCKETS, Math.round(width)));
}

/** A range end from plotly (a number, or on a date axis a UTC date string) as a number. */
function rangeValue(value, axis) {
  if (typeof value === "number") return value;
  if (axis !== "timestamp") return Number(value);
  const text = String(value).trim().replace(" ", "T");
  return Date.parse(/Z|[+-]\d\d:?\d\d$/.test(text) ? text : `${text}Z`);
}

export async function chartsPage(main, _params, query, live) {
  const ids = (query.get("runs") || "").split(",").filter(Boolean);
  main.append(h("h1", {}, "Charts"));
  if (!ids.length) return main.append(h("p", {}, "Select runs on a runs page first."));
  // The runs, plotly and (when the URL names the metric) the first series load together.
  const wanted = query.get("key");
  const firstBuckets = bucketsFor(main, ids.length);
  let prefetched = wanted
    ? fetchSeries(ids, wanted, "step", undefined, undefined, firstBuckets).catch(() => null)
    : null;
  const [runs] = await Promise.all([runsById(ids), plotly()]);
  if (!live()) return;
  const keys = [...new Set(runs.flatMap((r) => (r.data?.metrics || []).map((m) => m.key)))].sort();
  const state = { key: query.get("key") || keys[0] || "", x: "step", log: false, smoothing: 0, range: null,
    series: [], buckets: 0, loads: 0 };
  const select = (id, options, value, onchange) => h("select", { id, onchange }, options.map((o) =>
    h("option", { value: o, selected: o === value }, o)));
  const status = h("div", { class: "status", id: "chart-status" });
  const downloads = h("p", { id: "downloads" });
  const chart = h("div", { class: "chart", id: "chart" });
  const names = Object.fromEntries(runs.map((r) => [r.info.run_id, r.info.run_name || r.info.run_id]));
  const smooth = h("input", { type: "range", min: 0, max: 0.99, step: 0.01, value: 0, id: "smoothing",
    oninput: () => { state.smoothing = Number(smooth.value); draw(); } });
  const axes = { step: "step", timestamp: "wall time", relative: "relative time (s)" };
  const axisSelect = h("select", { id: "x-axis", onchange: (e) => { state.x = e.target.value; state.range = null; load(); } },
    Object.entries(axes).map(([value, label]) => h("option", { value, selected: value === state.x }, label)));
  main.append(h("div", { class: "toolbar" },
    h("label", {}, "Metric ", select("metric", keys, state.key, (e) => { state.key = e.target.value; state.range = null; load(); })),
    h("label", {}, "X axis ", axisSelect),
    h("label", {}, h("input", { type: "checkbox", id: "log-scale", onchange: (e) => { state.log = e.target.checked; draw(); } }), " log scale"),
    h("label", {}, "Smoothing ", smooth),
    h("button", { type: "button", id: "reset-zoom", onclick: () => { state.range = null; load(); } }, "Reset zoom")),
    status, chart, downloads);

  let generation = 0;
  async function load() {
    const mine = ++generation;
    fill(status, "Loading…");
    const [x_min, x_max] = state.range || [];
    let buckets = bucketsFor(chart, ids.length);
    const early = prefetched && state.key === wanted && state.x === "step" && !state.range ? prefetched : null;
    prefetched = null;
    try {
      let series = early ? await early : null;
      if (series) buckets = firstBuckets;
      else series = await fetchSeries(ids, state.key, state.x, x_min, x_max, buckets);
      if (!live() || mine !== generation) return;
      state.series = series;
      state.buckets = buckets;
      const sampled = series.filter((s) => s.downsampled);
      const shown = Math.max(0, ...sampled.map((s) => s.points.length));
      fill(status, `${series.length} series` + (sampled.length ? `, ${sampled.length} downsampled to ${shown} buckets of up to ${buckets} (min/max band kept)` : "")
        + (state.range ? " · zoomed" : ""));
      fill(downloads, "Exact points (CSV): ", ids.map((id) => h("a", { class: "badge", download: `${id}-${state.key}.csv`,
        "data-run-id": id, href: cairnUrl("metrics/export", { run_id: id, key: state.key }) }, names[id])));
      draw();
      chart.dataset.loads = String(++state.loads);
    } catch (e) { if (mine === generation) fill(status, errorBox(e)); }
  }

  function draw() {
    const traces = state.series.flatMap((s, i) => tracesFor(s, names[s.run_id] || s.run_id, i, state.smoothing));
    const layout = { margin: { t: 20, r: 20 }, hovermode: "closest",
      xaxis: { title: { text: axes[state.x] }, type: state.x === "timestamp" ? "date" : "linear",
        ...(state.range ? { range: state.range, autorange: false } : { autorange: true }) },
      yaxis: { title: { text: state.key }, type: state.log ? "log" : "linear" } };
    window.Plotly.react(chart, traces, layout, { responsive: true, displaylogo: false });
    chart.dataset.series = String(state.series.length);
    chart.dataset.axis = state.x;
    if (!chart.dataset.hooked) {
      chart.dataset.hooked = "1";
      chart.on("plotly_relayout", (e) => {
        if (e["xaxis.autorange"]) { if (state.range) { state.range = null; load(); } }
        else if ("xaxis.range[0]" in e || "xaxis.range" in e) {
          const [a, b] = e["xaxis.range"] || [e["xaxis.range[0]"], e["xaxis.range[1]"]];
          const range = [rangeValue(a, state.x), rangeValue(b, state.x)].sort((p, q) => p - q);
          if (range.some((v) => !Number.isFinite(v))) return;
          if (state.range && state.range[0] === range[0] && state.range[1] === range[1]) return;
          state.range = range;
          load();
        }
      });
    }
  }
  // For tests and scripts: zoom as a drag would (through plotly's relayout), and what is drawn.
  window.cairnChart = {
    zoom: (x0, x1) => window.Plotly.relayout(chart, { "xaxis.range[0]": x0, "xaxis.range[1]": x1 }),
    reset: () => window.Plotly.relayout(chart, { "xaxis.autorange": true }),
    state: () => ({ key: state.key, x: state.x, log: state.log, smoothing: state.smoothing, range: state.range,
      buckets: state.buckets, loads: state.loads }),
  };
  await load();
}

async function runsById(ids) {
  const quoted = ids.map((id) => `'${id.replace(/'/g, "")}'`).join(", ");
  const answer = await post("runs/search", { filter: `attributes.run_id IN (${quoted})`, max_results: 1000,
    experiment_ids: await experimentIds() });
  return answer.runs || [];
}

export async function experimentIds() {
  const answer = await post("experiments/search", { max_results: 1000 });
  return (answer.experiments || []).map((e) => e.experiment_id);
}

async function fetchSeries(ids, key, x, x_min, x_max, buckets) {
  try {
    const answer = await cairn("metrics/downsampled", { run_ids: ids.join(","), key, x_axis: x, x_min, x_max, buckets });
    return answer.series || [];
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) throw e;
    return Promise.all(ids.map((id) => fullHistory(id, key, x)));  // server without the endpoint (no zoom refetch)
  }
}

async function fullHistory(run_id, key, x) {
  const answer = await get("metrics/get-history", { run_id, metric_key: key });
  const metrics = (answer.metrics || []).sort((a, b) => a.step - b.step || a.timestamp - b.timestamp);
  const t0 = metrics.length ? Math.min(...metrics.map((m) => m.timestamp)) : 0;
  const xOf = (m) => (x === "step" ? m.step : x === "timestamp" ? m.timestamp : (m.timestamp - t0) / 1000);
  const points = metrics.map((m) => ({ x: xOf(m), min: m.value, max: m.value, last: m.value, step: m.step, timestamp: m.timestamp }));
  return { run_id, key, x_axis: x, points, total_points: points.length, downsampled: false };
}

const COLORS = ["#2160c4", "#d9480f", "#2b8a3e", "#862e9c", "#c92a2a", "#0b7285", "#e67700", "#5c940d", "#364fc7", "#a61e4d"];

const num = (v) => (v === null || v === undefined || v === "" ? NaN : Number(v));

function tracesFor(series, name, i, smoothing) {
  const color = COLORS[i % COLORS.length];
  const xs = series.points.map((p) => p.x);  // on the wall-time axis: ms, which plotly dates take
  const last = ema(series.points.map((p) => num(p.last)), smoothing).map((v) => (Number.isFinite(v) ? v : null));
  const out = [];
  const group = series.run_id;
  if (series.downsampled) {
    out.push({ x: xs, y: series.points.map((p) => p.min), mode: "lines", line: { width: 0.5, color: color + "66" }, hoverinfo: "skip",
      showlegend: false, legendgroup: group, name: `${name} min`, meta: { run_id: series.run_id, role: "min" } });
    out.push({ x: xs, y: series.points.map((p) => p.max), mode: "lines", line: { width: 0.5, color: color + "99" }, fill: "tonexty",
      fillcolor: color + "40", hoverinfo: "skip", showlegend: false, legendgroup: group, name: `${name} max`,
      meta: { run_id: series.run_id, role: "max" } });
  }
  out.push({ x: xs, y: last, name, mode: "lines", line: { color, width: 1.5 }, legendgroup: group,
    meta: { run_id: series.run_id, role: "last" },
    customdata: series.points.map((p) => [p.step, p.min, p.max, p.count ?? 1]),
    hovertemplate: `%{y}<br>step %{customdata[0]} · min %{customdata[1]} · max %{customdata[2]} · %{customdata[3]} points<extra>${escapeTemplate(name)}</extra>` });
  return out;
}

// Plotly's hover templates are its own markup: keep a run name as plain characters.
function escapeTemplate(text) {
  return String(text).replace(/[&<>"'%{}]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function ema(values, alpha) {
  if (!alpha) return values;
  let s = null;
  return values.map((v) => {
    if (!Number.isFinite(v)) return NaN;  // a NaN or ±inf point: a gap, the average carries on
    s = s === null ? v : alpha * s + (1 - alpha) * v;
    return s;
  });
}

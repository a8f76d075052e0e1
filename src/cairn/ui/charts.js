// Charts: one metric of the selected runs over step / wall time / relative time.
// Long histories come downsampled per pixel bucket (min, max, last); zoom asks again.
import { ApiError, cairn, cairnUrl, errorBox, get, post } from "./api.js";
import { fill, h } from "./dom.js";
import { plotly } from "./plotly.js";


const BUCKETS = 1000;

export async function chartsPage(main, _params, query, live) {
  const ids = (query.get("runs") || "").split(",").filter(Boolean);
  main.append(h("h1", {}, "Charts"));
  if (!ids.length) return main.append(h("p", {}, "Select runs on a runs page first."));
  await plotly();
  const runs = await runsById(ids);
  if (!live()) return;
  const keys = [...new Set(runs.flatMap((r) => (r.data?.metrics || []).map((m) => m.key)))].sort();
  const state = { key: query.get("key") || keys[0] || "", x: "step", log: false, smoothing: 0, range: null, series: [] };
  const select = (id, options, value, onchange) => h("select", { id, onchange }, options.map((o) =>
    h("option", { value: o, selected: o === value }, o)));
  const status = h("div", { class: "status", id: "chart-status" });
  const downloads = h("p", { id: "downloads" });
  const chart = h("div", { class: "chart", id: "chart" });
  const names = Object.fromEntries(runs.map((r) => [r.info.run_id, r.info.run_name || r.info.run_id]));
  const smooth = h("input", { type: "range", min: 0, max: 0.99, step: 0.01, value: 0, id: "smoothing",
    oninput: () => { state.smoothing = Number(smooth.value); draw(); } });
  main.append(h("div", { class: "toolbar" },
    h("label", {}, "Metric ", select("metric", keys, state.key, (e) => { state.key = e.target.value; state.range = null; load(); })),
    h("label", {}, "X axis ", select("x-axis", ["step", "timestamp", "relative"], state.x,
      (e) => { state.x = e.target.value; state.range = null; load(); })),
    h("label", {}, h("input", { type: "checkbox", id: "log-scale", onchange: (e) => { state.log = e.target.checked; draw(); } }), " log scale"),
    h("label", {}, "Smoothing ", smooth)), status, chart, downloads);

  async function load() {
    fill(status, "Loading…");
    const [x_min, x_max] = state.range || [];
    try {
      state.series = await fetchSeries(ids, state.key, state.x, x_min, x_max);
      if (!live()) return;
      const sampled = state.series.filter((s) => s.downsampled).length;
      fill(status, `${state.series.length} series` + (sampled ? `, ${sampled} downsampled to ${BUCKETS} buckets (min/max band kept)` : ""));
      fill(downloads, "Exact points (CSV): ", ids.map((id) => h("a", { class: "badge", download: `${id}-${state.key}.csv`,
        href: cairnUrl("metrics/export", { run_id: id, key: state.key }) }, names[id])));
      draw();
    } catch (e) { fill(status, errorBox(e)); }
  }

  function draw() {
    const traces = state.series.flatMap((s, i) => traces_for(s, names[s.run_id] || s.run_id, i, state.smoothing));
    const layout = { margin: { t: 20, r: 20 }, hovermode: "closest", xaxis: { title: { text: state.x },
      ...(state.range ? { range: state.range } : {}) },
      yaxis: { title: { text: state.key }, type: state.log ? "log" : "linear" } };
    window.Plotly.react(chart, traces, layout, { responsive: true, displaylogo: false });
    chart.dataset.series = String(state.series.length);
    if (!chart.dataset.hooked) {
      chart.dataset.hooked = "1";
      chart.on("plotly_relayout", (e) => {
        if (e["xaxis.autorange"]) { state.range = null; load(); }
        else if ("xaxis.range[0]" in e) { state.range = [e["xaxis.range[0]"], e["xaxis.range[1]"]]; load(); }
      });
    }
  }
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

async function fetchSeries(ids, key, x, x_min, x_max) {
  try {
    const answer = await cairn("metrics/downsampled", { run_ids: ids.join(","), key, x_axis: x, x_min, x_max, buckets: BUCKETS });
    return answer.series || [];
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) throw e;
    return Promise.all(ids.map((id) => fullHistory(id, key, x)));  // server without the endpoint
  }
}

async function fullHistory(run_id, key, x) {
  const answer = await get("metrics/get-history", { run_id, metric_key: key });
  const metrics = (answer.metrics || []).sort((a, b) => a.step - b.step || a.timestamp - b.timestamp);
  const t0 = metrics.length ? Math.min(...metrics.map((m) => m.timestamp)) : 0;
  const xOf = (m) => (x === "step" ? m.step : x === "timestamp" ? m.timestamp : (m.timestamp - t0) / 1000);
  const points = metrics.map((m) => ({ x: xOf(m), min: m.value, max: m.value, last: m.value, step: m.step, timestamp: m.timestamp }));
  return { run_id, key, points, total_points: points.length, downsampled: false };
}

const COLORS = ["#2160c4", "#d9480f", "#2b8a3e", "#862e9c", "#c92a2a", "#0b7285", "#e67700", "#5c940d", "#364fc7", "#a61e4d"];

function traces_for(series, name, i, smoothing) {
  const color = COLORS[i % COLORS.length];
  const xs = series.points.map((p) => (series.x_axis === "timestamp" ? new Date(p.x) : p.x));
  const last = ema(series.points.map((p) => Number(p.last)), smoothing);
  const out = [];
  if (series.downsampled) {
    out.push({ x: xs, y: series.points.map((p) => p.min), mode: "lines", line: { width: 0 }, hoverinfo: "skip", showlegend: false });
    out.push({ x: xs, y: series.points.map((p) => p.max), mode: "lines", line: { width: 0 }, fill: "tonexty",
      fillcolor: color + "33", hoverinfo: "skip", showlegend: false });
  }
  out.push({ x: xs, y: last, name, mode: "lines", line: { color, width: 1.5 }, meta: series.run_id });
  return out;
}

function ema(values, alpha) {
  if (!alpha) return values;
  let s = null;
  return values.map((v) => (s = s === null || isNaN(s) ? v : alpha * s + (1 - alpha) * v));
}


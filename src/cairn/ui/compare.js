// Compare 2–100 runs: params and metrics side by side (differences marked),
// parallel coordinates of chosen columns, and a scatter of one column against another.
import { errorBox, post } from "./api.js";
import { formatValue, h, section } from "./dom.js";
import { plotly } from "./plotly.js";
import { href } from "./router.js";
import { experimentIds } from "./charts.js";
import { flatten } from "./runtable.js";
import { drawParallel } from "./parallel.js";

const MAX_RUNS = 100;

export async function comparePage(main, _params, query, live) {
  const ids = (query.get("runs") || "").split(",").filter(Boolean).slice(0, MAX_RUNS);
  main.append(h("h1", {}, `Compare ${ids.length} runs`));
  if (ids.length < 2) return main.append(h("p", {}, "Select 2 to 100 runs on a runs page."));
  const quoted = ids.map((id) => `'${id.replace(/'/g, "")}'`).join(", ");
  // Plotly (megabytes of script) loads while the runs are fetched; the tables need only the runs.
  const charting = plotly();
  charting.catch(() => {});
  let answer;
  try {
    answer = await post("runs/search", { filter: `attributes.run_id IN (${quoted})`, max_results: 1000,
      experiment_ids: await experimentIds() });
  } catch (e) { return main.append(errorBox(e)); }
  if (!live()) return;
  const runs = (answer.runs || []).map(flatten);
  const params = keysOf(runs, "params"), metrics = keysOf(runs, "metrics");
  const plot = h("div", { class: "status" }, "Loading chart…");
  main.append(
    section("Parameters", sideBySide(runs, "params", params, "compare-params")),
    section("Metrics", sideBySide(runs, "metrics", metrics, "compare-metrics")),
    section("Parallel coordinates", parallel(runs, params, metrics)),
    section("Scatter", plot));
  try { await charting; } catch (e) { plot.replaceWith(errorBox(e)); return; }
  if (!live()) return;
  plot.replaceWith(scatter(runs, params, metrics));
}

function keysOf(runs, kind) {
  return [...new Set(runs.flatMap((r) => Object.keys(r[kind])))].sort();
}

function sideBySide(runs, kind, keys, id) {
  if (!keys.length) return h("p", { class: "status" }, "None.");
  const head = h("tr", {}, h("th", {}, ""), runs.map((r) =>
    h("th", {}, h("a", { href: href("runs", r.info.run_id) }, r.info.run_name || r.info.run_id))));
  const rows = keys.map((k) => {
    const values = runs.map((r) => r[kind][k]);
    const differs = new Set(values.map(String)).size > 1;
    return h("tr", { class: differs ? "diff" : "", dataset: { key: k } }, h("th", {}, k),
      values.map((v) => h("td", {}, formatValue(v))));
  });
  return h("table", { id }, h("thead", {}, head), h("tbody", {}, rows));
}

function columns(params, metrics) {
  return [...params.map((k) => ["params", k]), ...metrics.map((k) => ["metrics", k])];
}

const label = ([kind, key]) => `${kind}.${key}`;

// Drawn in SVG as soon as the runs arrive: it needs neither plotly nor WebGL (see parallel.js).
function parallel(runs, params, metrics) {
  const all = columns(params, metrics);
  // Up to 8 axes to start with, three of them metrics where there are: lines end in outcomes.
  const shownMetrics = Math.min(metrics.length, Math.max(3, 8 - params.length));
  const chosen = new Set(columns(params.slice(0, 8 - shownMetrics), metrics.slice(0, shownMetrics)).map(label));
  const chart = h("div", { class: "parallel", id: "parcoords" });
  const lines = runs.map((r) => ({ id: r.info.run_id, name: r.info.run_name || r.info.run_id, href: href("runs", r.info.run_id) }));
  const draw = () => {
    const picked = all.filter((c) => chosen.has(label(c)));
    const lastMetric = picked.map(([kind]) => kind).lastIndexOf("metrics");
    drawParallel(chart, lines, picked.map((c) => ({ name: label(c), values: runs.map((r) => r[c[0]][c[1]]) })),
      lastMetric < 0 ? picked.length - 1 : lastMetric);
    chart.dataset.drawn = "svg";
  };
  const boxes = all.map((c) => h("label", {}, h("input", { type: "checkbox", checked: chosen.has(label(c)),
    onchange: (e) => { e.target.checked ? chosen.add(label(c)) : chosen.delete(label(c)); draw(); } }), label(c)));
  queueMicrotask(draw);
  return h("div", {}, h("details", { class: "columns" }, h("summary", {}, "Dimensions"), h("div", { class: "menu" }, boxes)), chart);
}

function scatter(runs, params, metrics) {
  const all = columns(params, metrics);
  const chart = h("div", { class: "chart", id: "scatter" });
  const pick = (id, index) => h("select", { id, onchange: () => draw() }, all.map((c, i) =>
    h("option", { value: String(i), selected: i === index }, label(c))));
  const xs = pick("scatter-x", 0), ys = pick("scatter-y", Math.min(1, all.length - 1));
  const draw = () => {
    if (!all.length) return;
    const x = all[Number(xs.value)], y = all[Number(ys.value)];
    window.Plotly.react(chart, [{ type: "scatter", mode: "markers", x: runs.map((r) => r[x[0]][x[1]]),
      y: runs.map((r) => r[y[0]][y[1]]), text: runs.map((r) => r.info.run_name || r.info.run_id),
      marker: { size: 9 } }], { margin: { t: 20 }, xaxis: { title: { text: label(x) } }, yaxis: { title: { text: label(y) } } },
    { displaylogo: false });
  };
  queueMicrotask(draw);
  return h("div", {}, h("div", { class: "toolbar" }, h("label", {}, "X ", xs), h("label", {}, "Y ", ys)), chart);
}


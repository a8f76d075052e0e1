// The compare page's plotly charts: a scatter of one column against another, and a box
// plot of a metric for each value of a param. Both start on columns that differ between
// the runs (compare.js ranks them); the choice is kept in the address.
import { colorOf, h } from "./dom.js";
import { setQuery } from "./router.js";

// Plotly reads names and labels as its own markup: keep user data as plain characters.
const plain = (text) => String(text).replace(/[&<>"'%{}]/g, (c) => `&#${c.charCodeAt(0)};`);
const nameOf = (run) => run.info.run_name || run.info.run_id;
const CONFIG = { displaylogo: false, responsive: true };
const BOX_COLOUR = "#0072B2";  // one colour: the scatter's colours stand for runs, not values

/** A <select> of columns (option values are their labels), `chosen` selected. */
function columnSelect(id, cols, chosen, onchange) {
  return h("select", { id, onchange }, cols.map((c) => h("option", { value: c.label, selected: c === chosen },
    c.rank === 2 ? `${c.label} (same in all)` : c.label)));
}

const byLabel = (cols, label) => cols.find((c) => c.label === label);

/** x: a param that tells the runs apart, y: a metric that does (else the next best). */
export function scatterDefaults(columns) {
  const all = [...columns.params, ...columns.metrics];
  const y = columns.metrics[0] || all[1] || all[0];
  const x = columns.params.find((c) => c.rank < 2) || all.find((c) => c !== y && c.rank < 2) || all.find((c) => c !== y) || y;
  return { x, y };
}

export function scatterPlot(runs, columns, query) {
  const all = [...columns.params, ...columns.metrics];
  if (!all.length) return h("p", { class: "status" }, "These runs logged no params or metrics.");
  const start = scatterDefaults(columns);
  const x0 = byLabel(all, query.get("x")) || start.x, y0 = byLabel(all, query.get("y")) || start.y;
  const chart = h("div", { class: "chart", id: "scatter" });
  const draw = () => {
    const x = byLabel(all, xs.value), y = byLabel(all, ys.value);
    window.Plotly.react(chart, [{ type: "scatter", mode: "markers", x: x.values, y: y.values,
      text: runs.map((r) => plain(nameOf(r))), marker: { size: 10, color: runs.map((_, i) => colorOf(i)) },
      hovertemplate: `%{text}<br>${plain(x.label)}: %{x}<br>${plain(y.label)}: %{y}<extra></extra>` }],
    { margin: { t: 20 }, xaxis: { title: { text: plain(x.label) } }, yaxis: { title: { text: plain(y.label) } } }, CONFIG);
  };
  const changed = () => { setQuery({ x: xs.value, y: ys.value }); draw(); };
  const xs = columnSelect("scatter-x", all, x0, changed), ys = columnSelect("scatter-y", all, y0, changed);
  queueMicrotask(draw);
  return h("div", {}, h("div", { class: "toolbar" }, h("label", {}, "X ", xs), h("label", {}, "Y ", ys)), chart);
}

const plural = (n, noun) => `${n} ${noun}${n === 1 ? "" : "s"}`;
const isNumeric = (v) => String(v).trim() !== "" && !isNaN(Number(v));

/** The runs grouped by their value of `param` (runs without it left out), in value order
 * (numerically when every value is a number): [{value, runs: [index]}]. */
export function groupsOf(param) {
  const groups = new Map();
  param.values.forEach((v, i) => {
    if (v === undefined) return;
    if (!groups.has(String(v))) groups.set(String(v), []);
    groups.get(String(v)).push(i);
  });
  const values = [...groups.keys()];
  const numeric = values.every(isNumeric);
  values.sort((a, b) => (numeric ? Number(a) - Number(b) : a < b ? -1 : a > b ? 1 : 0));
  return values.map((value) => ({ value, runs: groups.get(value) }));
}

export function boxPlot(runs, columns, query) {
  const { params, metrics } = columns;
  if (!params.length || !metrics.length) return h("p", { class: "status" }, "A box plot needs a param and a metric; these runs lack one.");
  const param0 = byLabel(params, query.get("box_param")) || params[0];
  const metric0 = byLabel(metrics, query.get("box_metric")) || metrics[0];
  const chart = h("div", { class: "chart", id: "boxplot" });
  const note = h("p", { class: "status", id: "box-note" });
  const draw = () => {
    const param = byLabel(params, ps.value), metric = byLabel(metrics, ms.value);
    const number = (i) => (metric.values[i] === undefined ? NaN : Number(metric.values[i]));
    const groups = groupsOf(param).map((g) => ({ ...g, runs: g.runs.filter((i) => Number.isFinite(number(i))) }));
    const drawn = groups.filter((g) => g.runs.length);
    const traces = drawn.map((g) => ({ type: "box", name: plain(g.value), y: g.runs.map(number),
      text: g.runs.map((i) => plain(nameOf(runs[i]))), boxpoints: "all", jitter: 0.3, pointpos: 0,
      marker: { color: BOX_COLOUR }, hovertemplate: `%{text}<br>${plain(metric.label)}: %{y}<extra>${plain(g.value)}</extra>` }));
    window.Plotly.react(chart, traces, { margin: { t: 20 }, showlegend: false,
      xaxis: { title: { text: plain(param.label) }, type: "category" }, yaxis: { title: { text: plain(metric.label) } } }, CONFIG);
    chart.dataset.boxes = String(traces.length);
    const without = param.values.filter((v) => v === undefined).length, empty = groups.length - drawn.length;
    note.textContent = [without ? `${plural(without, "run")} without ${param.key} left out.` : "",
      empty ? `${plural(empty, "value")} of ${param.key} with no ${metric.key} left out.` : ""].filter(Boolean).join(" ");
  };
  const changed = () => { setQuery({ box_param: ps.value, box_metric: ms.value }); draw(); };
  const ps = columnSelect("box-param", params, param0, changed), ms = columnSelect("box-metric", metrics, metric0, changed);
  queueMicrotask(draw);
  return h("div", {}, h("div", { class: "toolbar" }, h("label", {}, "Param ", ps), h("label", {}, "Metric ", ms)), chart, note);
}

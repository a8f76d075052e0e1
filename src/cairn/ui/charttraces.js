// Plotly traces for the charts: a run's line with its min/max band, one bar per run, a
// metric against another, a group's mean with its band. Names reach plotly as text only.
import { colorOf, formatValue } from "./dom.js";

const num = (v) => (v === null || v === undefined || v === "" ? NaN : Number(v));
const orNull = (v) => (Number.isFinite(v) ? v : null);

/** A run's downsampled series: the line of each bucket's last value, and (when buckets
 * hold several points) the band between their min and max, so a spike always shows. */
export function runTraces(series, name, color, smoothing) {
  const xs = series.points.map((p) => p.x);  // on the wall-time axis: ms, which plotly dates take
  const last = ema(series.points.map((p) => num(p.last)), smoothing).map(orNull);
  const out = [];
  const group = series.run_id;
  if (series.downsampled) {
    // The band as one closed shape (along the minima, back along the maxima): one trace per
    // run instead of two, which a grid of 20 charts × 10 runs draws noticeably sooner.
    const back = [...xs].reverse();
    out.push({ x: [...xs, ...back], y: [...series.points.map((p) => p.min), ...series.points.map((p) => p.max).reverse()],
      mode: "lines", line: { width: 0.5, color: color + "80" }, fill: "toself", fillcolor: color + "40", hoverinfo: "skip",
      showlegend: false, legendgroup: group, name: `${name} min–max`, meta: { run_id: series.run_id, role: "band" } });
  }
  // A lone point has no line to show it: a marker does.
  out.push({ x: xs, y: last, name: plotText(name), mode: series.points.length === 1 ? "markers" : "lines", line: { color, width: 1.5 },
    marker: { color, size: 7 }, legendgroup: group, meta: { run_id: series.run_id, role: "last" },
    customdata: series.points.map((p) => [p.step, p.min, p.max, p.count ?? 1]),
    hovertemplate: `%{y}<br>step %{customdata[0]} · min %{customdata[1]} · max %{customdata[2]} · %{customdata[3]} points<extra>${escapeTemplate(name)}</extra>` });
  return out;
}

/** A metric logged once per run: one bar per run, its value written on it. */
export function barTraces(seriesList, names, colors) {
  const labels = uniqueLabels(seriesList.map((s) => s.run_id), names);
  return seriesList.map((s, i) => {
    const point = s.points[s.points.length - 1];
    const value = point ? point.last : null;
    const name = names[s.run_id] || s.run_id;
    return { type: "bar", x: [plotText(labels[i])], y: [value], name: plotText(name), marker: { color: colors[s.run_id] },
      text: [value === null ? "NaN" : formatValue(value)], textposition: "inside", insidetextanchor: "middle",
      meta: { run_id: s.run_id, role: "bar" }, customdata: [[point ? point.step : ""]],
      hovertemplate: `%{y}<br>step %{customdata[0]}<extra>${escapeTemplate(name)}</extra>` };
  });
}

/** Run names as bar labels: two runs of one name are told apart by their ids' start. */
function uniqueLabels(ids, names) {
  const seen = {};
  for (const id of ids) seen[names[id] || id] = (seen[names[id] || id] || 0) + 1;
  return ids.map((id) => (seen[names[id] || id] > 1 ? `${names[id] || id} (${id.slice(0, 6)})` : names[id] || id));
}

/**
 * `ySeries` against `xSeries` (both on the step axis), run by run: each y point is paired
 * with the x metric's last value at or before its step (an as-of join). Exact for histories
 * that fit in the buckets; for downsampled ones both hold their buckets' last points, so a
 * pair is off by at most one bucket of steps.
 */
export function pairedTraces(ySeries, xSeries, names, colors) {
  return ySeries.map((ys) => {
    const xs = xSeries.find((s) => s.run_id === ys.run_id);
    const pairs = asOf(ys.points, xs ? xs.points : []);
    const name = names[ys.run_id] || ys.run_id;
    const color = colors[ys.run_id];
    return { x: pairs.map((p) => p[0]), y: pairs.map((p) => p[1]), customdata: pairs.map((p) => p[2]), name: plotText(name),
      mode: pairs.length > 200 ? "lines" : "lines+markers", line: { color, width: 1.5 }, marker: { color, size: 4 },
      meta: { run_id: ys.run_id, role: "paired" },
      hovertemplate: `x %{x}<br>y %{y}<br>step %{customdata}<extra>${escapeTemplate(name)}</extra>` };
  });
}

function asOf(yPoints, xPoints) {
  const pairs = [];
  let j = 0, current = null;
  for (const p of yPoints) {
    while (j < xPoints.length && xPoints[j].step <= p.step) {
      if (Number.isFinite(num(xPoints[j].last))) current = xPoints[j].last;
      j++;
    }
    if (current !== null && Number.isFinite(num(p.last))) pairs.push([current, p.last, p.step]);
  }
  return pairs;
}

/** "lr = 0.1" for a group of `params.lr`; runs without the value, "lr: none". */
export function groupName(groupBy, value) {
  const field = String(groupBy || "").replace(/^(params?|tags?|attributes?|attr|run)\./, "") || "all runs";
  if (!groupBy) return "all runs";
  return value === null || value === undefined ? `${field}: none` : `${field} = ${value}`;
}

const runsText = (n) => `${n} run${n === 1 ? "" : "s"}`;

/** Per group: the band (min–max, or mean ± std) and the mean line on top, in the group's
 * colour; the hover tells how many runs a bucket holds. */
export function groupTraces(grouped, settings) {
  return grouped.groups.flatMap((g, i) => {
    const color = colorOf(i);
    const name = groupName(grouped.group_by, g.value);
    const std = settings.band === "std";
    const lower = std ? g.mean.map((m, k) => m - (g.std[k] ?? 0)) : g.min;
    const upper = std ? g.mean.map((m, k) => m + (g.std[k] ?? 0)) : g.max;
    const meta = (role) => ({ group: g.value, role });
    return [
      { x: g.x, y: lower, mode: "lines", line: { width: 0, color }, hoverinfo: "skip", showlegend: false,
        legendgroup: name, name: `${name} lower`, meta: meta("lower") },
      { x: g.x, y: upper, mode: "lines", line: { width: 0, color }, fill: "tonexty", fillcolor: color + "33",
        hoverinfo: "skip", showlegend: false, legendgroup: name, name: `${name} upper`, meta: meta("upper") },
      { x: g.x, y: ema(g.mean, settings.smoothing).map(orNull), name: plotText(`${name} (${runsText(g.runs)})`), mode: g.x.length === 1 ? "markers" : "lines",
        line: { color, width: 2 }, marker: { color, size: 7 }, legendgroup: name, meta: meta("mean"),
        customdata: g.x.map((_, k) => [g.count[k], g.min[k], g.max[k], g.std[k]]),
        hovertemplate: `mean %{y}<br>step %{x} · %{customdata[0]} runs<br>min %{customdata[1]} · max %{customdata[2]} · std %{customdata[3]}<extra>${escapeTemplate(name)}</extra>` },
    ];
  });
}

/** Groups of a metric logged once per run: a bar per group at the mean, the band as its
 * error bar. */
export function groupBarTraces(grouped, settings) {
  const std = settings.band === "std";
  return grouped.groups.filter((g) => g.x.length).map((g, i) => {
    const name = groupName(grouped.group_by, g.value);
    const [mean, low, high, spread] = [g.mean[0], g.min[0], g.max[0], g.std[0] ?? 0];
    return { type: "bar", x: [plotText(name)], y: [mean], name: plotText(`${name} (${runsText(g.runs)})`), marker: { color: colorOf(i) },
      error_y: std ? { type: "data", array: [spread], visible: true }
        : { type: "data", symmetric: false, array: [high - mean], arrayminus: [mean - low], visible: true },
      text: [formatValue(mean)], textposition: "inside", insidetextanchor: "middle", meta: { group: g.value, role: "bar" },
      customdata: [[g.count[0], low, high, spread]],
      hovertemplate: `mean %{y} · %{customdata[0]} runs<br>min %{customdata[1]} · max %{customdata[2]} · std %{customdata[3]}<extra>${escapeTemplate(name)}</extra>` };
  });
}

// Plotly's hover templates are its own markup: keep a run name as plain characters.
export function escapeTemplate(text) {
  return String(text).replace(/[&<>"'%{}]/g, (c) => `&#${c.charCodeAt(0)};`);
}

// Legend entries and axis labels take plotly's pseudo-HTML (<b>, <a href>) too.
const plotText = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function ema(values, alpha) {
  if (!alpha) return values;
  let s = null;
  return values.map((v) => {
    if (!Number.isFinite(v)) return NaN;  // a NaN or ±inf point: a gap, the average carries on
    s = s === null ? v : alpha * s + (1 - alpha) * v;
    return s;
  });
}

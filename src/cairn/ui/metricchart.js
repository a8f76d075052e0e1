// One metric's chart: the selected runs' series (downsampled per pixel bucket: min, max and
// last kept), another metric as the x axis, or runs grouped by a param (mean and a band,
// aggregated on the server). Zoom asks again; live runs append only their new points.
import { ApiError, cairn, get } from "./api.js";
import { barTraces, groupBarTraces, groupTraces, pairedTraces, runTraces } from "./charttraces.js";

// About one bucket per horizontal pixel of the plot: finer adds nothing a screen can show.
// With many series on one plot, one per two pixels: the server reads less, plotly draws less.
const MIN_BUCKETS = 100, MAX_BUCKETS = 4000, MARGIN = 80, CROWDED = 4;
// A grouped chart draws a mean and its band: one bucket per three pixels reads as smooth.
const GROUP_PIXELS = 3, MIN_GROUP_BUCKETS = 20;
// A live series grows by exact points; past this many times its buckets it is fetched anew.
const REGROW = 2;

export const AXES = { step: "step", timestamp: "wall time", relative: "relative time (s)" };
export const METRIC_AXIS = "metric:";

export function bucketsFor(element, seriesCount) {
  const width = Math.round((element.clientWidth || 1000) - MARGIN) / (seriesCount > CROWDED ? 2 : 1);
  return Math.max(MIN_BUCKETS, Math.min(MAX_BUCKETS, Math.round(width)));
}

export function groupBucketsFor(element) {
  return Math.max(MIN_GROUP_BUCKETS, Math.round(((element.clientWidth || 900) - MARGIN) / GROUP_PIXELS));
}

/** A range end from plotly (a number, or on a date axis a UTC date string) as a number. */
function rangeValue(value, axis) {
  if (typeof value === "number") return value;
  if (axis !== "timestamp") return Number(value);
  const text = String(value).trim().replace(" ", "T");
  return Date.parse(/Z|[+-]\d\d:?\d\d$/.test(text) ? text : `${text}Z`);
}

/** The metric an x axis setting names ("metric:acc" → "acc"), or null for step/time. */
export const xMetric = (x) => (x.startsWith(METRIC_AXIS) ? x.slice(METRIC_AXIS.length) : null);

export async function fetchSeries(ids, key, x, x_min, x_max, buckets) {
  try {
    const answer = await cairn("metrics/downsampled", { run_ids: ids.join(","), key, x_axis: x, x_min, x_max, buckets });
    return answer.series || [];
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404 || e.code === "RESOURCE_DOES_NOT_EXIST") throw e;
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

/** The runs of `scope` ({experiment_ids, run_ids?, filter?}) grouped by `groupBy`: per
 * group and step bucket the count, mean, min, max and std of the runs' last values. */
export function fetchGrouped(scope, key, groupBy, buckets, x_min, x_max) {
  return cairn("metrics/grouped", { ...scope, key, group_by: groupBy, buckets, x_min, x_max });
}

/** Where a live series' next points start on an axis: just past its last one. */
function pastLast(series, axis) {
  const last = series.points[series.points.length - 1];
  if (!last) return undefined;
  if (axis === "step") return last.step + 1;
  if (axis === "timestamp") return last.x + 1;
  return last.x + 0.0005;  // relative seconds; the server counts whole milliseconds
}

/**
 * A chart of `key` in `plot` (a div plotly draws into). `ctx` is the page's: runIds, names,
 * colors, settings {x, group, band, log, smoothing}, groupScope() (the grouped call's
 * experiments, runs and filter), latest(runId, key) (a live run's newest point, from the
 * page's poll). `options`: legend (plotly's own), onLoaded(chart) after each load.
 */
export class MetricChart {
  constructor(plot, key, ctx, options = {}) {
    this.plot = plot;
    this.key = key;
    this.ctx = ctx;
    this.options = options;
    this.range = null;
    this.loads = 0;
    this.generation = 0;
    this.series = [];
    this.xSeries = [];
    this.grouped = null;
    this.loaded = false;
  }

  get mode() {
    if (this.ctx.settings.group) return "grouped";
    return xMetric(this.ctx.settings.x) ? "paired" : "runs";
  }

  /** Fetch what the settings ask for and draw it; `early` ({buckets, data: a promise}):
   * the answer already asked for (the page asks before plotly has loaded). */
  async load(early = null) {
    const mine = ++this.generation;
    const mode = this.mode;
    if (mode === "grouped") await this.fetchGrouped(early);
    else if (mode === "paired") await this.fetchPaired();
    else await this.fetchRuns(early);
    if (mine !== this.generation) return false;
    this.loaded = true;
    this.draw();
    this.plot.dataset.loads = String(++this.loads);
    this.options.onLoaded?.(this);
    return true;
  }

  async fetchRuns(early) {
    const [x_min, x_max] = this.range || [];
    this.buckets = early ? early.buckets : bucketsFor(this.plot, this.ctx.runIds.length);
    this.series = early ? await early.data
      : await fetchSeries(this.ctx.runIds, this.key, this.ctx.settings.x, x_min, x_max, this.buckets);
    this.grouped = null;
  }

  async fetchPaired() {
    this.buckets = bucketsFor(this.plot, this.ctx.runIds.length);
    const x = xMetric(this.ctx.settings.x);
    [this.series, this.xSeries] = await Promise.all([this.key, x].map((key) =>
      fetchSeries(this.ctx.runIds, key, "step", undefined, undefined, this.buckets)));
    this.grouped = null;
  }

  async fetchGrouped(early) {
    const [x_min, x_max] = this.range || [];
    this.buckets = early ? early.buckets : groupBucketsFor(this.plot);
    this.grouped = early ? await early.data
      : await fetchGrouped(this.ctx.groupScope(), this.key, this.ctx.settings.group, this.buckets, x_min, x_max);
    this.series = [];
  }

  /** What kind of chart the data makes: a metric with one value per run is a bar chart. */
  get kind() {
    if (this.grouped) {
      const groups = this.grouped.groups.filter((g) => g.x.length);
      return groups.length && groups.every((g) => g.x.length === 1) && !this.range ? "bar" : "band";
    }
    const some = this.series.some((s) => s.points.length);
    if (some && !this.range && this.series.every((s) => s.total_points <= 1)) return "bar";
    return this.mode === "paired" ? "scatter" : "lines";
  }

  traces() {
    const { settings, names, colors } = this.ctx;
    const kind = this.kind;
    if (kind === "band") return groupTraces(this.grouped, settings);
    if (kind === "bar" && this.grouped) return groupBarTraces(this.grouped, settings);
    if (kind === "bar") return barTraces(this.series, names, colors);
    if (kind === "scatter") return pairedTraces(this.series, this.xSeries, names, colors);
    return this.series.flatMap((s) => runTraces(s, names[s.run_id] || s.run_id, colors[s.run_id], settings.smoothing));
  }

  layout(kind) {
    const { settings } = this.ctx;
    const x = this.grouped ? "step" : settings.x;
    const metricX = xMetric(x);
    const numeric = kind !== "bar";
    const xaxis = numeric
      ? { title: { text: metricX || AXES[x] }, type: x === "timestamp" ? "date" : "linear",
        ...(this.range ? { range: this.range, autorange: false } : { autorange: true }) }
      : { type: "category", automargin: true };
    const bars = kind === "bar" ? { barmode: "relative" } : {};
    const compact = !this.options.legend;
    const empty = this.loaded && !this.hasPoints() ? { annotations: [{ text: this.mode === "paired"
      ? `No step of ${this.key} has a value of ${metricX} at or before it` : "No finite values in this range",
    showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5, font: { color: "#5f6b7a" } }] } : {};
    return { ...bars, ...empty, margin: compact ? { t: 8, r: 8, b: 40, l: 50 } : { t: 20, r: 20 }, hovermode: "closest",
      showlegend: Boolean(this.options.legend), xaxis,
      yaxis: { title: { text: compact ? "" : this.key }, type: settings.log ? "log" : "linear", automargin: true } };
  }

  hasPoints() {
    if (this.grouped) return this.grouped.groups.some((g) => g.x.length);
    return this.lastTraces?.some((t) => t.y.some((v) => v !== null)) ?? false;
  }

  draw() {
    if (!this.loaded) return;
    const kind = this.kind;
    this.lastTraces = this.traces();
    window.Plotly.react(this.plot, this.lastTraces, this.layout(kind), { responsive: Boolean(this.options.legend),
      displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"] });
    Object.assign(this.plot.dataset, { kind, axis: this.grouped ? "step" : this.ctx.settings.x,
      series: String(this.grouped ? this.grouped.groups.length : this.series.length) });
    this.hookZoom();
  }

  /** A drag on the x axis (plotly's relayout) asks the server again for that range. */
  hookZoom() {
    if (this.hooked) return;
    this.hooked = true;
    this.plot.on("plotly_relayout", (e) => {
      const axis = this.grouped ? "step" : this.ctx.settings.x;
      if (xMetric(axis) || this.kind === "bar") return;  // plotly zooms what it holds
      if (e["xaxis.autorange"]) { if (this.range) { this.range = null; this.reload(); } return; }
      if (!("xaxis.range[0]" in e || "xaxis.range" in e)) return;
      const [a, b] = e["xaxis.range"] || [e["xaxis.range[0]"], e["xaxis.range[1]"]];
      const range = [rangeValue(a, axis), rangeValue(b, axis)].sort((p, q) => p - q);
      if (range.some((v) => !Number.isFinite(v))) return;
      if (this.range && this.range[0] === range[0] && this.range[1] === range[1]) return;
      this.range = range;
      this.reload();
    });
  }

  reload() {
    this.load().catch((e) => this.options.onError?.(this, e));
  }

  resetZoom() {
    this.range = null;
    return this.load();
  }

  // -- live runs ------------------------------------------------------------------------

  /** Append the points live runs logged since the last poll; true when something came. */
  async refresh() {
    if (!this.loaded || this.grouped || this.range) return false;
    const paired = xMetric(this.ctx.settings.x);
    const axis = paired ? "step" : this.ctx.settings.x;
    const lists = paired ? [[this.key, this.series], [paired, this.xSeries]] : [[this.key, this.series]];
    const mine = this.generation;
    const counts = await Promise.all(lists.map(([key, list]) => this.extend(key, list, axis)));
    if (mine !== this.generation || !counts.some(Boolean)) return false;
    if (lists.some(([, list]) => list.some((s) => s.points.length > REGROW * this.buckets))) await this.load();
    else this.draw();
    return true;
  }

  /** Ask for each advanced live series' points past its last (one call per starting x,
   * so no run gets points it already has) and append them; the number appended. */
  async extend(key, list, axis) {
    const starts = new Map();
    for (const series of list) {
      if (!this.advanced(series, key, axis)) continue;
      const from = pastLast(series, axis);
      starts.set(from, [...(starts.get(from) || []), series.run_id]);
    }
    let added = 0;
    for (const [from, ids] of starts) {
      const answer = await fetchSeries(ids, key, axis, from, undefined, this.buckets);
      for (const fresh of answer) {
        const series = list.find((s) => s.run_id === fresh.run_id);
        series.points.push(...fresh.points);
        series.total_points += fresh.total_points;
        series.downsampled ||= fresh.downsampled;
        added += fresh.points.length;
      }
    }
    return added;
  }

  /** Whether the page's poll saw a point of `key` past the series' last on the axis
   * (MLflow's latest metric: the point of the greatest step). */
  advanced(series, key, axis) {
    const latest = this.ctx.latest(series.run_id, key);
    if (!latest) return false;
    const last = series.points[series.points.length - 1];
    if (!last) return true;
    return axis === "step" ? Number(latest.step) > last.step : Number(latest.timestamp) > last.timestamp;
  }
}

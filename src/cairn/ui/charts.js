// Charts: every metric of the selected runs as a grid (`#/charts?runs=a,b`), one metric
// alone (`&key=loss`), an experiment's runs grouped by a param (`#/charts?experiment=1
// &group=params.lr`: the mean and a band, aggregated on the server), any metric as the x
// axis (`&x=metric:acc`). Runs still RUNNING refresh on their own while the page shows.
import { cairnUrl, errorBox, experimentLabel, post } from "./api.js";
import { breadcrumbs, colorOf, emptyState, fill, h, statusBadge } from "./dom.js";
import { href, listParam, setQuery } from "./router.js";
import { plotly } from "./plotly.js";
import { chartGrid } from "./chartgrid.js";
import { findRuns } from "./runlookup.js";
import { AXES, METRIC_AXIS, MetricChart, bucketsFor, fetchGrouped, fetchSeries, groupBucketsFor, xMetric } from "./metricchart.js";
import { groupName } from "./charttraces.js";

const count = (n) => `${n} run${n === 1 ? "" : "s"}`;
const MAX_RUNS = 100;  // the downsampled call's limit; past it, group the runs
const POLL_MS = 3000;

export async function chartsPage(main, _params, query, live) {
  const ids = listParam(query.get("runs"));
  const experiment = query.get("experiment") || "";
  const filter = query.get("filter") || "";
  const key = query.get("key") || "";
  const settings = { x: query.get("x") || "step", group: query.get("group") || "", log: query.get("log") === "1",
    band: query.get("band") === "std" ? "std" : "minmax", smoothing: 0 };
  if (settings.group) settings.x = "step";  // grouped charts are over steps
  const crumbs = breadcrumbs(["Experiments", href("")], ["Charts"]);
  main.append(crumbs, h("h1", {}, "Charts"));
  if (!ids.length && !experiment) {
    return main.append(emptyState("No runs to chart. Select runs on an experiment's runs page and press Chart, "
      + "or open the charts of a whole experiment, grouped by a param:", "#/charts?experiment=<id>&group=params.lr"));
  }
  // The runs, plotly and (when the address names the metric) its data load together.
  const early = key ? earlyData(main, ids, experiment, filter, key, settings) : null;
  let runs;
  try {
    [runs] = await Promise.all([experiment ? experimentRuns(experiment, filter) : findRuns(ids), plotly()]);
  } catch (e) {
    if (live()) main.append(errorBox(e));
    return;
  }
  if (!live()) return;
  const ctx = pageContext(runs, ids, experiment, filter, settings);
  if (!ctx.runs.length && !experiment) return main.append(emptyState("None of these runs exists any more."));
  crumbs.replaceWith(pageCrumbs(ctx, key));
  const page = { main, ctx, query, live };
  const view = key ? await singleChart(page, key, early) : chartsGrid(page);
  pollLiveRuns(ctx, view, live);
}

// -- the data every chart shares ---------------------------------------------------------

/** An experiment's newest runs (their names, metrics and params fill the menus; a grouped
 * chart takes every run, on the server). */
async function experimentRuns(experiment, filter) {
  const answer = await post("runs/search", { experiment_ids: [experiment], filter, max_results: MAX_RUNS + 1 });
  return answer.runs || [];
}

/** The first chart's data, asked for before the runs and plotly have arrived. */
function earlyData(main, ids, experiment, filter, key, settings) {
  if (settings.group && experiment) {
    const buckets = groupBucketsFor(main);
    return { buckets, data: fetchGrouped({ experiment_ids: experiment, filter }, key, settings.group, buckets) };
  }
  if (settings.group || xMetric(settings.x) || !ids.length) return null;
  const buckets = bucketsFor(main, ids.length);
  return { buckets, data: fetchSeries(ids.slice(0, MAX_RUNS), key, settings.x, undefined, undefined, buckets) };
}

/** Names, colours (a run keeps its colour on every chart), statuses and newest points of
 * the charted runs, and the grouped call's scope. */
function pageContext(runs, ids, experiment, filter, settings) {
  const byId = Object.fromEntries(runs.map((r) => [r.info.run_id, r]));
  const ordered = experiment ? runs : ids.map((id) => byId[id]).filter(Boolean);
  const charted = ordered.slice(0, MAX_RUNS);
  const ctx = { runs: ordered, runIds: charted.map((r) => r.info.run_id), names: {}, colors: {}, status: {},
    newest: {}, experiment, filter, settings,
    experimentIds: [...new Set(ordered.map((r) => r.info.experiment_id))] };
  charted.forEach((run, i) => {
    const id = run.info.run_id;
    ctx.colors[id] = colorOf(i);
    noteRun(ctx, run);
  });
  ctx.groupScope = () => (experiment ? { experiment_ids: experiment, filter }
    : { experiment_ids: ctx.experimentIds.join(","), run_ids: ctx.runIds.join(",") });
  ctx.latest = (runId, key) => ctx.newest[runId]?.[key];
  return ctx;
}

function noteRun(ctx, run) {
  const id = run.info.run_id;
  ctx.names[id] = run.info.run_name || id;
  ctx.status[id] = run.info.status;
  ctx.newest[id] = Object.fromEntries((run.data?.metrics || []).map((m) => [m.key, m]));
}

const metricKeys = (runs) => [...new Set(runs.flatMap((r) => (r.data?.metrics || []).map((m) => m.key)))].sort();

/** What runs can be grouped by: their params, their own tags, their status. */
function groupChoices(runs) {
  const params = new Set(), tags = new Set();
  for (const run of runs) {
    for (const p of run.data?.params || []) params.add(p.key);
    for (const t of run.data?.tags || []) if (!t.key.startsWith("mlflow.")) tags.add(t.key);
  }
  return [...[...params].sort().map((k) => `params.${k}`), ...[...tags].sort().map((k) => `tags.${k}`), "attributes.status"];
}

function pageCrumbs(ctx, key) {
  const experiments = ctx.experiment ? [ctx.experiment] : ctx.experimentIds;
  const charts = href("charts", chartsQuery(ctx, {}));
  const where = experiments.length === 1
    ? [experimentLabel(experiments[0]), href("experiments", experiments[0])]
    : [`${experiments.length} experiments`, null];
  return breadcrumbs(["Experiments", href("")], where, ["Charts", key ? charts : null], ...(key ? [[key]] : []));
}

/** The address of these charts with `changes` (a metric's own page, the grid back). */
function chartsQuery(ctx, changes) {
  const s = ctx.settings;
  return { runs: ctx.experiment ? "" : ctx.runIds.join(","), experiment: ctx.experiment, filter: ctx.filter,
    group: s.group, x: s.x === "step" ? "" : s.x, band: s.band === "std" ? "std" : "", ...changes };
}

// -- the toolbar -------------------------------------------------------------------------

function select(id, label, options, value, onchange) {
  return h("label", {}, `${label} `, h("select", { id, onchange: (e) => onchange(e.target.value) },
    options.map(([v, text, group]) => (group ? h("optgroup", { label: group }, v.map(([gv, gt]) =>
      h("option", { value: gv, selected: gv === value }, gt))) : h("option", { value: v, selected: v === value }, text)))));
}

/** X axis, group by, band, log scale, smoothing: `apply(kind)` after a change, kind "data"
 * (fetch again) or "look" (draw again). */
function settingsBar(ctx, keys, apply) {
  const s = ctx.settings;
  const metrics = keys.map((k) => [METRIC_AXIS + k, k]);
  const xOptions = [...Object.entries(AXES), ...(metrics.length ? [[metrics, "", "Metric"]] : [])];
  const groups = [["", "none"], ...groupChoices(ctx.runs).map((g) => [g, g])];
  if (s.group && !groups.some(([g]) => g === s.group)) groups.push([s.group, s.group]);
  const band = h("select", { id: "band", disabled: !s.group, onchange: (e) => { s.band = e.target.value; setQuery({ band: s.band === "std" ? "std" : "" }); apply("look"); } },
    h("option", { value: "minmax", selected: s.band !== "std" }, "min – max"),
    h("option", { value: "std", selected: s.band === "std" }, "mean ± std"));
  const xSelect = select("x-axis", "X axis", xOptions, s.x, (value) => {
    s.x = value;
    setQuery({ x: value === "step" ? "" : value });
    apply("data");
  });
  const xBox = xSelect.querySelector("select");
  xBox.disabled = Boolean(s.group);
  const smooth = h("input", { type: "range", min: 0, max: 0.99, step: 0.01, value: 0, id: "smoothing",
    oninput: () => { s.smoothing = Number(smooth.value); apply("look"); } });
  return [
    xSelect,
    select("group-by", "Group by", groups, s.group, (value) => {
      s.group = value;
      band.disabled = !value;
      xBox.disabled = Boolean(value);
      if (value) { s.x = "step"; xBox.value = "step"; }
      setQuery({ group: value, x: s.x === "step" ? "" : s.x }, true);
      apply("data");
    }),
    h("label", { title: "The band around each group's mean" }, "Band ", band),
    h("label", {}, h("input", { type: "checkbox", id: "log-scale", checked: s.log,
      onchange: (e) => { s.log = e.target.checked; setQuery({ log: s.log ? "1" : "" }); apply("look"); } }), " log scale"),
    h("label", {}, "Smoothing ", smooth),
  ];
}

/** Chips naming each run in its colour (a running one with its badge), or each group. */
function legendOf(ctx, grouped) {
  if (grouped) {
    return grouped.groups.map((g, i) => h("span", { class: "chip" },
      h("span", { class: "swatch", style: `background:${colorOf(i)}` }), `${groupName(grouped.group_by, g.value)} (${g.runs})`));
  }
  return ctx.runIds.map((id) => h("a", { class: "chip", href: href("runs", id), "data-run-id": id },
    h("span", { class: "swatch", style: `background:${ctx.colors[id]}` }), ctx.names[id],
    ctx.status[id] === "RUNNING" ? statusBadge("RUNNING") : null));
}

// -- the grid ----------------------------------------------------------------------------

function chartsGrid({ main, ctx, live }) {
  const keys = metricKeys(ctx.runs);
  const status = h("div", { class: "status", id: "charts-status" });
  const legend = h("div", { class: "chart-legend", id: "chart-legend" });
  let grouped = null;
  const grid = chartGrid(ctx, keys, {
    openHref: (key) => href("charts", chartsQuery(ctx, { key })),
    onLoaded: (chart) => {
      if (chart.grouped && !grouped) { grouped = chart.grouped; fill(legend, legendOf(ctx, grouped)); describe(); }
    },
  });
  const describe = () => fill(status, gridSummary(ctx, grouped));
  const apply = (kind) => {
    if (kind === "look") return grid.redrawAll();
    grouped = null;
    fill(legend, ctx.settings.group ? "" : legendOf(ctx, null));
    describe();
    grid.reloadAll();
  };
  main.append(h("div", { class: "toolbar charts-toolbar" }, grid.search, grid.count, settingsBar(ctx, keys, apply)),
    status, legend, keys.length ? grid.element
      : emptyState("These runs have logged no metrics yet. Log one, and it shows here:", 'cairn.log_metric("loss", 0.5, step=1)'));
  if (!ctx.settings.group) fill(legend, legendOf(ctx, null));
  describe();
  return {
    charts: grid.charts,
    onRuns: (newKeys) => { grid.addKeys(newKeys); keys.push(...newKeys); if (!ctx.settings.group) fill(legend, legendOf(ctx, null)); describe(); },
  };
}

function gridSummary(ctx, grouped) {
  const running = ctx.runIds.filter((id) => ctx.status[id] === "RUNNING").length;
  const runs = grouped ? `${count(grouped.runs)} in ${grouped.groups.length} groups` : count(ctx.runIds.length)
    + (ctx.runs.length > ctx.runIds.length ? ` (the newest ${ctx.runIds.length}; group them to chart all)` : "");
  return runs + (running && !ctx.settings.group ? ` · ${running} running, refreshing every ${POLL_MS / 1000} s` : "");
}

// -- one metric --------------------------------------------------------------------------

async function singleChart({ main, ctx, live }, key, early) {
  const keys = metricKeys(ctx.runs);
  if (!keys.includes(key)) keys.push(key);
  const status = h("div", { class: "status chart-status", id: "chart-status" });
  const downloads = h("p", { id: "downloads" });
  const plot = h("div", { class: "chart", id: "chart" });
  const chart = new MetricChart(plot, key, ctx, { legend: true, onLoaded: () => describe() });
  const describe = () => {
    fill(status, singleSummary(chart));
    fill(downloads, chart.grouped ? "" : ["Exact points (CSV): ", ctx.runIds.map((id) => h("a", { class: "badge",
      download: `${id}-${chart.key}.csv`, "data-run-id": id, href: cairnUrl("metrics/export", { run_id: id, key: chart.key }) },
    ctx.names[id]))]);
  };
  const load = () => {
    fill(status, "Loading…");
    return chart.load().catch((e) => { if (live()) fill(status, errorBox(e)); });
  };
  const apply = (kind) => {
    if (kind === "look") { chart.draw(); return describe(); }
    chart.range = null;
    return load();
  };
  const metric = select("metric", "Metric", keys.map((k) => [k, k]), key, (value) => {
    chart.key = value;
    setQuery({ key: value });
    apply("data");
  });
  main.append(h("div", { class: "toolbar" }, metric, settingsBar(ctx, keys, apply),
    h("button", { type: "button", id: "reset-zoom", onclick: () => apply("data") }, "Reset zoom"),
    h("a", { id: "all-metrics", href: href("charts", chartsQuery(ctx, {})) }, "All metrics")),
  status, plot, downloads);
  fill(status, "Loading…");
  try {
    const usable = early && (await early.data.catch(() => null));
    const given = usable ? { buckets: early.buckets, data: Promise.resolve(usable) } : null;
    if (live()) await chart.load(given);
  } catch (e) {
    if (live()) fill(status, errorBox(e));
  }
  return { charts: () => [chart], onRuns: () => {} };
}

function singleSummary(chart) {
  if (chart.grouped) {
    const g = chart.grouped;
    const band = chart.ctx.settings.band === "std" ? "mean ± std" : "min – max";
    return `${g.groups.length} groups of ${g.runs} runs by ${g.group_by || "nothing"}: the mean of each run's last value per `
      + `${g.bucket_width === 1 ? "step" : `${g.bucket_width} steps`}, band ${band}` + (g.groups_left_out ? ` (${g.groups_left_out} smaller groups left out)` : "")
      + (chart.range ? " · zoomed" : "");
  }
  const series = chart.series;
  if (chart.mode === "paired") return `${series.length} series: ${chart.key} against ${xMetric(chart.ctx.settings.x)}, paired by step`;
  const sampled = series.filter((s) => s.downsampled);
  const shown = Math.max(0, ...sampled.map((s) => s.points.length));
  return `${series.length} series` + (sampled.length ? `, ${sampled.length} downsampled to ${shown} buckets of up to ${chart.buckets} (min/max band kept)` : "")
    + (chart.range ? " · zoomed" : "");
}

// -- live runs ---------------------------------------------------------------------------

/** While a charted run is RUNNING and the page is visible: every POLL_MS, the runs' status
 * and newest points (one small runs/search), then only the points past what each chart
 * holds. Stops when the page is left or no run is running. */
function pollLiveRuns(ctx, view, live) {
  const running = () => ctx.runIds.filter((id) => ctx.status[id] === "RUNNING");
  const tick = async () => {
    if (!live()) return;
    if (document.visibilityState === "visible") {
      try {
        const known = new Set(metricKeys(ctx.runs));
        const fresh = Object.fromEntries((await liveRuns(ctx, running())).map((r) => [r.info.run_id, r]));
        if (!live()) return;
        Object.values(fresh).forEach((run) => noteRun(ctx, run));
        ctx.runs = ctx.runs.map((r) => fresh[r.info.run_id] || r);
        const added = metricKeys(Object.values(fresh)).filter((k) => !known.has(k));
        if (added.length) view.onRuns(added);
        await Promise.all(view.charts().map((chart) => chart.refresh()));
      } catch { /* a missed poll: the next one asks again */ }
    }
    if (live() && running().length) setTimeout(tick, POLL_MS);
  };
  if (running().length) setTimeout(tick, POLL_MS);
}

async function liveRuns(ctx, ids) {
  if (!ids.length) return [];
  const quoted = ids.map((id) => `'${id}'`).join(", ");
  const answer = await post("runs/search", { experiment_ids: ctx.experimentIds, filter: `attributes.run_id IN (${quoted})`,
    max_results: ids.length });
  return answer.runs || [];
}

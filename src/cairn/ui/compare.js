// Compare 2–100 runs: params, metrics and tags side by side (differences marked, equal rows
// hidden on request), parallel coordinates, a scatter, a box plot per param value, and two
// runs' artifacts side by side. Charts start on the columns whose values tell runs apart.
import { errorBox, experimentLabel } from "./api.js";
import { breadcrumbs, colorOf, emptyState, formatDuration, formatValue, h, relativeTime, section, statusBadge } from "./dom.js";
import { plotly } from "./plotly.js";
import { href, listParam, setQuery } from "./router.js";
import { findRuns } from "./runlookup.js";
import { flatten } from "./runtable.js";
import { drawParallel } from "./parallel.js";
import { boxPlot, scatterPlot } from "./compareplots.js";
import { artifactComparison } from "./artifactcompare.js";

const MAX_RUNS = 100;
const MANY_ROWS = 15;    // past this many rows, equal ones start hidden
const MAX_AXES = 8;
const SYSTEM_TAG = /^mlflow\./;

export async function comparePage(main, _params, query, live) {
  const ids = [...new Set(listParam(query.get("runs")))].slice(0, MAX_RUNS);
  if (ids.length < 2) {
    return main.append(breadcrumbs(["Experiments", href("")], ["Compare runs"]), h("h1", {}, "Compare runs"),
      emptyState("Choose 2 to 100 runs: tick them on an experiment's runs page, then press Compare."));
  }
  // Plotly (megabytes of script) loads while the runs are fetched; the tables need only the runs.
  const charting = plotly();
  charting.catch(() => {});
  let runs;
  try {
    runs = await fetchRuns(ids);
  } catch (e) {
    return main.append(breadcrumbs(["Experiments", href("")], ["Compare runs"]), errorBox(e));
  }
  if (!live()) return;
  if (!runs.length) {
    return main.append(breadcrumbs(["Experiments", href("")], ["Compare runs"]), h("h1", {}, "Compare runs"),
      emptyState("None of these runs was found: they may have been deleted, or you may not read them."));
  }
  const columns = { params: ranked(runs, "params"), metrics: ranked(runs, "metrics"), tags: ranked(runs, "tags") };
  const plots = h("div", { class: "compare-plots" }, h("p", { class: "status" }, "Loading charts…"));
  const missing = ids.length - runs.length;
  main.append(crumbsOf(runs), h("h1", {}, `Compare ${runs.length} run${runs.length === 1 ? "" : "s"}`),
    h("p", { class: "status", id: "missing-runs", hidden: !missing },
      `${missing} of the ${ids.length} runs asked for were not found (deleted, or not yours to read).`),
    section("Runs side by side", sideBySide(runs, columns, query)),
    section("Parallel coordinates", parallel(runs, columns)),
    plots,
    section("Artifacts", artifactComparison(runs)));
  try { await charting; } catch (e) { plots.replaceChildren(errorBox(e)); return; }
  if (!live()) return;
  plots.replaceChildren(section("Scatter", scatterPlot(runs, columns, query)), section("Box plot", boxPlot(runs, columns, query)));
}

/** The runs in the order asked for (runs/search answers them in its own order). */
async function fetchRuns(ids) {
  const byId = new Map((await findRuns(ids)).map((r) => [r.info.run_id, flatten(r)]));
  return ids.map((id) => byId.get(id)).filter(Boolean);
}

function crumbsOf(runs) {
  const experiments = [...new Set(runs.map((r) => r.info.experiment_id))];
  const experiment = experiments.length === 1
    ? [experimentLabel(experiments[0]), href("experiments", experiments[0])]
    : [h("span", { title: experiments.join(", ") }, "several experiments")];
  return breadcrumbs(["Experiments", href("")], experiment, [`Compare ${runs.length} runs`]);
}

/**
 * The keys of one kind (params, metrics, tags; system tags left out), best first: those
 * every run has with values that differ (rank 0), those that differ but some runs lack
 * (rank 1), then the rest (equal everywhere, or logged by one run). Alphabetical within a rank.
 */
export function ranked(runs, kind) {
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r[kind])))].filter((k) => kind !== "tags" || !SYSTEM_TAG.test(k));
  return keys.map((key) => {
    const values = runs.map((r) => r[kind][key]);
    const present = values.filter((v) => v !== undefined);
    const differs = new Set(values.map((v) => (v === undefined ? "\u0000missing" : String(v)))).size > 1;
    const spread = new Set(present.map(String)).size > 1;
    const rank = present.length === runs.length && differs ? 0 : spread ? 1 : 2;
    return { kind, key, label: `${kind}.${key}`, values, differs, rank };
  }).sort((a, b) => a.rank - b.rank || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

// -- the table ---------------------------------------------------------------------------

const GROUPS = [["params", "Parameters", "compare-params"], ["metrics", "Metrics", "compare-metrics"], ["tags", "Tags", "compare-tags"]];

function sideBySide(runs, columns, query) {
  const several = new Set(runs.map((r) => r.info.experiment_id)).size > 1;
  const head = h("tr", {}, h("th", { class: "corner" }, ""), runs.map((r, i) => h("th", { class: "compare-run", dataset: { runId: r.info.run_id } },
    h("span", { class: "compare-swatch", style: `background:${colorOf(i)}`, "aria-hidden": "true" }),
    h("a", { href: href("runs", r.info.run_id) }, r.info.run_name || r.info.run_id), " ", statusBadge(r.info.status),
    several ? h("div", { class: "compare-run-experiment" }, experimentLabel(r.info.experiment_id)) : null)));
  const info = h("tbody", { id: "compare-info" },
    h("tr", {}, h("th", {}, "Started"), runs.map((r) => h("td", {}, relativeTime(r.info.start_time)))),
    h("tr", {}, h("th", {}, "Duration"), runs.map((r) => h("td", {}, formatDuration(r.info.start_time, r.info.end_time)))));
  const groups = GROUPS.map(([kind, title, id]) => group(runs.length, sortedByKey(columns[kind]), title, id));
  const total = groups.reduce((n, g) => n + g.rows.length, 0);
  const asked = query.get("diff");
  const box = h("input", { type: "checkbox", id: "diff-only", checked: asked === null ? total > MANY_ROWS : asked === "1" });
  const count = h("span", { class: "status", id: "diff-count" });
  const apply = () => {
    groups.forEach((g) => g.show(box.checked));
    const shown = groups.reduce((n, g) => n + g.rows.filter((r) => !r.hidden).length, 0);
    count.textContent = box.checked ? `${shown} of ${total} rows shown; ${total - shown} with the same value in every run are hidden.` : "";
  };
  box.addEventListener("change", () => { apply(); setQuery({ diff: box.checked ? "1" : "0" }); });
  apply();
  return h("div", {}, h("div", { class: "toolbar" }, h("label", {}, box, " Show differences only"), count),
    h("div", { class: "compare-scroll" }, h("table", { class: "compare", id: "compare-table" },
      h("thead", {}, head), info, groups.map((g) => g.body))));
}

const sortedByKey = (cols) => [...cols].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));

/** One kind's rows under a heading row; show(onlyDifferent) hides the equal ones. */
function group(width, cols, title, id) {
  const heading = h("th", { colspan: width + 1 });
  const rows = cols.map((c) => h("tr", { class: c.differs ? "diff" : "", dataset: { key: c.key } }, h("th", {}, c.key),
    c.values.map((v) => (v === undefined ? h("td", { class: "missing", title: "not logged" }, "—") : h("td", {}, formatValue(v))))));
  const differing = cols.filter((c) => c.differs).length;
  const show = (only) => {
    rows.forEach((row, k) => { row.hidden = only && !cols[k].differs; });
    heading.textContent = !cols.length ? `${title}: none`
      : only && !differing ? `${title}: all ${cols.length} the same in every run`
        : `${title} (${differing} of ${cols.length} differ)`;
  };
  return { body: h("tbody", { id }, h("tr", { class: "group" }, heading), rows), rows, show };
}

// -- parallel coordinates ------------------------------------------------------------------

/** The axes to start with: params then metrics (lines end in outcomes), those that tell
 * runs apart first; up to 8, three of them metrics where there are. */
export function defaultAxes(columns) {
  const useful = (cols) => cols.filter((c) => c.rank < 2);
  let params = useful(columns.params), metrics = useful(columns.metrics);
  if (params.length + metrics.length < 2) { params = columns.params; metrics = columns.metrics; }
  const shownMetrics = Math.min(metrics.length, Math.max(3, MAX_AXES - params.length));
  return [...params.slice(0, MAX_AXES - shownMetrics), ...metrics.slice(0, shownMetrics)];
}

// Drawn in SVG as soon as the runs arrive: it needs neither plotly nor WebGL (see parallel.js).
function parallel(runs, columns) {
  const all = [...columns.params, ...columns.metrics];
  const chosen = new Set(defaultAxes(columns).map((c) => c.label));
  const chart = h("div", { class: "parallel", id: "parcoords" });
  const lines = runs.map((r) => ({ id: r.info.run_id, name: r.info.run_name || r.info.run_id, href: href("runs", r.info.run_id) }));
  const draw = () => {
    const picked = all.filter((c) => chosen.has(c.label));
    // Coloured by the first metric shown: the one that best tells these runs apart.
    const metric = picked.findIndex((c) => c.kind === "metrics");
    drawParallel(chart, lines, picked.map((c) => ({ name: c.label, values: c.values })),
      metric < 0 ? picked.length - 1 : metric);
    chart.dataset.drawn = "svg";
  };
  const boxes = all.map((c) => h("label", { class: c.rank === 2 ? "constant" : null, title: c.rank === 2 ? "the same in every run that has it" : null },
    h("input", { type: "checkbox", checked: chosen.has(c.label),
      onchange: (e) => { e.target.checked ? chosen.add(c.label) : chosen.delete(c.label); draw(); } }), c.label));
  queueMicrotask(draw);
  return h("div", {}, h("details", { class: "columns" }, h("summary", {}, "Dimensions"), h("div", { class: "menu", id: "parcoords-menu" }, boxes)), chart);
}

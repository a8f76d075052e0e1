// One run, in tabs: Overview, Metrics, System metrics, Artifacts, Models, Datasets, Traces.
// The tab (and the artifact on show) live in the address, so a reload or a shared link opens
// the same view; a panel is built the first time it shows, so the overview asks for no
// metric histories and no artifact listings.
import { experimentLabel, get } from "./api.js";
import { artifactsPanel } from "./artifacts.js";
import { breadcrumbs, formatDuration, h, relativeTime, statusBadge } from "./dom.js";
import { href, setQuery } from "./router.js";
import { isSystem, metricsPanel } from "./runmetrics.js";
import { datasetsPanel, modelsPanel } from "./runlineage.js";
import { overviewPanel } from "./runoverview.js";
import { purgeButton } from "./runpurge.js";
import { traceQuery, tracesPanel } from "./tracelist.js";

const TABS = [["overview", "Overview"], ["metrics", "Metrics"], ["system", "System metrics"],
  ["artifacts", "Artifacts"], ["models", "Models"], ["datasets", "Datasets"], ["traces", "Traces"]];

export async function runPage(main, { id }, query, live) {
  const { run } = await get("runs/get", { run_id: id });
  if (!live()) return;
  const wanted = query.get("tab");
  const state = { tab: TABS.some(([name]) => name === wanted) ? wanted : "overview", path: query.get("path") || "" };
  const build = {
    overview: () => overviewPanel(run, live),
    metrics: () => metricsPanel(run, false, live),
    system: () => metricsPanel(run, true, live),
    artifacts: () => artifactsPanel(run, state.path, (path) => {
      state.path = path;
      setQuery({ tab: "artifacts", path });
    }),
    models: () => modelsPanel(run),
    datasets: () => datasetsPanel(run),
    traces: () => tracesPanel({ experimentId: run.info.experiment_id, runId: id, query, live,
      link: (trace) => href("runs", id, { tab: "traces", trace }) }),
  };
  const panels = h("div", { class: "run-panels" });
  const strip = tabStrip(run, (name, push) => select(name, push));
  main.append(...header(run), strip, panels);

  function select(name, push) {
    state.tab = name;
    for (const tab of strip.children) {
      const on = tab.dataset.tab === name;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
    }
    let panel = panels.querySelector(`#panel-${name}`);
    if (!panel) {
      panel = h("div", { role: "tabpanel", id: `panel-${name}`, "aria-labelledby": `tab-${name}`, class: "run-panel" });
      panels.append(panel);
      panel.append(...[build[name]()].flat());
    }
    for (const other of panels.children) other.hidden = other !== panel;
    setQuery({ tab: name === "overview" ? null : name, path: name === "artifacts" ? state.path : null,
      ...traceQuery(name === "traces" ? panel.querySelector("#traces") : null) }, push);
  }
  select(state.tab, false);
}

function header(run) {
  const info = run.info;
  const name = info.run_name || info.run_id;
  const user = info.user_id || (run.data?.tags || []).find((t) => t.key === "mlflow.user")?.value;
  return [
    breadcrumbs(["Experiments", href("")],
      [experimentLabel(info.experiment_id), href("experiments", info.experiment_id)], [name]),
    h("div", { class: "run-head" },
      h("h1", {}, h("span", { id: "run-name" }, name)), statusBadge(info.status),
      info.lifecycle_stage === "deleted" ? h("span", { class: "deleted-badge", id: "run-deleted" }, "Deleted") : null,
      h("a", { class: "button-link", href: href("charts", { runs: info.run_id }) }, "Charts"), purgeButton(run)),
    h("p", { class: "run-meta" },
      "Started ", relativeTime(info.start_time),
      info.end_time ? [" · ended ", relativeTime(info.end_time), ` · took ${formatDuration(info.start_time, info.end_time)}`]
        : info.status === "RUNNING" ? ` · running for ${formatDuration(info.start_time)}` : null,
      user ? ` · by ${user}` : null),
  ];
}

/** The tab strip (WAI-ARIA tabs: arrows, Home and End move between tabs). Tabs are links to
 * their own address, so one opens in a new browser tab as well. */
function tabStrip(run, select) {
  const counts = tabCounts(run);
  const tabs = TABS.map(([name, label]) => h("a", {
    role: "tab", id: `tab-${name}`, "aria-controls": `panel-${name}`, dataset: { tab: name },
    href: href("runs", run.info.run_id, name === "overview" ? {} : { tab: name }),
    onclick: (e) => {
      if (e.ctrlKey || e.metaKey || e.shiftKey || e.button) return;
      e.preventDefault();
      select(name, true);
    },
  }, label, counts[name] === undefined ? null : h("span", { class: counts[name] ? "count" : "count zero" }, String(counts[name]))));
  const strip = h("div", { role: "tablist", class: "tabs", "aria-label": "Run sections", onkeydown: (e) => {
    const at = tabs.indexOf(document.activeElement);
    const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tabs.length - 1 }[e.key];
    if (at < 0 || to === undefined) return;
    e.preventDefault();
    const next = tabs[(to + tabs.length) % tabs.length];
    next.focus();
    select(next.dataset.tab, false);  // arrowing past tabs leaves no trail of Back steps
  } }, tabs);
  return strip;
}

/** What the run itself says about a tab's size (no request): metrics and datasets. */
function tabCounts(run) {
  const metrics = run.data?.metrics || [];
  const system = metrics.filter((m) => isSystem(m.key)).length;
  const datasets = (run.inputs?.dataset_inputs || []).length + (run.outputs?.dataset_outputs || []).length;
  return { metrics: metrics.length - system, system, datasets };
}

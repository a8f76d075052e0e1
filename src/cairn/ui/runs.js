// An experiment's runs (its traces are the second tab: tracelist.js): filter (search grammar)
// and status, sort, columns, grouping, nested runs, selection. The table's state lives in the
// address's query, so Back, a reload and a shared link all show the same table.
import { ApiError, errorBox, get, searchAll } from "./api.js";
import { breadcrumbs, emptyState, fill, h } from "./dom.js";
import { href, listParam, setQuery } from "./router.js";
import { ATTRIBUTES, RUN_COLUMN, RunTable, column, flatten } from "./runtable.js";
import { RunModels } from "./runmodels.js";
import { buildTree, groupedRows, treeRows } from "./runtree.js";
import { experimentTabs } from "./tracelist.js";

// The first page fills the screen and comes back in tens of milliseconds even at 10,000
// runs; the rest follow in bigger pages while the table is already usable.
const FIRST_PAGE = 100;
const PAGE = 2000;
const DEFAULT_PER_KIND = 8;
const STATUSES = ["RUNNING", "FINISHED", "FAILED", "KILLED"];
const DEFAULT_ORDER = "attributes.start_time DESC";
const MAX_IDS_IN_ADDRESS = 200;  // a selection of thousands stays on the page, not in the URL

/** The table's state from the address: filter, status, sort, columns, grouping, expanded
 * parents, selection. */
function readState(query) {
  const status = query.get("status");
  return {
    filter: query.get("filter") || "",
    status: STATUSES.includes(status) ? status : "",
    sort: query.get("sort") || "",
    asc: query.get("dir") === "asc",
    shown: query.has("cols") ? new Set([RUN_COLUMN, ...listParam(query.get("cols"))]) : null,
    groupBy: query.get("group") || "",
    expanded: new Set(listParam(query.get("open"))),
    selected: new Set(listParam(query.get("sel"))),
    runs: [],
    tree: buildTree([]),
    keys: { params: new Set(), metrics: new Set(), tags: new Set() },
  };
}

/** The search as the server takes it: the filter box AND the status. */
function searchFilter(state) {
  const status = state.status ? `attributes.status = '${state.status}'` : "";
  return [state.filter.trim(), status].filter(Boolean).join(" and ");
}

const count = (n) => `${n} run${n === 1 ? "" : "s"}`;
const ids = (set) => (set.size <= MAX_IDS_IN_ADDRESS ? [...set] : null);

export async function runsPage(main, { id }, query, live) {
  const state = readState(query);
  const experimentName = get("experiments/get", { experiment_id: id }).then((r) => r.experiment.name).catch(() => null);
  const crumb = h("span", { class: "experiment-name" }, `experiment ${id}`);
  const title = h("h1", { id: "experiment-title" }, crumb.textContent);
  experimentName.then((name) => { if (name && live()) { fill(crumb, name); fill(title, name); } });

  const status = h("div", { class: "status", id: "runs-status" });
  const error = h("div", { id: "filter-error" });
  const empty = h("div", { id: "runs-empty" });
  const selection = h("span", { id: "selection", class: "status" });
  const models = new RunModels(() => live() && table.refreshColumn("outputs.models"));
  const widthsKey = `cairn.runs.widths.${id}`;
  const table = new RunTable({
    models,
    onSort: (c) => {
      state.asc = state.sort === c.id ? !state.asc : false;
      state.sort = c.id;
      search();
    },
    onSelect: (s) => { showSelection(); setQuery({ sel: ids(s) }); },
    onToggle: (runId) => {
      state.expanded.has(runId) ? state.expanded.delete(runId) : state.expanded.add(runId);
      setQuery({ open: ids(state.expanded) });
      showRows();
    },
    onResize: (widths) => saveWidths(widthsKey, widths),
    onRows: (runIds) => state.shown?.has("outputs.models") && models.want(runIds),
  });
  table.selected = state.selected;
  table.widths = loadWidths(widthsKey);
  const showSelection = () => fill(selection, `${table.selected.size} selected`);
  showSelection();

  const filter = h("input", { id: "filter", type: "search", value: state.filter, size: 50, "aria-label": "Filter runs",
    placeholder: "metrics.acc > 0.9 and params.lr = '0.1'" });
  const statusFilter = statusButtons(state, () => search());
  const columnsMenu = h("div", { class: "menu" });
  const groupSelect = h("select", { id: "group-by", onchange: () => {
    state.groupBy = groupSelect.value;
    setQuery({ group: state.groupBy });
    showRows();
  } });
  const open = (page) => () => {
    const chosen = [...table.selected].slice(0, 100);
    location.hash = `${href(page)}?runs=${chosen.map(encodeURIComponent).join(",")}`;
  };
  const runsView = h("div", {},
    h("form", { class: "toolbar", onsubmit: (e) => { e.preventDefault(); state.filter = filter.value.trim(); search(); } },
      filter, h("button", { type: "submit" }, "Search"), statusFilter),
    h("div", { class: "toolbar" },
      h("details", { class: "columns" }, h("summary", {}, "Columns"), columnsMenu),
      h("label", {}, "Group by ", groupSelect),
      selection,
      h("button", { type: "button", id: "chart-selected", onclick: open("charts") }, "Chart"),
      h("button", { type: "button", id: "compare-selected", onclick: open("compare") }, "Compare")),
    error, status, empty, table.element);
  const [tabs, tracesView] = experimentTabs(id, query, runsView, live);
  main.append(breadcrumbs(["Experiments", href("")], [crumb]), title, tabs, runsView, tracesView);

  /** A new search or sort: a Back step, then the runs again. */
  function search() {
    setQuery({ filter: state.filter, status: state.status, sort: state.sort,
      dir: state.sort ? (state.asc ? "asc" : "desc") : null }, true);
    statusFilter.update();
    load();
  }

  function discover(runs) {
    let grew = false;
    for (const r of runs) for (const kind of ["params", "metrics", "tags"]) {
      for (const k of Object.keys(r[kind])) {
        if (kind === "tags" && k.startsWith("mlflow.")) continue;
        if (!state.keys[kind].has(k)) { state.keys[kind].add(k); grew = true; }
      }
    }
    return grew;
  }

  function allColumns() {
    return [...ATTRIBUTES, ...["params", "metrics", "tags"].flatMap((kind) =>
      [...state.keys[kind]].sort().map((k) => column(kind, k)))];
  }

  function defaultShown() {
    const shown = new Set(ATTRIBUTES.map((c) => c.id));
    for (const kind of ["params", "metrics"]) {
      for (const k of [...state.keys[kind]].sort().slice(0, DEFAULT_PER_KIND)) shown.add(column(kind, k).id);
    }
    return shown;
  }

  function toggleColumn(c, on) {
    on ? state.shown.add(c.id) : state.shown.delete(c.id);
    setQuery({ cols: JSON.stringify([...state.shown].filter((x) => x !== RUN_COLUMN)) });
    renderColumns();
  }

  function renderColumns() {
    const columns = allColumns();
    if (!state.shown) state.shown = defaultShown();
    table.setColumns(columns.filter((c) => c.id === RUN_COLUMN || state.shown.has(c.id)));
    fill(columnsMenu, columns.filter((c) => c.id !== RUN_COLUMN).map((c) => h("label", {},
      h("input", { type: "checkbox", checked: state.shown.has(c.id), dataset: { column: c.id },
        onchange: (e) => toggleColumn(c, e.target.checked) }),
      c.kind ? `${c.kind}.${c.key}` : c.label)));
    fill(groupSelect, h("option", { value: "" }, "(none)"),
      ["params", "tags"].flatMap((kind) => [...state.keys[kind]].sort().map((k) =>
        h("option", { value: `${kind}.${k}` }, `${kind}.${k}`))));
    groupSelect.value = state.groupBy;
  }

  function showRows() {
    if (!state.groupBy) return table.setRows(treeRows(state.tree, state.expanded), state.tree.children.size > 0);
    const dot = state.groupBy.indexOf(".");
    table.setRows(groupedRows(state.runs, state.groupBy.slice(0, dot), state.groupBy.slice(dot + 1), state.tree.byId));
  }

  function setRuns(runs) {
    state.runs = runs;
    state.tree = buildTree(runs);
    showRows();
  }

  async function showEmpty(current) {
    const name = await experimentName;
    if (!current()) return;
    table.element.hidden = true;
    if (searchFilter(state)) {
      fill(empty, emptyState("No runs match this filter and status. Change the filter, or pick All statuses."));
    } else {
      fill(empty, emptyState("No runs in this experiment yet. Log the first one from Python:", firstRun(name, id)));
    }
  }

  let generation = 0;
  async function load() {
    const mine = ++generation;
    const current = () => live() && mine === generation;
    const runs = [];
    fill(error);
    fill(empty);
    fill(status, "Loading…");
    table.sort = state.sort ? { id: state.sort, asc: state.asc } : null;
    table.renderHead();
    try {
      await searchAll("runs/search", { experiment_ids: [id], filter: searchFilter(state), max_results: PAGE,
        order_by: [state.sort ? `${state.sort} ${state.asc ? "ASC" : "DESC"}` : DEFAULT_ORDER] }, "runs", (page) => {
        const flat = page.map(flatten);
        runs.push(...flat);
        if (discover(flat) || !state.shown || runs.length === flat.length) renderColumns();
        table.element.hidden = false;
        setRuns(runs);
        fill(status, `${count(runs.length)}…`);
      }, current, FIRST_PAGE);
      if (!current()) return;
      fill(status, count(runs.length));
      if (!runs.length) await showEmpty(current);
      main.dataset.loaded = String(mine);
    } catch (e) {
      if (!current()) return;
      // The error takes the place of the rows: stale results under it would read as answers.
      setRuns([]);
      table.element.hidden = true;
      fill(status);
      fill(error, errorBox(e instanceof ApiError ? e : new Error(String(e))));
    }
  }
  await load();
}

/** All / Running / Finished / Failed / Killed: one pressed at a time. */
function statusButtons(state, onChange) {
  const buttons = ["", ...STATUSES].map((s) => h("button", { type: "button", dataset: { status: s || "ALL" },
    onclick: () => { if (state.status !== s) { state.status = s; onChange(); } } },
  s ? s[0] + s.slice(1).toLowerCase() : "All"));
  const group = h("div", { class: "segmented", id: "status-filter", role: "group", "aria-label": "Status" }, buttons);
  group.update = () => buttons.forEach((b, i) => b.setAttribute("aria-pressed", String((i ? STATUSES[i - 1] : "") === state.status)));
  group.update();
  return group;
}

/** The three lines that log a first run into this experiment. */
function firstRun(name, id) {
  const target = name === null ? `experiment_id=${JSON.stringify(id)}` : JSON.stringify(name);
  return `import cairn\n\ncairn.set_experiment(${target})\nwith cairn.start_run():\n    cairn.log_metric("loss", 0.5)`;
}

// Column widths are the reader's, per experiment: kept in this browser, not in the link.
function loadWidths(key) {
  try { return JSON.parse(localStorage.getItem(key) || "{}") || {}; } catch { return {}; }
}

function saveWidths(key, widths) {
  try { localStorage.setItem(key, JSON.stringify(widths)); } catch { /* storage full or off */ }
}

// Runs of an experiment: filter (search grammar), sort, columns, grouping, selection.
import { ApiError, errorBox, get, searchAll } from "./api.js";
import { fill, h } from "./dom.js";
import { href } from "./router.js";
import { ATTRIBUTES, RunTable, column, flatten, grouped } from "./runtable.js";

// The first page fills the screen and comes back in tens of milliseconds even at 10,000
// runs; the rest follow in bigger pages while the table is already usable.
const FIRST_PAGE = 100;
const PAGE = 2000;
const DEFAULT_PER_KIND = 8;

export async function runsPage(main, { id }, query, live) {
  const state = { filter: query.get("filter") || "", orderBy: "attributes.start_time DESC", runs: [],
    keys: { params: new Set(), metrics: new Set(), tags: new Set() }, shown: null, groupBy: "" };
  const title = h("h1", {}, "Runs");
  const status = h("div", { class: "status", id: "runs-status" });
  const error = h("div", { id: "filter-error" });
  const selection = h("span", { id: "selection" }, "0 selected");
  const filter = h("input", { id: "filter", type: "search", value: state.filter, size: 60,
    placeholder: "metrics.acc > 0.9 and params.lr = '0.1'" });
  const columnsMenu = h("div", { class: "menu" });
  const groupSelect = h("select", { id: "group-by", onchange: () => { state.groupBy = groupSelect.value; refresh(); } });
  const open = (page) => () => {
    const ids = [...table.selected].slice(0, 100);
    location.hash = `${href(page)}?runs=${ids.map(encodeURIComponent).join(",")}`;
  };
  const table = new RunTable({
    onSort: (c) => {
      const asc = table.sort?.id === c.id ? !table.sort.asc : false;
      table.sort = { id: c.id, asc };
      state.orderBy = `${c.id} ${asc ? "ASC" : "DESC"}`;
      load();
    },
    onSelect: (s) => fill(selection, `${s.size} selected`),
  });
  main.append(title,
    h("form", { class: "toolbar", onsubmit: (e) => { e.preventDefault(); state.filter = filter.value; load(); } },
      filter, h("button", { type: "submit" }, "Search"),
      h("details", { class: "columns" }, h("summary", {}, "Columns"), columnsMenu),
      h("label", {}, "Group by ", groupSelect),
      selection,
      h("button", { type: "button", id: "chart-selected", onclick: open("charts") }, "Chart"),
      h("button", { type: "button", id: "compare-selected", onclick: open("compare") }, "Compare")),
    error, status, table.element);

  get("experiments/get", { experiment_id: id })
    .then((r) => live() && fill(title, `Runs of ${r.experiment.name}`)).catch(() => {});

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

  function renderColumns() {
    const columns = allColumns();
    if (!state.shown) state.shown = defaultShown();
    table.setColumns(columns.filter((c) => state.shown.has(c.id)));
    fill(columnsMenu, columns.map((c) => h("label", {}, h("input", { type: "checkbox", checked: state.shown.has(c.id),
      onchange: (e) => { e.target.checked ? state.shown.add(c.id) : state.shown.delete(c.id); renderColumns(); } }),
    c.kind ? `${c.kind}.${c.key}` : c.label)));
    const current = state.groupBy;
    fill(groupSelect, h("option", { value: "" }, "(none)"),
      ["params", "tags"].flatMap((kind) => [...state.keys[kind]].sort().map((k) =>
        h("option", { value: `${kind}\u0000${k}` }, `${kind}.${k}`))));
    groupSelect.value = current;
  }

  function refresh() {
    const [kind, key] = state.groupBy ? state.groupBy.split("\u0000") : [];
    table.setRows(grouped(state.runs, kind, key));
  }

  let generation = 0;
  async function load() {
    const mine = ++generation;
    const current = () => live() && mine === generation;
    const started = performance.now();
    state.runs = [];
    fill(error);
    fill(status, "Loading…");
    table.renderHead();
    try {
      await searchAll("runs/search", { experiment_ids: [id], filter: state.filter, max_results: PAGE,
        order_by: [state.orderBy] }, "runs", (page) => {
        const runs = page.map(flatten);
        state.runs.push(...runs);
        if (discover(runs) || !state.shown) renderColumns();
        refresh();
        fill(status, `${state.runs.length} runs…`);
        if (state.runs.length === runs.length) window.cairnFirstPageMs = performance.now() - started;
      }, current, FIRST_PAGE);
      if (!current()) return;
      if (!state.shown) renderColumns();
      refresh();
      fill(status, `${state.runs.length} runs`);
      main.dataset.loaded = String(mine);
    } catch (e) {
      if (!current()) return;
      fill(status);
      fill(error, errorBox(e instanceof ApiError ? e : new Error(String(e))));
    }
  }
  await load();
}

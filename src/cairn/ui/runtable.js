// A virtually scrolled run table: only the rows in view (plus a margin) are in the DOM.
// The header row and the first two columns (checkbox, run name) are position: sticky inside
// the one scrolling box, so they stay put while the rows scroll under them either way.
import { formatDuration, formatTime, formatValue, h, relativeTime, statusBadge } from "./dom.js";
import { href } from "./router.js";

export const ROW_HEIGHT = 28;
const OVERSCAN = 10;
const CHECKBOX_WIDTH = 32;
const MIN_WIDTH = 60;
const DEFAULT_WIDTH = 140;
const INDENT = 18;
const KEY_STEP = 16;  // px per arrow key on a resize handle

export const RUN_COLUMN = "attributes.run_name";

/** The attribute columns; params/metrics/tags columns are made by column(kind, key).
 * `text` is the plain value (tooltip, grouping), `render` the cell's content if not text. */
export const ATTRIBUTES = [
  { id: RUN_COLUMN, label: "Run", width: 240, text: (r) => r.info.run_name || r.info.run_id },
  { id: "attributes.status", label: "Status", width: 100, text: (r) => r.info.status,
    render: (r) => statusBadge(r.info.status) },
  { id: "attributes.start_time", label: "Started", width: 120, text: (r) => formatTime(r.info.start_time),
    render: (r) => relativeTime(r.info.start_time) },
  { id: "attributes.end_time", label: "Duration", width: 100,
    text: (r) => formatDuration(r.info.start_time, r.info.end_time) },
  { id: "attributes.user_id", label: "User", width: 110, text: (r) => r.info.user_id },
  { id: "inputs.datasets", label: "Datasets", width: 170, unsortable: true, text: datasetText, render: datasetBadges },
  { id: "outputs.models", label: "Models", width: 170, unsortable: true, text: () => "",
    render: (r, table) => modelLinks(table.models?.of(r.info.run_id)) },
];

const quote = (key) => "`" + key.replace(/`/g, "") + "`";

export function column(kind, key) {
  return { id: `${kind}.${quote(key)}`, label: key, kind, key, text: (r) => formatValue(r[kind]?.[key]) };
}

/** A run from runs/search with its params/metrics/tags as plain objects. */
export function flatten(run) {
  const data = run.data || {};
  const params = {}, metrics = {}, tags = {};
  for (const p of data.params || []) params[p.key] = p.value;
  for (const m of data.metrics || []) metrics[m.key] = m.value;
  for (const t of data.tags || []) tags[t.key] = t.value;
  return { info: run.info, params, metrics, tags, inputs: run.inputs || {} };
}

function datasets(r) {
  const seen = new Map();
  for (const input of r.inputs?.dataset_inputs || []) {
    const d = input.dataset || {};
    const context = (input.tags || []).find((t) => t.key === "mlflow.data.context")?.value;
    if (d.name && !seen.has(d.name)) seen.set(d.name, { name: d.name, digest: d.digest, context });
  }
  return [...seen.values()];
}

function datasetText(r) {
  return datasets(r).map((d) => d.name).join(", ");
}

function datasetBadges(r) {
  return datasets(r).map((d) => h("span", { class: "badge dataset",
    title: [d.name, d.digest && `digest ${d.digest}`, d.context].filter(Boolean).join(" · ") }, d.name));
}

function modelLinks(versions) {
  if (versions === undefined) return h("span", { class: "pending", title: "Looking up model versions" }, "…");
  if (versions instanceof Error) return h("span", { class: "pending", title: versions.message }, "?");
  return versions.map((v) => h("a", { class: "badge model-version", href: href("models", v.name, "versions", v.version),
    title: `${v.name} version ${v.version}` }, `${v.name} v${v.version}`));
}

export class RunTable {
  /** Callbacks: onSort(column), onSelect(selected), onToggle(runId) (expand or collapse a
   * parent), onResize(widths), onRows(runIds) (the runs now drawn). */
  constructor({ onSort, onSelect, onToggle, onResize, onRows, models }) {
    Object.assign(this, { onSort, onSelect, onToggle, onResize, onRows, models });
    this.rows = [];        // display rows: {run, depth, childCount, open, parent?} or {group, label, count}
    this.columns = [];
    this.widths = {};      // column id → px, for the columns the reader resized
    this.selected = new Set();
    this.sort = null;      // {id, asc}
    this.nested = false;   // some run has children: keep a slot for the expander
    this.drawn = null;     // [first, last] of the rows in the DOM
    this.drawnRuns = [];   // [run, row element] of those rows
    this.head = h("div", { class: "vt-head", role: "row" });
    this.body = h("div", { class: "vt-rows" });
    this.canvas = h("div", { class: "vt-canvas" }, this.body);
    this.scroller = h("div", { class: "vt-scroll", id: "runs-scroll" }, this.head, this.canvas);
    this.element = h("div", { class: "vt", id: "runs-table", role: "table" }, this.scroller);
    this.scroller.addEventListener("scroll", () => this.schedule());
    new ResizeObserver(() => this.schedule()).observe(this.scroller);
  }

  setColumns(columns) {
    this.columns = columns;
    this.applyWidths();
    this.renderHead();
    this.render(true);
  }

  setRows(rows, nested = false) {
    this.rows = rows;
    this.nested = nested;
    this.canvas.style.height = `${rows.length * ROW_HEIGHT}px`;
    this.render(true);
    this.showSelectAll();
  }

  /** The head's box: ticked when every listed run is selected, half-ticked when some are. */
  showSelectAll() {
    if (!this.selectAll) return;
    let listed = 0, chosen = 0;
    for (const r of this.rows) if (r.run) { listed++; if (this.selected.has(r.run.info.run_id)) chosen++; }
    this.selectAll.checked = listed > 0 && chosen === listed;
    this.selectAll.indeterminate = chosen > 0 && chosen < listed;
  }

  width(c) {
    return this.widths[c.id] || c.width || DEFAULT_WIDTH;
  }

  applyWidths() {
    const template = [CHECKBOX_WIDTH, ...this.columns.map((c) => this.width(c))].map((w) => `${w}px`).join(" ");
    this.element.style.setProperty("--columns", template);
  }

  renderHead() {
    const all = this.selectAll = h("input", { type: "checkbox", title: "Select all", "aria-label": "Select all runs", onchange: (e) => {
      for (const r of this.rows) if (r.run) e.target.checked ? this.selected.add(r.run.info.run_id) : this.selected.delete(r.run.info.run_id);
      this.onSelect(this.selected); this.render(true);
    } });
    this.head.replaceChildren(h("div", { class: "cell th pin", role: "columnheader" }, all),
      ...this.columns.map((c) => this.headerCell(c)));
    this.showSelectAll();
  }

  headerCell(c) {
    const sorted = this.sort?.id === c.id;
    const sortable = !c.unsortable;
    const sort = () => this.onSort(c);
    return h("div", {
      class: `cell th${sortable ? " sortable" : ""}${c.id === RUN_COLUMN ? " pin pin-last" : ""}`,
      role: "columnheader", dataset: { column: c.id }, title: sortable ? `Sort by ${c.id}` : c.label,
      "aria-sort": sorted ? (this.sort.asc ? "ascending" : "descending") : null, tabindex: sortable ? 0 : null,
      onclick: sortable ? sort : null,
      onkeydown: sortable ? (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); } } : null,
    }, c.kind ? h("span", { class: "kind" }, KIND_LABELS[c.kind]) : null,
    h("span", { class: "th-label" }, c.label), sorted ? h("span", { class: "arrow" }, this.sort.asc ? " ▲" : " ▼") : null,
    this.resizer(c));
  }

  /** The handle on a header's right edge: drag it (or focus it and press ←/→). */
  resizer(c) {
    const handle = h("div", { class: "col-resize", role: "separator", "aria-orientation": "vertical",
      "aria-label": `Resize column ${c.label}`, "aria-valuenow": this.width(c), tabindex: 0,
      onclick: (e) => e.stopPropagation(),
      onkeydown: (e) => {
        const step = { ArrowLeft: -KEY_STEP, ArrowRight: KEY_STEP }[e.key];
        if (!step) return;
        e.preventDefault(); e.stopPropagation();
        this.resize(c, handle, this.width(c) + step);
        this.onResize(this.widths);
      },
      onpointerdown: (e) => this.drag(e, c, handle) });
    return handle;
  }

  drag(e, c, handle) {
    e.preventDefault(); e.stopPropagation();
    const x0 = e.clientX, w0 = this.width(c);
    handle.setPointerCapture(e.pointerId);
    handle.classList.add("dragging");
    const move = (ev) => this.resize(c, handle, w0 + ev.clientX - x0);
    const up = () => {
      handle.classList.remove("dragging");
      handle.removeEventListener("pointermove", move);
      handle.removeEventListener("pointerup", up);
      handle.removeEventListener("pointercancel", up);
      this.onResize(this.widths);
    };
    handle.addEventListener("pointermove", move);
    handle.addEventListener("pointerup", up);
    handle.addEventListener("pointercancel", up);
  }

  resize(c, handle, px) {
    this.widths[c.id] = Math.max(MIN_WIDTH, Math.round(px));
    handle.setAttribute("aria-valuenow", this.widths[c.id]);
    this.applyWidths();
  }

  schedule() {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => { this.pending = 0; this.render(); });
  }

  /** Draw the rows in view; a sideways scroll (same rows) draws nothing: sticky cells move
   * by themselves. */
  render(force = false) {
    const top = this.scroller.scrollTop;
    const height = this.scroller.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(this.rows.length, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN);
    if (!force && this.drawn && this.drawn[0] === first && this.drawn[1] === last) return;
    this.drawn = [first, last];
    this.body.style.transform = `translateY(${first * ROW_HEIGHT}px)`;
    const out = [];
    this.drawnRuns = [];
    for (let i = first; i < last; i++) {
      const row = this.rows[i];
      const el = row.run ? this.renderRun(row) : this.renderGroup(row);
      if (row.run) this.drawnRuns.push([row.run, el]);
      out.push(el);
    }
    this.body.replaceChildren(...out);
    this.onRows?.(this.drawnRuns.map(([run]) => run.info.run_id));
  }

  /** Redraw one column's cells in the rows on screen (answers that came in later). */
  refreshColumn(id) {
    const index = this.columns.findIndex((c) => c.id === id);
    if (index < 0) return;
    const c = this.columns[index];
    for (const [run, el] of this.drawnRuns) el.children[index + 1]?.replaceChildren(...[c.render(run, this)].flat());
  }

  renderGroup(row) {
    return h("div", { class: "vt-row group", role: "row", dataset: { group: row.group } },
      h("div", { class: "cell group-label", role: "cell" }, `${row.label}: ${row.group} (${row.count})`));
  }

  renderRun(row) {
    const id = row.run.info.run_id;
    const selected = this.selected.has(id);
    const box = h("input", { type: "checkbox", checked: selected, "aria-label": "Select run",
      onchange: (e) => {
        e.target.checked ? this.selected.add(id) : this.selected.delete(id);
        e.target.closest(".vt-row").classList.toggle("selected", e.target.checked);
        this.onSelect(this.selected);
        this.showSelectAll();
      } });
    const parent = row.parent?.info.run_id || (row.depth ? row.run.tags["mlflow.parentRunId"] : null);
    return h("div", { class: `vt-row${selected ? " selected" : ""}`, role: "row",
      dataset: { runId: id, depth: row.depth, parentId: parent } },
    h("div", { class: "cell pin", role: "cell" }, box),
    ...this.columns.map((c) => (c.id === RUN_COLUMN ? this.nameCell(row) : this.cell(c, row.run))));
  }

  cell(c, run) {
    // A rendered cell (badge, time, links) carries its own tooltip: no second formatting.
    if (c.render) return h("div", { class: "cell", role: "cell" }, c.render(run, this));
    const text = c.text(run) ?? "";
    return h("div", { class: "cell", role: "cell", title: text || null }, text);
  }

  /** The run's name: indented by depth, after the expander of a parent (▸ 3 / ▾ 3). */
  nameCell(row) {
    const info = row.run.info;
    const name = info.run_name || info.run_id;
    const expander = row.childCount ? h("button", { type: "button", class: "expander", "aria-expanded": String(row.open),
      title: `${row.open ? "Hide" : "Show"} ${row.childCount} child run${row.childCount > 1 ? "s" : ""}`,
      onclick: () => this.onToggle(info.run_id) }, `${row.open ? "▾" : "▸"} ${row.childCount}`) : null;
    const parentName = row.parent && (row.parent.info.run_name || row.parent.info.run_id);
    return h("div", { class: "cell pin pin-last name", role: "cell", title: name,
      style: `padding-left: ${6 + row.depth * INDENT}px` },
    this.nested ? h("span", { class: "tree-slot" }, expander) : null,
    parentName ? h("span", { class: "child-of", title: `Child of ${parentName}` }, "↳ ") : null,
    h("a", { href: href("runs", info.run_id), class: "run-link" }, name));
  }
}

const KIND_LABELS = { params: "param", metrics: "metric", tags: "tag" };

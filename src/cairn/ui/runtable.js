// A virtually scrolled run table: only the rows in view (plus a margin) are in the DOM.
import { formatDuration, formatTime, formatValue, h } from "./dom.js";
import { href } from "./router.js";

export const ROW_HEIGHT = 28;
const OVERSCAN = 10;

/** The attribute columns; params/metrics/tags columns are made by column(kind, key). */
export const ATTRIBUTES = [
  { id: "attributes.run_name", label: "Run", value: (r) => r.info.run_name || r.info.run_id, link: true },
  { id: "attributes.status", label: "Status", value: (r) => r.info.status },
  { id: "attributes.start_time", label: "Started", value: (r) => formatTime(r.info.start_time) },
  { id: "attributes.end_time", label: "Duration", value: (r) => formatDuration(r.info.start_time, r.info.end_time) },
  { id: "attributes.user_id", label: "User", value: (r) => r.info.user_id },
];

const quote = (key) => "`" + key.replace(/`/g, "") + "`";

export function column(kind, key) {
  return { id: `${kind}.${quote(key)}`, label: key, kind, key, value: (r) => formatValue(r[kind]?.[key]) };
}

/** A run from runs/search with its params/metrics/tags as plain objects. */
export function flatten(run) {
  const data = run.data || {};
  const params = {}, metrics = {}, tags = {};
  for (const p of data.params || []) params[p.key] = p.value;
  for (const m of data.metrics || []) metrics[m.key] = m.value;
  for (const t of data.tags || []) tags[t.key] = t.value;
  return { info: run.info, params, metrics, tags };
}

export class RunTable {
  constructor({ onSort, onSelect }) {
    this.rows = [];        // display rows: runs or {group, count}
    this.columns = [];
    this.selected = new Set();
    this.sort = null;      // {id, asc}
    this.onSort = onSort;
    this.onSelect = onSelect;
    this.head = h("div", { class: "vt-head", role: "row" });
    this.spacer = h("div", { class: "vt-spacer" });
    this.body = h("div", { class: "vt-rows" });
    this.scroller = h("div", { class: "vt-scroll", id: "runs-scroll" }, this.spacer, this.body);
    this.element = h("div", { class: "vt", id: "runs-table", role: "table" }, this.head, this.scroller);
    this.scroller.addEventListener("scroll", () => this.schedule());
    window.addEventListener("resize", () => this.schedule());
  }

  setColumns(columns) {
    this.columns = columns;
    const template = `32px ${columns.map((c) => (c.link ? "220px" : "140px")).join(" ")}`;
    this.element.style.setProperty("--columns", template);
    this.renderHead();
    this.render();
  }

  setRows(rows) {
    this.rows = rows;
    this.spacer.style.height = `${rows.length * ROW_HEIGHT}px`;
    this.schedule();
  }

  renderHead() {
    const all = h("input", { type: "checkbox", title: "Select all", onchange: (e) => {
      for (const r of this.rows) if (r.info) e.target.checked ? this.selected.add(r.info.run_id) : this.selected.delete(r.info.run_id);
      this.onSelect(this.selected); this.render();
    } });
    this.head.replaceChildren(h("div", { class: "cell" }, all), ...this.columns.map((c) => {
      const arrow = this.sort?.id === c.id ? (this.sort.asc ? " ▲" : " ▼") : "";
      return h("div", { class: "cell th", role: "columnheader", title: `Sort by ${c.id}`, dataset: { column: c.id },
        onclick: () => this.onSort(c) }, c.label + arrow);
    }));
  }

  schedule() {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => { this.pending = 0; this.render(); });
  }

  render() {
    const top = this.scroller.scrollTop;
    const height = this.scroller.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(this.rows.length, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN);
    this.body.style.transform = `translateY(${first * ROW_HEIGHT}px)`;
    const out = [];
    for (let i = first; i < last; i++) out.push(this.renderRow(this.rows[i]));
    this.body.replaceChildren(...out);
  }

  renderRow(row) {
    if (!row.info) {
      return h("div", { class: "vt-row group", role: "row" },
        h("div", { class: "cell wide" }, `${row.label}: ${row.group} (${row.count})`));
    }
    const id = row.info.run_id;
    const box = h("input", { type: "checkbox", checked: this.selected.has(id), "aria-label": "Select run",
      onchange: (e) => { e.target.checked ? this.selected.add(id) : this.selected.delete(id); this.onSelect(this.selected); } });
    return h("div", { class: "vt-row", role: "row", dataset: { runId: id } },
      h("div", { class: "cell" }, box),
      ...this.columns.map((c) => {
        const text = c.value(row) ?? "";
        return h("div", { class: "cell", role: "cell", title: text },
          c.link ? h("a", { href: href("runs", id), class: "run-link" }, text) : text);
      }));
  }
}

/** Rows grouped by a param/tag value (groups in first-seen order, runs keep their order). */
export function grouped(runs, kind, key) {
  if (!key) return runs;
  const groups = new Map();
  for (const r of runs) {
    const value = r[kind]?.[key] ?? "(none)";
    if (!groups.has(value)) groups.set(value, []);
    groups.get(value).push(r);
  }
  const out = [];
  for (const [value, members] of groups) out.push({ group: value, label: key, count: members.length }, ...members);
  return out;
}

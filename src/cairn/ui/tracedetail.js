// One trace: its spans as a tree (collapsible) beside a timing waterfall, the selected span's
// inputs, outputs, attributes and events, and the trace's tags, metadata and assessments.
// Everything a trace carries is user or model text: it goes into the page as text nodes
// (dom.js's h), inside <pre> where it is JSON, and never as HTML.
import { errorBox } from "./api.js";
import { fill, h, relativeTime, section, statusBadge } from "./dom.js";
import { href, setQuery } from "./router.js";
import { SPAN_INPUTS, SPAN_OUTPUTS, SPAN_TYPE, asText, formatMs, getTrace } from "./traces.js";

const SHOWN_APART = new Set([SPAN_INPUTS, SPAN_OUTPUTS, SPAN_TYPE]);
const SOURCE_RUN = "mlflow.sourceRun";  // the run a trace was made in: a link to it

/** The detail of `state.trace` (with `state.span` selected, which a click changes); `back()`
 * returns to the list. */
export function traceDetail(state, back, live) {
  const element = h("div", { class: "trace-detail", id: "trace-detail" },
    h("div", { class: "toolbar" }, h("button", { type: "button", id: "trace-back", onclick: back }, "← All traces")),
    h("div", { class: "status" }, "Loading…"));
  getTrace(state.trace).then((trace) => {
    if (live()) fill(element, element.firstChild, ...view(trace, state));
  }).catch((e) => { if (live()) fill(element, element.firstChild, errorBox(e)); });
  return element;
}

function view(trace, state) {
  const { info } = trace;
  const nodes = spanTree(trace.spans);
  const pane = h("div", { class: "span-detail", id: "span-detail" });
  const rows = h("div", { class: "span-rows", id: "span-tree", role: "tree", "aria-label": "Spans" });
  const bounds = timeBounds(trace.spans);
  const collapsed = new Set();
  let selected = nodes.find((n) => n.span.id === state.span) || nodes[0];

  function draw() {
    const hidden = new Set();
    const focused = rows.contains(document.activeElement);
    fill(rows, nodes.map((node) => {
      if (node.parent && (hidden.has(node.parent.span.id) || collapsed.has(node.parent.span.id))) {
        hidden.add(node.span.id);
        return null;
      }
      return spanRow(node, bounds, node === selected, collapsed.has(node.span.id), {
        select: () => {
          selected = node;
          state.span = node.span.id;
          setQuery({ span: state.span });
          draw();
          fill(pane, spanDetail(node.span, bounds));
        },
        toggle: () => { collapsed.has(node.span.id) ? collapsed.delete(node.span.id) : collapsed.add(node.span.id); draw(); },
      });
    }));
    if (focused) rows.querySelector(".span-row.selected")?.focus();
  }
  // The tree's keys: up and down move the selection, left and right fold and unfold.
  rows.addEventListener("keydown", (e) => {
    const list = [...rows.children];
    const row = list.indexOf(document.activeElement);
    if (row < 0) return;
    const next = { ArrowDown: list[row + 1], ArrowUp: list[row - 1] }[e.key];
    const fold = { ArrowLeft: "true", ArrowRight: "false" }[e.key] === list[row].getAttribute("aria-expanded");
    if (!next && !fold) return;
    e.preventDefault();
    if (next) next.click();
    else list[row].querySelector(".span-toggle").click();
  });
  draw();
  if (selected) fill(pane, spanDetail(selected.span, bounds));
  else fill(pane, h("p", { class: "status" }, "This trace has no spans (yet)."));

  return [
    h("div", { class: "trace-head" },
      h("h2", { id: "trace-name" }, info.name || "(unnamed trace)"), statusBadge(info.state),
      h("code", { id: "trace-id" }, info.id)),
    h("p", { class: "run-meta" }, info.time === null ? null : ["Started ", relativeTime(info.time), " · "],
      info.durationMs === null ? null : `took ${formatMs(info.durationMs)} · `, `${trace.spans.length} span${trace.spans.length === 1 ? "" : "s"}`,
      info.tokens ? ` · ${info.tokens.total ?? "?"} tokens (input ${info.tokens.input ?? "?"}, output ${info.tokens.output ?? "?"})` : null),
    h("div", { class: "trace-body" },
      h("div", { class: "card span-card" },
        h("div", { class: "span-head" }, h("span", {}, "Span"), h("span", {}, `Timeline (${formatMs(bounds.ms)})`)), rows),
      pane),
    assessmentsCard(info.assessments),
    h("div", { class: "overview-grid" }, mapCard("Tags", "trace-tags", info.tags), mapCard("Metadata", "trace-metadata", info.metadata)),
  ];
}

/** Depth-first, children by start time; a span whose parent is missing is a root. */
function spanTree(spans) {
  const byId = new Map(spans.map((s) => [s.id, { span: s, parent: null, children: [], depth: 0 }]));
  const roots = [];
  for (const node of byId.values()) {
    const parent = node.span.parentId && byId.get(node.span.parentId);
    if (parent && parent !== node) { node.parent = parent; parent.children.push(node); } else roots.push(node);
  }
  const byStart = (a, b) => (a.span.start ?? 0n) < (b.span.start ?? 0n) ? -1 : (a.span.start ?? 0n) > (b.span.start ?? 0n) ? 1 : 0;
  const out = [];
  const walk = (node, depth) => {
    node.depth = depth;
    out.push(node);
    node.children.sort(byStart).forEach((c) => walk(c, depth + 1));
  };
  roots.sort(byStart).forEach((r) => walk(r, 0));
  return out;
}

/** The trace's first start and last end (ns, BigInt), and its length in ms. */
function timeBounds(spans) {
  const starts = spans.map((s) => s.start).filter((t) => t !== null);
  const ends = spans.map((s) => s.end ?? s.start).filter((t) => t !== null);
  if (!starts.length) return { start: 0n, end: 0n, ms: 0 };
  const start = starts.reduce((a, b) => (b < a ? b : a));
  const end = ends.reduce((a, b) => (b > a ? b : a), start);
  return { start, end, ms: Number(end - start) / 1e6 };
}

const msBetween = (a, b) => (a === null || b === null ? null : Number(b - a) / 1e6);
/** An offset from the trace's start: "+0 ms", "+0.81 ms". */
const at = (ms) => (ms === null ? "" : ms === 0 ? "+0 ms" : `+${formatMs(ms)}`);

function spanRow(node, bounds, isSelected, isCollapsed, { select, toggle }) {
  const { span } = node;
  const total = Number(bounds.end - bounds.start) || 1;
  const startAt = span.start === null ? 0 : Number(span.start - bounds.start);
  const length = span.start === null ? 0 : Number((span.end ?? bounds.end) - span.start);
  const bar = h("div", { class: `span-bar status-${span.status.toLowerCase()}`,
    style: `left: ${(100 * startAt / total).toFixed(3)}%; width: ${Math.max(100 * length / total, 0.4).toFixed(3)}%`,
    title: `${at(startAt / 1e6)} → ${at((startAt + length) / 1e6)}` });
  return h("div", { class: `span-row${isSelected ? " selected" : ""}`, role: "treeitem", "aria-selected": String(isSelected),
    "aria-level": node.depth + 1, "aria-expanded": node.children.length ? String(!isCollapsed) : null,
    dataset: { spanId: span.id, depth: node.depth }, tabindex: isSelected ? 0 : -1, onclick: select,
    onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(); } } },
  h("div", { class: "span-label", style: `padding-left: ${node.depth * 16 + 4}px` },
    node.children.length
      ? h("button", { type: "button", class: "span-toggle", "aria-label": isCollapsed ? "Expand" : "Collapse",
        onclick: (e) => { e.stopPropagation(); toggle(); } }, isCollapsed ? "▸" : "▾")
      : h("span", { class: "span-toggle-space" }),
    h("span", { class: "span-name" }, span.name),
    span.type ? h("span", { class: "span-type" }, span.type) : null),
  h("div", { class: "span-track" }, bar, h("span", { class: "span-ms" }, formatMs(msBetween(span.start, span.end)))));
}

function spanDetail(span, bounds) {
  const others = Object.entries(span.attributes).filter(([k]) => !SHOWN_APART.has(k));
  return [
    h("h3", { id: "span-title" }, span.name),
    h("table", { class: "kv-grid span-facts" }, h("tbody", {},
      fact("Type", span.type || "—"), fact("Status", statusBadge(span.status), span.statusMessage ? ` ${span.statusMessage}` : null),
      fact("Duration", formatMs(msBetween(span.start, span.end)) || "in progress"),
      fact("Starts at", at(msBetween(bounds.start, span.start))),
      fact("Span ID", h("code", {}, span.id)))),
    textBlock("Inputs", "span-inputs", span.attributes[SPAN_INPUTS]),
    textBlock("Outputs", "span-outputs", span.attributes[SPAN_OUTPUTS]),
    span.events.length ? h("div", { id: "span-events" }, h("h3", {}, "Events"), span.events.map((e) => eventBlock(e, bounds))) : null,
    others.length ? h("div", {}, h("h3", {}, "Attributes"), h("table", { class: "kv-grid", id: "span-attributes" }, h("tbody", {},
      others.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, h("pre", { class: "json" }, asText(v)))))))) : null,
  ];
}

const fact = (label, ...value) => h("tr", {}, h("th", {}, label), h("td", {}, ...value));

function textBlock(title, id, value) {
  return h("div", { class: "text-block" }, h("h3", {}, title),
    value === undefined ? h("p", { class: "status" }, "None recorded.") : h("pre", { class: "json", id }, asText(value)));
}

function eventBlock(event, bounds) {
  const exception = event.name === "exception";
  const a = event.attributes;
  return h("div", { class: `span-event${exception ? " exception" : ""}` },
    h("div", {}, h("strong", {}, event.name), event.time === null ? null : ` at ${at(msBetween(bounds.start, event.time))}`),
    exception
      ? h("pre", { class: "json" }, [a["exception.type"], a["exception.message"]].filter(Boolean).join(": "),
        a["exception.stacktrace"] ? `\n\n${asText(a["exception.stacktrace"])}` : "")
      : Object.keys(a).length ? h("pre", { class: "json" }, asText(a)) : null);
}

function assessmentsCard(assessments) {
  if (!assessments.length) return null;
  return section("Assessments", h("table", { class: "grid assessments", id: "trace-assessments" },
    h("thead", {}, h("tr", {}, ["Name", "Value", "Rationale", "Source", "Time"].map((x) => h("th", {}, x)))),
    h("tbody", {}, assessments.map((a) => h("tr", {},
      h("td", {}, a.name, a.kind === "expectation" ? h("span", { class: "badge" }, "expected") : null),
      h("td", {}, a.error ? h("pre", { class: "json error-text" }, asText(a.error)) : h("pre", { class: "json" }, asText(a.value))),
      h("td", { class: "value" }, a.rationale), h("td", {}, a.source),
      h("td", { class: "time" }, a.time === null ? "" : relativeTime(a.time)))))));
}

function mapCard(title, id, map) {
  const entries = Object.entries(map).sort(([a], [b]) => (a < b ? -1 : 1));
  return section(title, entries.length
    ? h("table", { class: "kv-grid", id }, h("tbody", {}, entries.map(([k, v]) => h("tr", {}, h("th", {}, k),
      h("td", { class: "value" }, k === SOURCE_RUN ? h("a", { href: href("runs", v) }, String(v)) : String(v))))))
    : h("p", { class: "status" }, "None."));
}

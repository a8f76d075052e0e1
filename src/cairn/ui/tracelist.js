// The Traces tab of an experiment or a run: newest first, a page at a time ("Load more"),
// narrowed by MLflow's trace filter grammar; a click opens the trace's detail. What is on
// show (the filter, the open trace) lives in the address, so a reload or a link keeps it.
import { errorBox } from "./api.js";
import { emptyState, fill, formatTime, h, relativeTime, statusBadge } from "./dom.js";
import { href, setQuery } from "./router.js";
import { traceDetail } from "./tracedetail.js";
import { formatMs, runFilter, searchTraces } from "./traces.js";

const PAGE = 50;
const PREVIEW_CHARS = 120;
const FIRST_TRACE = `import mlflow\n\n@mlflow.trace\ndef answer(question):\n    return "42"\n\nanswer("why?")`;

/** The query values a traces panel keeps in the address (none when it is not on show). */
export function traceQuery(panel) {
  const state = panel?.state;
  return { trace: state?.trace || null, span: (state?.trace && state.span) || null, trace_filter: state?.filter || null };
}

/** The panel: `link(traceId)` is the address that opens a trace (a real link: it opens in a
 * new browser tab too). With `runId`, only that run's traces. */
export function tracesPanel({ experimentId, runId = null, query, link, live }) {
  const state = { filter: query.get("trace_filter") || "", trace: query.get("trace") || "", span: query.get("span") || "" };
  const panel = h("div", { class: "traces", id: "traces" });
  panel.state = state;
  const list = traceList(experimentId, runId, state, link, open, live);
  function open(traceId, push = true) {
    if (push) state.span = "";
    state.trace = traceId || "";
    setQuery({ trace: state.trace, span: state.span }, push);
    if (!state.trace) { fill(panel, list.element); list.loadOnce(); return; }
    fill(panel, traceDetail(state, () => open("", true), live));
  }
  open(state.trace, false);
  return panel;
}

function traceList(experimentId, runId, state, link, open, live) {
  const input = h("input", { id: "trace-filter", type: "search", value: state.filter, size: 50, "aria-label": "Filter traces",
    placeholder: "trace.status = 'ERROR' and tags.topic = 'billing'" });
  const status = h("span", { class: "status", id: "traces-status" });
  const error = h("div", { id: "trace-filter-error" });
  const empty = h("div", { id: "traces-empty" });
  const body = h("tbody", {});
  const more = h("button", { type: "button", id: "traces-more", hidden: true, onclick: () => load(false) }, "Load more");
  const grid = h("table", { class: "grid trace-table", id: "traces-table", hidden: true },
    h("thead", {}, h("tr", {}, ["Time", "Name", "State", "Duration", "Tokens", "Request", "Response", "Trace ID"]
      .map((x) => h("th", { class: ["Duration", "Tokens"].includes(x) ? "num" : null }, x)))), body);
  const element = h("div", { class: "trace-list" },
    h("form", { class: "toolbar", onsubmit: (e) => {
      e.preventDefault();
      state.filter = input.value.trim();
      setQuery({ trace_filter: state.filter }, true);
      load(true);
    } }, input, h("button", { type: "submit" }, "Search"), status),
    error, empty, grid, more);

  let token = null, shown = 0, generation = 0, loaded = false;
  async function load(fresh) {
    const mine = fresh ? ++generation : generation;
    const current = () => live() && mine === generation;
    if (fresh) { token = null; shown = 0; fill(body); fill(error); fill(empty); }
    more.disabled = true;
    fill(status, "Loading…");
    const filter = [runId ? runFilter(runId) : "", state.filter].filter(Boolean).join(" AND ");
    try {
      const page = await searchTraces(experimentId, filter, token, PAGE);
      if (!current()) return;
      body.append(...page.traces.map((t) => row(t, link, open)));
      shown += page.traces.length;
      token = page.next;
      grid.hidden = !shown;
      more.hidden = !token;
      fill(status, `${shown} trace${shown === 1 ? "" : "s"}${token ? ", more to load" : ""}`);
      if (!shown) fill(empty, state.filter ? emptyState("No traces match this filter.")
        : emptyState(`No traces ${runId ? "in this run" : "in this experiment"} yet. Trace a function with MLflow's client:`, FIRST_TRACE));
    } catch (e) {
      if (!current()) return;
      // The error takes the place of the rows: stale results under it would read as answers.
      fill(body); grid.hidden = true; more.hidden = true; fill(status);
      fill(error, errorBox(e));
    } finally {
      more.disabled = false;
    }
  }
  return { element, loadOnce: () => { if (!loaded) { loaded = true; load(true); } } };
}

function row(t, link, open) {
  const go = (e) => {
    if (e.ctrlKey || e.metaKey || e.shiftKey || e.button) return;
    e.preventDefault();
    open(t.id);
  };
  return h("tr", { class: "trace-row", dataset: { traceId: t.id }, onclick: (e) => { if (e.target.tagName !== "A") go(e); } },
    h("td", { class: "time" }, t.time === null ? "" : relativeTime(t.time)),
    h("td", { class: "name" }, h("a", { href: link(t.id), onclick: go }, t.name || "(unnamed)")),
    h("td", { class: "state" }, statusBadge(t.state)),
    h("td", { class: "num duration" }, formatMs(t.durationMs)),
    h("td", { class: "num tokens", title: t.tokens ? `input ${t.tokens.input ?? "?"}, output ${t.tokens.output ?? "?"}` : null },
      t.tokens ? String(t.tokens.total ?? "") : ""),
    h("td", { class: "preview request", title: t.request }, clip(t.request)),
    h("td", { class: "preview response", title: t.response }, clip(t.response)),
    h("td", { class: "trace-id", title: t.time === null ? null : formatTime(t.time) }, h("code", {}, t.id)));
}

function clip(text) {
  const s = String(text || "");
  return s.length > PREVIEW_CHARS ? `${s.slice(0, PREVIEW_CHARS)}…` : s;
}

/** The experiment page's Runs | Traces switch, in the run page's tab style: `runs` is the
 * runs view (built by runs.js), the traces panel is built the first time it shows. */
export function experimentTabs(experimentId, query, runs, live) {
  const panels = { runs };
  runs.setAttribute("role", "tabpanel");
  runs.id = "panel-runs";
  const holder = h("div", {});
  const tabs = [["runs", "Runs"], ["traces", "Traces"]].map(([name, label]) => h("a", {
    role: "tab", id: `tab-${name}`, dataset: { tab: name }, "aria-controls": `panel-${name}`,
    href: href("experiments", experimentId, name === "runs" ? {} : { tab: name }),
    onclick: (e) => {
      if (e.ctrlKey || e.metaKey || e.shiftKey || e.button) return;
      e.preventDefault();
      select(name, true);
    },
  }, label));
  const strip = h("div", { role: "tablist", class: "tabs", id: "experiment-tabs", "aria-label": "Experiment sections" }, tabs);

  function select(name, push) {
    for (const tab of tabs) {
      const on = tab.dataset.tab === name;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
    }
    if (!panels[name]) {
      panels.traces = h("div", { role: "tabpanel", id: "panel-traces", "aria-labelledby": "tab-traces" },
        tracesPanel({ experimentId, query, live, link: (trace) => href("experiments", experimentId, { tab: "traces", trace }) }));
      holder.append(panels.traces);
    }
    for (const [other, panel] of Object.entries(panels)) panel.hidden = other !== name;
    setQuery({ tab: name === "runs" ? null : name, ...traceQuery(name === "traces" ? panels.traces.firstChild : null) }, push);
  }
  select(query.get("tab") === "traces" ? "traces" : "runs", false);
  return [strip, holder];
}

// Building DOM without HTML strings: every piece of user data becomes a text node.

/** h("a", {href: "#/", class: "x", onclick: f}, "text", child, [more]) → element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name === "value") el.value = value;
    else if (name === "checked") el.checked = Boolean(value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replace the children of `el` with `children`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function table(headers, rows, attrs = {}) {
  return h("table", attrs,
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows));
}

/** The exact local time of `ms`, as a tooltip and a table cell show it. */
export function formatTime(ms) {
  if (ms === undefined || ms === null || ms === "") return "";
  const d = new Date(Number(ms));
  return isNaN(d) ? "" : d.toLocaleString();
}

export function formatDuration(start, end) {
  if (!start) return "";
  let s = Math.max(0, ((end ? Number(end) : Date.now()) - Number(start)) / 1000);
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60); s = Math.round(s % 60);
  if (m < 60) return `${m}m ${s}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

export function formatValue(v) {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toPrecision(6).replace(/\.?0+$/, "");
  return v === undefined || v === null ? "" : String(v);
}

/** `[{key, value}]` → {key: value}. */
export function pairs(list) {
  const out = {};
  for (const item of list || []) out[item.key] = item.value;
  return out;
}

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), ...children);
}

const UNITS = [["year", 365 * 86400], ["month", 30 * 86400], ["day", 86400], ["hour", 3600], ["min", 60]];

/** "just now", "20 min ago", "3 days ago" (or "in 2 hours" for a clock ahead of ours). */
export function formatRelative(ms, now = Date.now()) {
  if (ms === undefined || ms === null || ms === "" || isNaN(Number(ms))) return "";
  const seconds = (now - Number(ms)) / 1000;
  const size = Math.abs(seconds);
  for (const [unit, length] of UNITS) {
    if (size >= length) {
      const n = Math.floor(size / length);
      const text = `${n} ${unit}${n > 1 && unit !== "min" ? "s" : ""}`;
      return seconds >= 0 ? `${text} ago` : `in ${text}`;
    }
  }
  return "just now";
}

/** A relative time ("20 min ago") with the exact time on hover. */
export function relativeTime(ms) {
  if (!formatTime(ms)) return h("span", {}, "");
  return h("time", { class: "relative", datetime: new Date(Number(ms)).toISOString(), title: formatTime(ms) },
    formatRelative(ms));
}

/** A run's status as a coloured badge: FAILED and KILLED stand out, RUNNING moves. */
export function statusBadge(status) {
  const text = String(status || "UNKNOWN");
  return h("span", { class: `status-badge status-${text.toLowerCase()}`, title: text }, text);
}

/** "Experiments › churn › run-3": `[label, link]` pairs; the last one is where the reader is.
 * A label may be a node (filled in later, as an experiment's name is). */
export function breadcrumbs(...items) {
  const nav = h("nav", { class: "crumbs", "aria-label": "Breadcrumbs" });
  items.forEach(([label, link], i) => {
    if (i) nav.append(h("span", { class: "sep", "aria-hidden": "true" }, "›"));
    const last = i === items.length - 1;
    nav.append(link && !last ? h("a", { href: link }, label) : h("span", { "aria-current": last ? "page" : null }, label));
  });
  return nav;
}

/** What an empty page shows: a sentence and what to do about it (code as a copyable block). */
export function emptyState(message, code) {
  return h("div", { class: "empty-state" }, h("p", {}, message), code ? h("pre", {}, h("code", {}, code)) : null);
}

/** Series colours: Okabe & Ito's colour-blind-safe set (yellow left out: unreadable on
 * white), then Tol's muted colours; no two of them are near-identical reds. */
export const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000",
  "#882255", "#44AA99", "#999933", "#332288", "#AA4499"];

export const colorOf = (i) => PALETTE[i % PALETTE.length];

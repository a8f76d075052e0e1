// Hash routing: "#/runs/abc?x=1" → the page registered for "runs/:id", with params.
// MLflow's URL shapes (what its client prints after every run) are redirects to ours.

const routes = [];
let shown = null;  // the hash on show: a popstate and a hashchange for one Back draw it once

/** The page `render(main, params, query, live)` for a pattern such as "runs/:id"; a last
 * part "*" takes the rest of the path (as params.rest). */
export function route(pattern, render) {
  routes.push({ parts: pattern.split("/").filter(Boolean), render });
}

/** A URL shape of another tool that shows one of our pages: `to(params, query)` gives that
 * page's hash, which replaces the address (so Back skips it). */
export function redirect(pattern, to) {
  route(pattern, (_main, params, query) => { location.replace(to(params, query)); });
}

export function parse(hash) {
  const [path, search = ""] = hash.replace(/^#\/?/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, query: new URLSearchParams(search) };
}

function match(pattern, parts) {
  const rest = pattern[pattern.length - 1] === "*";
  const fixed = rest ? pattern.length - 1 : pattern.length;
  if (rest ? parts.length < fixed : parts.length !== fixed) return null;
  const params = {};
  for (let i = 0; i < fixed; i++) {
    if (pattern[i].startsWith(":")) params[pattern[i].slice(1)] = parts[i];
    else if (pattern[i] !== parts[i]) return null;
  }
  if (rest) params.rest = parts.slice(fixed).join("/");
  return params;
}

/** Link target for a page: href("runs", id) → "#/runs/<id>"; with a query object, its
 * non-empty values follow ("#/charts?runs=a,b"). */
export function href(...parts) {
  const last = parts[parts.length - 1];
  const query = last && typeof last === "object" ? parts.pop() : null;
  const search = query ? new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== "")).toString() : "";
  return "#/" + parts.map((p) => encodeURIComponent(p)).join("/") + (search ? `?${search}` : "");
}

/** Rewrite the address's query without a new history entry per keystroke: `push` makes one
 * (a Back step), otherwise the current entry changes. No hashchange: the page stays. */
export function setQuery(values, push = false) {
  const { parts, query } = parse(location.hash);
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined || v === null || v === "" || (Array.isArray(v) && !v.length)) query.delete(k);
    else query.set(k, Array.isArray(v) ? v.join(",") : String(v));
  }
  const search = query.toString();
  const hash = "#/" + parts.map(encodeURIComponent).join("/") + (search ? `?${search}` : "");
  if (hash === location.hash) return;
  history[push ? "pushState" : "replaceState"](history.state, "", hash);
  shown = location.hash;
}

/** A list in a query value: MLflow writes JSON arrays (`["a","b"]`), we write "a,b". */
export function listParam(value) {
  if (!value) return [];
  try {
    const parsed = JSON.parse(value);
    if (Array.isArray(parsed)) return parsed.map(String).filter(Boolean);
    if (typeof parsed === "string") return [parsed];
  } catch { /* a plain list */ }
  return value.split(",").filter(Boolean);
}

export function start(main, notFound) {
  let current = 0;
  const show = () => {
    if (location.hash === shown) return;
    shown = location.hash;
    const { parts, query } = parse(location.hash);
    const generation = ++current;
    const live = () => generation === current;
    for (const r of routes) {
      const params = match(r.parts, parts);
      if (params) {
        main.replaceChildren();
        Promise.resolve(r.render(main, params, query, live)).catch((e) => notFound(main, e));
        return;
      }
    }
    notFound(main, new Error(`No page at ${location.hash}`));
  };
  window.addEventListener("hashchange", show);
  window.addEventListener("popstate", show);
  show();
}

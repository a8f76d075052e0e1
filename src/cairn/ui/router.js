// Hash routing: "#/runs/abc?x=1" → the page registered for "runs/:id", with params.

const routes = [];

export function route(pattern, render) {
  routes.push({ parts: pattern.split("/").filter(Boolean), render });
}

export function parse(hash) {
  const [path, search = ""] = hash.replace(/^#\/?/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, query: new URLSearchParams(search) };
}

function match(pattern, parts) {
  if (pattern.length !== parts.length) return null;
  const params = {};
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i].startsWith(":")) params[pattern[i].slice(1)] = parts[i];
    else if (pattern[i] !== parts[i]) return null;
  }
  return params;
}

/** Link target for a page: href("runs", id) → "#/runs/<id>". */
export function href(...parts) {
  return "#/" + parts.map((p) => encodeURIComponent(p)).join("/");
}

export function start(main, notFound) {
  let current = 0;
  const show = () => {
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
  show();
}

// Experiments: the list with run counts, storage and last activity; find, create, rename, delete.
import { ApiError, cairn, errorBox, post, searchAll } from "./api.js";
import { emptyState, fill, h, relativeTime } from "./dom.js";
import { href } from "./router.js";

const FIRST_RUN = `import cairn\n\ncairn.set_experiment("my-experiment")\nwith cairn.start_run():\n    cairn.log_metric("loss", 0.5)`;

export async function experimentsPage(main, _params, _query, live) {
  const status = h("div", { class: "status" });
  const body = h("tbody", {});
  const empty = h("div", { id: "experiments-empty" });
  const name = h("input", { id: "new-experiment", placeholder: "New experiment name", "aria-label": "New experiment name" });
  const find = h("input", { id: "experiment-filter", type: "search", placeholder: "Filter by name", "aria-label": "Filter experiments by name",
    oninput: () => narrow(body, find.value) });
  const create = h("form", { class: "toolbar", onsubmit: async (e) => {
    e.preventDefault();
    try {
      await post("experiments/create", { name: name.value });
      name.value = "";
      await load();
    } catch (error) { fill(status, errorBox(error)); }
  } }, name, h("button", { type: "submit" }, "Create"));
  const grid = h("table", { class: "grid", id: "experiments" },
    h("thead", {}, h("tr", {}, ["Name", "ID", "Runs", "Storage", "Last activity", "Created", ""].map((x) => h("th", { class: NUMERIC.has(x) ? "num" : null }, x)))),
    body);
  main.append(h("h1", {}, "Experiments"), h("div", { class: "toolbar", id: "experiments-tools" }, find, create), status, empty, grid);

  async function load() {
    const experiments = [];
    await searchAll("experiments/search", { max_results: 1000, order_by: ["last_update_time DESC"] },
      "experiments", (page) => experiments.push(...page), live);
    if (!live()) return;
    const rows = experiments.map((e) => row(e, status, load));
    fill(body, rows.map((r) => r.tr));
    grid.hidden = !experiments.length;
    fill(empty, experiments.length ? null
      : emptyState("No experiments yet. Create one above, or log a run from Python (the experiment is created on first use):", FIRST_RUN));
    narrow(body, find.value);
    await Promise.all([counts(rows, live), storage(rows, live)]);
  }
  try { await load(); } catch (error) { fill(status, errorBox(error)); }
}

// Rows whose name lacks the text are hidden (the list is one page of at most a few thousand).
function narrow(body, text) {
  const needle = text.trim().toLowerCase();
  for (const tr of body.rows) tr.hidden = Boolean(needle) && !tr.dataset.name.toLowerCase().includes(needle);
}

function row(e, status, reload) {
  const runs = h("td", { class: "num runs" }, "…");
  const held = h("td", { class: "num storage" }, "…");
  const last = h("td", { class: "last-activity" }, relativeTime(e.last_update_time));
  const act = (fn) => async () => {
    try { await fn(); await reload(); } catch (error) { fill(status, errorBox(error)); }
  };
  const rename = act(async () => {
    const name = prompt("New name", e.name);
    if (name) await post("experiments/update", { experiment_id: e.experiment_id, new_name: name });
  });
  const remove = act(async () => {
    if (confirm(`Delete experiment "${e.name}"?`)) await post("experiments/delete", { experiment_id: e.experiment_id });
  });
  const tr = h("tr", { dataset: { experimentId: e.experiment_id, name: e.name } },
    h("td", {}, h("a", { class: "experiment-link", href: href("experiments", e.experiment_id) }, e.name)),
    h("td", {}, e.experiment_id), runs, held, last, h("td", { class: "created" }, relativeTime(e.creation_time)),
    h("td", { class: "actions" },
      h("button", { onclick: rename, title: "Rename" }, "Rename"),
      h("button", { onclick: remove, class: "danger", title: "Delete" }, "Delete")));
  return { e, tr, runs, held, last };
}

const NUMERIC = new Set(["Runs", "Storage"]);
const COUNT_CHUNK = 1000;  // the server's limit of experiments per call

// Run counts and last activity from Cairn's one-query endpoint; against a server without
// it (404), each experiment's runs are paged instead.
async function counts(rows, live) {
  for (let i = 0; i < rows.length; i += COUNT_CHUNK) {
    const chunk = rows.slice(i, i + COUNT_CHUNK);
    let answer;
    try {
      answer = await cairn("experiments/run-counts", { experiment_ids: chunk.map((r) => r.e.experiment_id).join(",") });
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 404) {
        for (const r of chunk) fill(r.runs, "?");
        continue;
      }
      await Promise.all(chunk.map((r) => countRuns(r.e.experiment_id, r.runs, r.last, live).catch(() => fill(r.runs, "?"))));
      continue;
    }
    if (!live()) return;
    for (const r of chunk) {
      const c = answer.counts?.[r.e.experiment_id] || { runs: 0, last_activity: null };
      fill(r.runs, String(c.runs));
      if (c.last_activity) fill(r.last, relativeTime(c.last_activity));
    }
  }
}

// MLflow's API alone has no count: page through the runs, newest first, so the first page
// also gives the last activity.
async function countRuns(experimentId, cell, lastCell, live) {
  let count = 0, first = true;
  await searchAll("runs/search", {
    experiment_ids: [experimentId], max_results: 1000, order_by: ["attributes.start_time DESC"],
  }, "runs", (page) => {
    count += page.length;
    if (first && page.length) {
      const info = page[0].info;
      fill(lastCell, relativeTime(Math.max(Number(info.end_time || 0), Number(info.start_time || 0))));
    }
    first = false;
    fill(cell, String(count));
  }, live);
  fill(cell, String(count));
}

// Artifact bytes and metric points from the figures the server keeps as runs log (one call
// per COUNT_CHUNK experiments; nothing is walked). A server without them shows a dash.
async function storage(rows, live) {
  for (let i = 0; i < rows.length; i += COUNT_CHUNK) {
    const chunk = rows.slice(i, i + COUNT_CHUNK);
    let answer;
    try {
      answer = await cairn("storage", { experiment_ids: chunk.map((r) => r.e.experiment_id).join(",") });
    } catch (error) {
      for (const r of chunk) { fill(r.held, "—"); r.held.title = error.message || String(error); }
      continue;
    }
    if (!live()) return;
    for (const r of chunk) {
      const s = answer.experiments?.[r.e.experiment_id];
      if (!s) { fill(r.held, "—"); continue; }
      fill(r.held, `${humanSize(s.artifact_bytes)} · ${s.metric_points.toLocaleString("en")} points`);
      const deleted = s.deleted_runs ? `, ${s.deleted_runs} of them deleted (until cairn gc)` : "";
      r.held.title = `${s.artifact_files.toLocaleString("en")} artifact files (${humanSize(s.model_artifact_bytes)} `
        + `in ${s.logged_models} logged models); ${s.runs} runs${deleted}`;
    }
  }
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** Bytes in binary units, one decimal, as `cairn storage` prints them: "12.4 MiB". */
export function humanSize(bytes) {
  let value = Number(bytes) || 0, unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) { value /= 1024; unit += 1; }
  return unit ? `${value.toFixed(1)} ${UNITS[unit]}` : `${value} B`;
}

// Experiments: the list with run counts and last activity; create, rename, delete.
import { errorBox, post, searchAll } from "./api.js";
import { fill, formatTime, h } from "./dom.js";
import { href } from "./router.js";

export async function experimentsPage(main, _params, _query, live) {
  const status = h("div", { class: "status" });
  const body = h("tbody", {});
  const name = h("input", { id: "new-experiment", placeholder: "New experiment name" });
  const create = h("form", { class: "toolbar", onsubmit: async (e) => {
    e.preventDefault();
    try {
      await post("experiments/create", { name: name.value });
      name.value = "";
      await load();
    } catch (error) { fill(status, errorBox(error)); }
  } }, name, h("button", { type: "submit" }, "Create"));
  main.append(h("h1", {}, "Experiments"), create, status,
    h("table", { class: "grid", id: "experiments" },
      h("thead", {}, h("tr", {}, ["Name", "ID", "Runs", "Last activity", "Created", ""].map((x) => h("th", {}, x)))),
      body));

  async function load() {
    const experiments = [];
    await searchAll("experiments/search", { max_results: 1000, order_by: ["last_update_time DESC"] },
      "experiments", (page) => experiments.push(...page), live);
    if (!live()) return;
    fill(body, experiments.map((e) => row(e, status, load, live)));
    if (!experiments.length) fill(body, h("tr", {}, h("td", { colspan: 6 }, "No experiments yet.")));
  }
  try { await load(); } catch (error) { fill(status, errorBox(error)); }
}

function row(e, status, reload, live) {
  const runs = h("td", { class: "num" }, "…");
  const last = h("td", {}, formatTime(e.last_update_time));
  countRuns(e.experiment_id, runs, last, live).catch(() => fill(runs, "?"));
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
  return h("tr", {},
    h("td", {}, h("a", { href: href("experiments", e.experiment_id) }, e.name)),
    h("td", {}, e.experiment_id), runs, last, h("td", {}, formatTime(e.creation_time)),
    h("td", { class: "actions" },
      h("button", { onclick: rename, title: "Rename" }, "Rename"),
      h("button", { onclick: remove, class: "danger", title: "Delete" }, "Delete")));
}

// No count endpoint in MLflow's API: page through run ids only (no data fields asked for),
// newest first, so the first page also gives the last activity.
async function countRuns(experimentId, cell, lastCell, live) {
  let count = 0, first = true;
  await searchAll("runs/search", {
    experiment_ids: [experimentId], max_results: 1000, order_by: ["attributes.start_time DESC"],
  }, "runs", (page) => {
    count += page.length;
    if (first && page.length) {
      const info = page[0].info;
      fill(lastCell, formatTime(Math.max(Number(info.end_time || 0), Number(info.start_time || 0))));
    }
    first = false;
    fill(cell, String(count));
  }, live);
  fill(cell, String(count));
}

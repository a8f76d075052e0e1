// A run's Overview tab: its description (editable), details, lineage, parameters and latest
// metrics behind one search box, and its tags. Nothing here asks for a metric's history.
import { artifactUrl, errorBox, get, post } from "./api.js";
import { emptyState, fill, formatDuration, formatValue, h, pairs, relativeTime, section, statusBadge } from "./dom.js";
import { href } from "./router.js";
import { isSystem } from "./runmetrics.js";

const NOTE = "mlflow.note.content";  // MLflow's tag for a run's description
const DIFF_ARTIFACT = "source/uncommitted.diff";

export function overviewPanel(run, live) {
  return [
    descriptionCard(run),
    h("div", { class: "overview-grid" },
      section("Details", details(run, live)),
      section("Parameters and metrics", ...searchableTables(run))),
    tagsSection(run),
  ];
}

/** The description, as text (no markdown rendering: a run's notes never become HTML). */
function descriptionCard(run) {
  const id = run.info.run_id;
  let text = pairs(run.data?.tags)[NOTE] || "";
  const card = h("section", { class: "card description", id: "description" });
  const heading = (...actions) => h("div", { class: "card-head" }, h("h2", {}, "Description"), ...actions);
  const view = () => fill(card, text
    ? [heading(h("button", { type: "button", id: "description-edit", onclick: edit }, "Edit")),
      h("div", { class: "description-text" }, text)]
    : [heading(), h("p", { class: "status" }, "No description yet. ",
      h("button", { type: "button", class: "link-button", id: "description-edit", onclick: edit }, "Add a description"),
      " — what this run tried and what it found.")]);
  function edit() {
    const area = h("textarea", { id: "description-input", rows: 6, value: text, "aria-label": "Description",
      placeholder: "What this run tried, and what it found.",
      onkeydown: (e) => {
        if (e.key === "Escape") view();
        if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) save();
      } });
    const status = h("div", {});
    const save = async () => {
      const value = area.value.trim();
      try {
        if (value) await post("runs/set-tag", { run_id: id, key: NOTE, value });
        else if (text) await post("runs/delete-tag", { run_id: id, key: NOTE });
        text = value;
        view();
      } catch (error) { fill(status, errorBox(error)); }
    };
    fill(card, heading(), area, h("div", { class: "toolbar" },
      h("button", { type: "button", class: "primary", id: "description-save", onclick: save }, "Save"),
      h("button", { type: "button", onclick: view }, "Cancel"),
      h("span", { class: "status" }, "Shown as plain text. Ctrl+Enter saves.")), status);
    area.focus();
  }
  view();
  return card;
}

function details(run, live) {
  const info = run.info;
  const tags = pairs(run.data?.tags);
  const commit = tags["mlflow.source.git.commit"];
  const parent = tags["mlflow.parentRunId"];
  return kvTable([
    ["Run ID", h("code", {}, info.run_id)],
    ["Status", statusBadge(info.status)],
    ["Started", relativeTime(info.start_time)],
    ["Ended", info.end_time ? relativeTime(info.end_time) : "—"],
    ["Duration", formatDuration(info.start_time, info.end_time)],
    ["User", info.user_id || tags["mlflow.user"] || "—"],
    ["Source", tags["mlflow.source.name"] ? `${tags["mlflow.source.name"]}${commit ? ` @ ${commit.slice(0, 12)}` : ""}` : "—"],
    ["Git commit", commit ? h("code", { id: "git-commit", title: commit }, commit) : "none"],
    ["Uncommitted changes", diffLink(info)],
    ["Parent", parent ? parentLink(parent, live) : "none"],
    ["Children", children(info, live)],
    ["Artifact URI", h("code", {}, info.artifact_uri || "")],
  ], "overview");
}

function kvTable(items, id) {
  return h("table", { class: "kv", id }, h("tbody", {}, items.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v)))));
}

/** The diff of the working tree, when cairn's source capture stored one. */
function diffLink(info) {
  const cell = h("span", { id: "source-diff" }, "…");
  get("artifacts/list", { run_id: info.run_id, path: "source" })
    .then((answer) => (answer.files || []).some((f) => f.path === DIFF_ARTIFACT && !f.is_dir))
    .then((found) => fill(cell, found
      ? h("a", { href: artifactUrl(info.run_id, DIFF_ARTIFACT), id: "diff-link", target: "_blank", rel: "noopener" }, DIFF_ARTIFACT)
      : "none"))
    .catch(() => fill(cell, "none"));
  return cell;
}

function parentLink(parentId, live) {
  const link = h("a", { href: href("runs", parentId), id: "parent-run" }, parentId);
  get("runs/get", { run_id: parentId }).then(({ run }) => {
    if (live()) fill(link, run.info.run_name || parentId, " ", statusBadge(run.info.status));
  }).catch(() => {});
  return link;
}

const CHILDREN_SHOWN = 100;

function children(info, live) {
  const list = h("span", { id: "children" }, "…");
  post("runs/search", { experiment_ids: [info.experiment_id], max_results: CHILDREN_SHOWN,
    filter: `tags.\`mlflow.parentRunId\` = '${info.run_id}'`, order_by: ["attributes.start_time DESC"] })
    .then((answer) => {
      if (!live()) return;
      const runs = answer.runs || [];
      fill(list, runs.length ? runs.map((c) => h("span", { class: "child-run", dataset: { runId: c.info.run_id } },
        h("a", { href: href("runs", c.info.run_id) }, c.info.run_name || c.info.run_id), statusBadge(c.info.status)))
        : "none", answer.next_page_token ? ` (the latest ${CHILDREN_SHOWN} shown)` : null);
    })
    .catch((e) => fill(list, errorBox(e)));
  return list;
}

/** Parameters and latest metrics (system metrics have their own tab), both filtered by one
 * box on key or value, case-insensitive. */
function searchableTables(run) {
  const id = run.info.run_id;
  if (!(run.data?.params || []).length && !(run.data?.metrics || []).some((m) => !isSystem(m.key))) {
    return [emptyState("No parameters or metrics logged yet. Log them from the training script:",
      'cairn.log_param("lr", 0.01)\ncairn.log_metric("loss", 0.42, step=1)')];
  }
  const params = [...(run.data?.params || [])].sort((a, b) => a.key.localeCompare(b.key));
  const metrics = (run.data?.metrics || []).filter((m) => !isSystem(m.key)).sort((a, b) => a.key.localeCompare(b.key));
  const paramRows = params.map((p) => searchRow(p.key, p.value, h("th", {}, p.key), h("td", { class: "value" }, p.value)));
  const metricRows = metrics.map((m) => searchRow(m.key, formatValue(m.value),
    h("th", {}, h("a", { href: href("charts", { runs: id, key: m.key }), title: "Chart of this metric" }, m.key)),
    h("td", { class: "num" }, formatValue(m.value)), h("td", { class: "num step" }, String(m.step ?? ""))));
  const counts = h("span", { class: "status", id: "run-search-count" });
  const paramTable = filteredTable("params", ["Parameter", "Value"], paramRows, "No parameters logged.");
  const metricTable = filteredTable("overview-metrics", ["Metric", "Latest", "Step"], metricRows, "No metrics logged.");
  const box = h("input", { type: "search", id: "run-search", placeholder: "Search parameters and metrics",
    "aria-label": "Search parameters and metrics", oninput: () => {
      const words = box.value.trim().toLowerCase();
      const shown = [paramTable, metricTable].map((t) => t.filter(words));
      fill(counts, words ? `${shown[0]} of ${params.length} parameters, ${shown[1]} of ${metrics.length} metrics` : "");
    } });
  return [h("div", { class: "toolbar" }, box, counts), h("h3", {}, "Parameters"), paramTable.element,
    h("h3", {}, "Metrics"), metricTable.element];
}

function searchRow(key, value, ...cells) {
  return h("tr", { dataset: { search: `${key}\u0000${value}`.toLowerCase() } }, cells);
}

/** A table whose rows hide unless their key or value holds the words; an empty table says so. */
function filteredTable(id, headers, rows, emptyText) {
  const none = h("p", { class: "status no-match", hidden: true });
  const element = rows.length
    ? h("div", {}, h("table", { class: "grid kv-grid", id }, h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
      h("tbody", {}, rows)), none)
    : h("p", { class: "status", id }, emptyText);
  const filter = (words) => {
    let shown = 0;
    for (const row of rows) {
      row.hidden = Boolean(words) && !row.dataset.search.includes(words);
      if (!row.hidden) shown++;
    }
    none.hidden = !rows.length || shown > 0;
    fill(none, `Nothing matches “${words}”.`);
    return shown;
  };
  return { element, filter };
}

function tagsSection(run) {
  const id = run.info.run_id;
  const status = h("div", {});
  const body = h("tbody", {});
  let tags = (run.data?.tags || []).filter((t) => !t.key.startsWith("mlflow."));
  const render = () => fill(body, tags.length ? tags.map((t) => h("tr", {}, h("th", {}, t.key), h("td", { class: "value" }, t.value),
    h("td", { class: "actions" }, h("button", { class: "danger", onclick: () => change(async () => {
      await post("runs/delete-tag", { run_id: id, key: t.key });
      tags = tags.filter((x) => x.key !== t.key);
    }) }, "Delete")))) : h("tr", {}, h("td", { class: "status", colspan: 3 }, "No tags yet: add one below.")));
  const change = async (fn) => {
    try { fill(status); await fn(); render(); } catch (e) { fill(status, errorBox(e)); }
  };
  const key = h("input", { placeholder: "key", id: "tag-key", required: true });
  const value = h("input", { placeholder: "value", id: "tag-value" });
  const form = h("form", { class: "toolbar", onsubmit: (e) => { e.preventDefault(); change(async () => {
    await post("runs/set-tag", { run_id: id, key: key.value, value: value.value });
    tags = [...tags.filter((t) => t.key !== key.value), { key: key.value, value: value.value }];
    key.value = ""; value.value = "";
  }); } }, key, value, h("button", { type: "submit" }, "Set tag"));
  render();
  return section("Tags", h("table", { class: "kv", id: "tags" }, body), form, status);
}

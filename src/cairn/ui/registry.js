// Model registry: the registered models, and one model's description, tags, versions (stage
// and aliases) and history. Changes are offered only to users who may make them.
import { cairn, errorBox, get, post } from "./api.js";
import { breadcrumbs, emptyState, fill, h, relativeTime, section, table } from "./dom.js";
import { href, setQuery } from "./router.js";
import { findRuns } from "./runlookup.js";
import { aliasBadge, aliasControl, descriptionEditor, historyTable, stageBadge, stageControl, tagEditor } from "./registryparts.js";

export { modelVersionPage } from "./modelversion.js";

const PAGE = 1000;
const REGISTER_EXAMPLE = 'cairn.sklearn.log_model(model, name="model", registered_model_name="my-model")';

export async function modelsPage(main, _params, query, live) {
  main.append(breadcrumbs(["Models"]), h("h1", {}, "Registered models"));
  let models;
  try { models = await allModels(); } catch (e) { return main.append(errorBox(e)); }
  if (!live()) return;
  if (!models.length) {
    return main.append(emptyState("No registered models yet. Register a model as you log it, for example:", REGISTER_EXAMPLE));
  }
  const body = h("tbody", {});
  const count = h("span", { class: "status", id: "model-count" });
  const filter = h("input", { type: "search", id: "model-filter", placeholder: "Filter by name", "aria-label": "Filter models by name",
    value: query.get("q") || "", oninput: () => { setQuery({ q: filter.value.trim() }); draw(); } });
  const draw = () => {
    const words = filter.value.trim().toLowerCase();
    const shown = models.filter((m) => m.name.toLowerCase().includes(words));
    fill(body, shown.length ? shown.map(modelRow) : h("tr", {}, h("td", { colspan: 5, class: "status" }, "No model matches this filter.")));
    count.textContent = words ? `${shown.length} of ${models.length} models` : `${models.length} model${models.length === 1 ? "" : "s"}`;
  };
  draw();
  main.append(h("div", { class: "toolbar" }, filter, count), h("table", { class: "grid", id: "models" },
    h("thead", {}, h("tr", {}, ["Model", "Latest versions", "Aliases", "Description", "Updated"].map((x) => h("th", {}, x)))), body));
}

async function allModels() {
  const models = [];
  let token;
  do {
    const page = await get("registered-models/search", { max_results: PAGE, page_token: token });
    models.push(...(page.registered_models || []));
    token = page.next_page_token;
  } while (token);
  return models;
}

const firstLine = (text) => (text || "").split("\n").find((line) => line.trim()) || "";
const versionHref = (name, version) => href("models", name, "versions", String(version));

function modelRow(m) {
  const latest = [...(m.latest_versions || [])].sort((a, b) => Number(b.version) - Number(a.version));
  return h("tr", { dataset: { model: m.name } },
    h("td", {}, h("a", { href: href("models", m.name) }, m.name)),
    h("td", {}, latest.map((v) => h("a", { class: "badge", href: versionHref(m.name, v.version) }, `v${v.version} ${v.current_stage}`))),
    h("td", {}, (m.aliases || []).map((a) => h("a", { class: "badge", href: versionHref(m.name, a.version) }, `@${a.alias} → v${a.version}`))),
    h("td", { class: "description", title: m.description || null }, firstLine(m.description)),
    h("td", {}, relativeTime(m.last_updated_timestamp)));
}

// -- one model ------------------------------------------------------------------------------

export async function modelPage(main, { name }, _query, live) {
  const status = h("div", { id: "registry-status" });
  const content = h("div", {}, h("p", { class: "status" }, "Loading…"));
  main.append(breadcrumbs(["Models", href("models")], [name]), h("h1", {}, "Model ", h("span", { id: "model-name" }, name)), status, content);
  // Asked once: the server still checks every change, this only spares a reader the refusal.
  let model, canUpdate;
  try {
    [{ registered_model: model }, { can_update: canUpdate }] = await Promise.all([
      get("registered-models/get", { name }), cairn("registered-models/permission", { name })]);
  } catch (e) { return fill(content, errorBox(e)); }
  if (!live()) return;
  const versionsCard = h("div", {}, h("p", { class: "status" }, "Loading…"));
  const history = h("div", { id: "history" });
  fill(content, h("div", { class: "registry-about" },
    section("Description", descriptionEditor("model-description", model.description, canUpdate
      ? (description) => post("registered-models/update", { name, description }, "PATCH") : null),
    h("p", { class: "status registry-times" }, "Registered ", relativeTime(model.creation_timestamp),
      model.user_id ? ` by ${model.user_id}` : "", " · updated ", relativeTime(model.last_updated_timestamp))),
    section("Tags", tagEditor("model-tags", model.tags, canUpdate ? {
      set: (key, value) => post("registered-models/set-tag", { name, key, value }),
      remove: (key) => post("registered-models/delete-tag", { name, key }, "DELETE") } : null))),
  section("Versions", versionsCard), section("History", history));
  const act = (fn) => async () => {
    try { fill(status); await fn(); await load(); } catch (e) { fill(status, errorBox(e)); }
  };
  async function load() {
    const { model_versions: versions = [] } = await get("model-versions/search", { filter: `name = '${name.replace(/'/g, "''")}'`, max_results: PAGE });
    if (!live()) return;
    versions.sort((a, b) => Number(b.version) - Number(a.version));
    const actions = canUpdate ? act : null;
    const names = runNames(versions.map((v) => v.run_id).filter(Boolean));
    const headers = ["Version", "Stage", "Aliases", "Run", "Created", ...(actions ? ["Transition", "Alias"] : [])];
    fill(versionsCard, actions ? null : h("p", { class: "status", id: "read-only" }, "You may read this model, not change it."),
      versions.length ? table(headers, versions.map((v) => versionRow(name, v, actions, names)), { class: "grid", id: "versions" })
        : emptyState("This model has no versions yet. Register one:", `cairn.register_model("runs:/<run_id>/model", ${JSON.stringify(name)})`));
    const events = await Promise.all(versions.map((v) => get("model-versions/history", { name, version: v.version })
      .then((r) => r.events || []).catch(() => [])));
    if (!live()) return;
    fill(history, historyTable(events.flat(), true, "model-history"));
  }
  try { await load(); } catch (e) { fill(versionsCard, errorBox(e)); }
}

/** Run id → run name, for the runs that made these versions (a promise; missing ones absent). */
async function runNames(ids) {
  return Object.fromEntries((await findRuns(ids)).map((r) => [r.info.run_id, r.info.run_name || r.info.run_id]));
}

/** A version's row; with `act` (the user may change the model) its transition and alias controls. */
function versionRow(name, v, act, names) {
  const run = v.run_id ? h("a", { class: "run-link", href: href("runs", v.run_id), title: v.source || v.run_id }, `run ${v.run_id.slice(0, 12)}`) : null;
  if (run) names.then((found) => { if (found[v.run_id]) run.textContent = found[v.run_id]; }).catch(() => {});
  const row = h("tr", { dataset: { version: v.version } },
    h("td", {}, h("a", { class: "version-link", href: versionHref(name, v.version) }, `v${v.version}`)),
    h("td", { class: "stage" }, stageBadge(v.current_stage)),
    h("td", { class: "aliases" }, (v.aliases || []).map((a) => aliasBadge(a,
      act && act(() => post("registered-models/alias", { name, alias: a }, "DELETE"))))),
    h("td", { class: "lineage" }, run || v.source || ""),
    h("td", {}, relativeTime(v.creation_timestamp)));
  if (!act) return row;
  row.append(
    h("td", {}, stageControl(v.current_stage, (stage) => act(() => post("model-versions/transition-stage",
      { name, version: v.version, stage, archive_existing_versions: false }))())),
    h("td", {}, aliasControl((alias) => act(() => post("registered-models/alias", { name, alias, version: v.version }))())));
  return row;
}

// Model registry: models, versions with stage and aliases, transition history, actions
// (offered only to users who may change the model).
import { cairn, errorBox, get, post } from "./api.js";
import { fill, formatTime, h, section, table } from "./dom.js";
import { href } from "./router.js";

const STAGES = ["None", "Staging", "Production", "Archived"];

export async function modelsPage(main, _params, _query, live) {
  const { registered_models: models = [] } = await get("registered-models/search", { max_results: 1000 });
  if (!live()) return;
  main.append(h("h1", {}, "Registered models"), models.length
    ? table(["Model", "Latest versions", "Aliases", "Updated"], models.map((m) => h("tr", {},
      h("td", {}, h("a", { href: href("models", m.name) }, m.name)),
      h("td", {}, (m.latest_versions || []).map((v) => h("span", { class: "badge" }, `v${v.version} ${v.current_stage}`))),
      h("td", {}, (m.aliases || []).map((a) => h("span", { class: "badge" }, `@${a.alias} → v${a.version}`))),
      h("td", {}, formatTime(m.last_updated_timestamp)))), { class: "grid", id: "models" })
    : h("p", {}, "No registered models."));
}

export async function modelPage(main, { name }, _query, live) {
  const status = h("div", { id: "registry-status" });
  const versionsCard = h("div", {});
  const history = h("div", { id: "history" });
  main.append(h("h1", {}, "Model ", h("span", { id: "model-name" }, name)), status,
    section("Versions", versionsCard), section("History", history));
  const act = (fn) => async () => {
    try { fill(status); await fn(); await load(); } catch (e) { fill(status, errorBox(e)); }
  };
  // Asked once: the server still checks every change, this only spares a reader the refusal.
  const permission = cairn("registered-models/permission", { name });
  async function load() {
    const [{ model_versions: versions = [] }, { can_update: canUpdate }] = await Promise.all([
      get("model-versions/search", { filter: `name = '${name.replace(/'/g, "''")}'`, max_results: 1000 }),
      permission]);
    if (!live()) return;
    versions.sort((a, b) => Number(b.version) - Number(a.version));
    const actions = canUpdate ? act : null;
    const headers = ["Version", "Stage", "Aliases", "Run", "Created", ...(actions ? ["Transition", "Alias"] : [])];
    fill(versionsCard, actions ? null : h("p", { class: "status", id: "read-only" }, "You may read this model, not change it."),
      table(headers, versions.map((v) => versionRow(name, v, actions)), { class: "grid", id: "versions" }));
    const events = await Promise.all(versions.map((v) => get("model-versions/history", { name, version: v.version })
      .then((r) => r.events || []).catch(() => [])));
    if (!live()) return;
    const all = events.flat().sort((a, b) => Number(a.timestamp) - Number(b.timestamp));
    fill(history, all.length ? table(["When", "Version", "Event", "From", "To", "User"], all.map((e) => h("tr", {},
      h("td", {}, formatTime(e.timestamp)), h("td", {}, `v${e.version}`), h("td", {}, e.kind + (e.alias ? ` @${e.alias}` : "")),
      h("td", {}, e.from_value || ""), h("td", {}, e.to_value || ""), h("td", {}, e.user_id || ""))), { class: "grid" })
      : h("p", { class: "status" }, "No events."));
  }
  try { await load(); } catch (e) { fill(status, errorBox(e)); }
}

/** A version's row; with `act` (the user may change the model) its transition and alias controls. */
function versionRow(name, v, act) {
  const row = h("tr", { dataset: { version: v.version } },
    h("td", {}, `v${v.version}`),
    h("td", { class: "stage" }, v.current_stage),
    h("td", { class: "aliases" }, (v.aliases || []).map((a) => h("span", { class: "badge alias", dataset: { alias: a } }, `@${a}`,
      act && h("button", { class: "delete-alias link", title: `Delete alias ${a}`, "aria-label": `Delete alias ${a}`,
        onclick: act(() => post("registered-models/alias", { name, alias: a }, "DELETE")) }, "×")))),
    h("td", { class: "lineage" }, v.run_id
      ? h("a", { class: "run-link", href: href("runs", v.run_id), title: v.source || v.run_id }, `run ${v.run_id.slice(0, 12)}`)
      : v.source || ""),
    h("td", {}, formatTime(v.creation_timestamp)));
  if (!act) return row;
  const stage = h("select", { "aria-label": "Stage" }, STAGES.map((s) => h("option", { value: s, selected: s === v.current_stage }, s)));
  const alias = h("input", { placeholder: "alias", size: 10, "aria-label": "Alias" });
  row.append(
    h("td", {}, stage, h("button", { class: "transition", onclick: act(() => post("model-versions/transition-stage",
      { name, version: v.version, stage: stage.value, archive_existing_versions: false })) }, "Transition")),
    h("td", {}, alias, h("button", { class: "set-alias", onclick: act(() => post("registered-models/alias",
      { name, alias: alias.value, version: v.version })) }, "Set alias")));
  return row;
}

/** One version of a registered model: what it is and where it came from. */
export async function modelVersionPage(main, { name, version }, _query, live) {
  const { model_version: v } = await get("model-versions/get", { name, version });
  if (!live()) return;
  main.append(h("h1", {}, `${name} v${v.version}`), section("Version", table(["Field", "Value"], [
    ["Stage", v.current_stage], ["Aliases", (v.aliases || []).map((a) => `@${a}`).join(" ")],
    ["Source run", v.run_id ? h("a", { href: href("runs", v.run_id) }, v.run_id) : ""], ["Source", v.source || ""],
    ["Description", v.description || ""], ["Created", formatTime(v.creation_timestamp)],
  ].map(([k, x]) => h("tr", {}, h("th", {}, k), h("td", {}, x))), { class: "kv", id: "version" })));
}

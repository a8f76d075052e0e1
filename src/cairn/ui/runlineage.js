// A run's Models and Datasets tabs: what it produced (logged models, registered versions)
// and the datasets that went in and came out.
import { errorBox, get, post } from "./api.js";
import { emptyState, fill, h, pairs, relativeTime, section, table } from "./dom.js";
import { href } from "./router.js";

export function modelsPanel(run) {
  const body = h("div", { id: "models" }, h("p", { class: "status" }, "Loading models…"));
  Promise.all([loggedModels(run), registeredVersions(run.info.run_id)])
    .then(([logged, versions]) => fill(body,
      !logged.length && !versions.length ? emptyState("This run has no models. Log one and register it:",
        'cairn.sklearn.log_model(model, name="model", registered_model_name="classifier")') : null,
      versions.length ? section("Registered versions", versionsTable(versions)) : null,
      logged.length ? section("Logged models", loggedTable(logged)) : null))
    .catch((error) => fill(body, errorBox(error)));
  return body;
}

/** Models the run produced (run.outputs, each read by id), then those naming it as source. */
async function loggedModels(run) {
  const id = run.info.run_id;
  const outputs = run.outputs?.model_outputs || [];
  const [produced, sourced] = await Promise.all([
    Promise.all(outputs.map((o) => get(`logged-models/${encodeURIComponent(o.model_id)}`)
      .then((r) => ({ model: r.model, step: o.step }))
      .catch(() => ({ model: { info: { model_id: o.model_id } }, step: o.step })))),
    post("logged-models/search", { experiment_ids: [run.info.experiment_id], filter: `source_run_id = '${id}'` })
      .then((r) => r.models || []).catch(() => []),
  ]);
  const seen = new Set(produced.map((p) => p.model.info?.model_id));
  return [...produced, ...sourced.filter((m) => !seen.has(m.info?.model_id)).map((model) => ({ model, step: null }))];
}

async function registeredVersions(runId) {
  const answer = await get("model-versions/search", { filter: `run_id = '${runId}'`, max_results: 1000 });
  return (answer.model_versions || []).sort((a, b) => a.name.localeCompare(b.name) || Number(b.version) - Number(a.version));
}

function versionsTable(versions) {
  return table(["Version", "Stage", "Aliases", "Status", "Created", "Source"], versions.map((v) =>
    h("tr", { dataset: { model: v.name, version: v.version } },
      h("td", {}, h("a", { class: "badge version-link", href: href("models", v.name, "versions", v.version) },
        `${v.name} v${v.version}`)),
      h("td", {}, v.current_stage || ""),
      h("td", {}, (v.aliases || []).map((a) => h("span", { class: "badge" }, `@${a}`))),
      h("td", {}, v.status || ""),
      h("td", {}, relativeTime(v.creation_timestamp)),
      h("td", {}, h("code", {}, v.source || "")))), { class: "grid", id: "registered-versions" });
}

function loggedTable(logged) {
  return table(["Name", "Model ID", "Status", "Type", "Step", "Created"], logged.map(({ model, step }) => {
    const info = model.info || {};
    return h("tr", { dataset: { modelId: info.model_id || "" } }, h("td", {}, info.name || ""),
      h("td", {}, h("code", {}, info.model_id || "")), h("td", {}, info.status || ""), h("td", {}, info.model_type || ""),
      h("td", {}, step === null ? "" : String(step ?? 0)), h("td", {}, relativeTime(info.creation_timestamp_ms)));
  }), { class: "grid", id: "logged-models" });
}

export function datasetsPanel(run) {
  const rows = [...datasetRows(run.inputs?.dataset_inputs || [], "input"),
    ...datasetRows(run.outputs?.dataset_outputs || [], "output")];
  if (!rows.length) {
    return h("div", { id: "datasets" }, emptyState("No datasets recorded for this run. Log the data it trained on:",
      'cairn.log_input(cairn.data.from_pandas(df, name="train"), context="training")'));
  }
  return table(["Role", "Dataset", "Digest", "Source type", "Context", "Tags"], rows, { class: "grid", id: "datasets" });
}

function datasetRows(list, role) {
  return list.map((i) => {
    const tags = pairs(i.tags);
    return h("tr", { dataset: { role } },
      h("td", {}, role), h("td", {}, i.dataset?.name || ""), h("td", {}, h("code", {}, i.dataset?.digest || "")),
      h("td", {}, i.dataset?.source_type || ""), h("td", { class: "context" }, tags["mlflow.data.context"] || ""),
      h("td", {}, Object.entries(tags).filter(([k]) => k !== "mlflow.data.context").map(([k, v]) =>
        h("span", { class: "badge" }, `${k}=${v}`))));
  });
}

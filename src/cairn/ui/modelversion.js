// One registered model version: what it is (stage, aliases, source), what it takes and
// gives (the signature and input example in its MLmodel file), what happened to it (the
// stage history) and where it came from (the run, its commit and datasets).
import { cairn, errorBox, experimentLabel, get, post } from "./api.js";
import { breadcrumbs, fill, formatValue, h, pairs, relativeTime, section, statusBadge, table } from "./dom.js";
import { href } from "./router.js";
import { describeColumn, modelFiles, readFile, signatureOf } from "./mlmodel.js";
import { aliasBadge, aliasControl, descriptionEditor, historyTable, stageBadge, stageControl, tagEditor } from "./registryparts.js";

const EXAMPLE_ROWS = 20;
const SIGNATURE_HINT = "No signature: log the model with signature=infer_signature(X, y) or an input_example to record its columns.";

export async function modelVersionPage(main, { name, version }, _query, live) {
  const status = h("div", { id: "registry-status" });
  const content = h("div", {}, h("p", { class: "status" }, "Loading…"));
  main.append(breadcrumbs(["Models", href("models")], [name, href("models", name)], [`v${version}`]), status, content);
  const act = (fn) => async () => {
    try { fill(status); await fn(); await render(); } catch (e) { fill(status, errorBox(e)); }
  };
  async function render() {
    let v, canUpdate;
    try {
      [{ model_version: v }, { can_update: canUpdate }] = await Promise.all([get("model-versions/get", { name, version }),
        cairn("registered-models/permission", { name })]);
    } catch (e) { return fill(content, errorBox(e)); }
    // A run that was deleted, or that this user may not read, still leaves the rest to show.
    const run = v.run_id ? await get("runs/get", { run_id: v.run_id }).then((r) => r.run, (error) => ({ error })) : null;
    if (!live()) return;
    fill(content, h("h1", {}, `${name} v${v.version} `, stageBadge(v.current_stage)),
      h("div", { class: "registry-about version-about" },
        section("Version", overview(v, run, canUpdate ? act : null)),
        section("Description", descriptionEditor("version-description", v.description, canUpdate
          ? (description) => post("model-versions/update", { name, version: v.version, description }, "PATCH") : null)),
        section("Tags", tagEditor("version-tags", v.tags, canUpdate ? {
          set: (key, value) => post("model-versions/set-tag", { name, version: v.version, key, value }),
          remove: (key) => post("model-versions/delete-tag", { name, version: v.version, key }, "DELETE") } : null))),
      section("Signature", signature(v)),
      section("Stage history", stageHistory(name, v.version)),
      section("Lineage", lineage(v, run)));
  }
  await render();
}

function overview(v, run, act) {
  const { name, version } = v;
  const rows = [
    ["Stage", [stageBadge(v.current_stage), act ? h("span", { class: "registry-control" }, stageControl(v.current_stage,
      (stage) => act(() => post("model-versions/transition-stage", { name, version, stage, archive_existing_versions: false }))())) : null]],
    ["Aliases", [(v.aliases || []).length ? null : h("span", { class: "status" }, "none "),
      (v.aliases || []).map((a) => aliasBadge(a, act && act(() => post("registered-models/alias", { name, alias: a }, "DELETE")))),
      act ? h("span", { class: "registry-control" }, aliasControl((alias) => act(() => post("registered-models/alias", { name, alias, version }))())) : null]],
    ["Source run", sourceRun(v, run)],
    ["Source", h("code", { id: "source-uri" }, v.source || "")],
    ["Status", [v.status || "", v.status_message ? ` (${v.status_message})` : ""]],
    ["Registered", [relativeTime(v.creation_timestamp), v.user_id ? ` by ${v.user_id}` : ""]],
    ["Last updated", relativeTime(v.last_updated_timestamp)],
  ];
  return h("table", { class: "kv", id: "version" }, h("tbody", {}, rows.map(([k, x]) => h("tr", {}, h("th", {}, k), h("td", {}, x)))));
}

/** The source run by name, its status, and its experiment (both linked). */
function sourceRun(v, run, id = "source-run") {
  if (!v.run_id) return h("span", { class: "status" }, "none recorded");
  if (!run || run.error) return h("span", { id }, h("code", {}, v.run_id), " ", h("span", { class: "status" }, `(${run?.error?.message || "not found"})`));
  const info = run.info;
  return h("span", { id }, h("a", { class: "run-link", href: href("runs", info.run_id) }, info.run_name || info.run_id), " ",
    statusBadge(info.status), " in ", h("a", { class: "experiment-link", href: href("experiments", info.experiment_id) }, experimentLabel(info.experiment_id)));
}

// -- the MLmodel file --------------------------------------------------------------------

function signature(v) {
  const box = h("div", { id: "signature" }, h("p", { class: "status" }, "Reading the model's MLmodel file…"));
  showSignature(box, v).catch((e) => fill(box, errorBox(e)));
  return box;
}

async function showSignature(box, v) {
  const files = await modelFiles(v.name, v);
  if (files.missing) return fill(box, h("p", { class: "status" }, files.missing));
  const mlmodel = files.mlmodel;
  const { inputs, outputs, params } = signatureOf(mlmodel);
  const example = mlmodel.saved_input_example_info?.artifact_path;
  const exampleBox = h("div", { id: "input-example" });
  fill(box,
    h("p", { class: "status" }, "Flavors: ", Object.keys(mlmodel.flavors || {}).map((f) => h("span", { class: "badge flavor" }, f)),
      " · ", h("a", { href: files.url("MLmodel"), download: "MLmodel" }, "MLmodel file")),
    inputs || outputs ? h("div", { class: "signature-columns" },
      columnsTable("Inputs", inputs, "signature-inputs"), columnsTable("Outputs", outputs, "signature-outputs")) : h("p", { class: "status" }, SIGNATURE_HINT),
    params ? paramsTable(params) : null,
    example ? [h("h3", {}, "Input example"), exampleBox] : null);
  if (example) await showExample(exampleBox, files, example);
}

function columnsTable(title, specs, id) {
  if (!specs) return h("div", {}, h("h3", {}, title), h("p", { class: "status" }, "Not recorded."));
  return h("div", {}, h("h3", {}, title), table(["Name", "Type", "Required"], specs.map((spec) => {
    const [name, type, required] = describeColumn(spec);
    return h("tr", {}, h("td", { class: "column-name" }, name), h("td", {}, h("code", {}, type)), h("td", {}, required ? "yes" : "no"));
  }), { class: "grid", id }));
}

function paramsTable(params) {
  return h("div", {}, h("h3", {}, "Inference parameters"), table(["Name", "Type", "Default"], params.map((p) =>
    h("tr", {}, h("td", {}, String(p.name ?? "")), h("td", {}, h("code", {}, String(p.type ?? ""))),
      h("td", {}, p.default === undefined ? "" : JSON.stringify(p.default)))), { class: "grid", id: "signature-params" }));
}

async function showExample(box, files, path) {
  const text = await readFile(files, path);
  if (text === null) return fill(box, h("p", { class: "status" }, `The input example ${path} is missing.`));
  let parsed;
  try { parsed = JSON.parse(text); } catch { return fill(box, h("pre", {}, text)); }
  const { columns, data } = parsed || {};  // a DataFrame, as pandas' "split" orient writes it
  if (Array.isArray(columns) && Array.isArray(data) && data.every(Array.isArray)) {
    const cell = (x) => h("td", {}, x !== null && typeof x === "object" ? JSON.stringify(x) : formatValue(x));
    return fill(box, table(columns.map(String), data.slice(0, EXAMPLE_ROWS).map((row) => h("tr", {}, row.map(cell))), { class: "grid" }),
      data.length > EXAMPLE_ROWS ? h("p", { class: "status" }, `First ${EXAMPLE_ROWS} of ${data.length} rows.`) : null);
  }
  fill(box, h("pre", {}, JSON.stringify(parsed, null, 2)));
}

// -- history and lineage -------------------------------------------------------------------

function stageHistory(name, version) {
  const box = h("div", {}, h("p", { class: "status" }, "Loading…"));
  get("model-versions/history", { name, version })
    .then((r) => fill(box, historyTable(r.events || [], false, "stage-history")))
    .catch((e) => fill(box, errorBox(e)));
  return box;
}

function lineage(v, run) {
  if (!run || run.error) return h("div", { id: "lineage" }, h("p", { class: "status" }, "No source run to trace this version to."));
  const tags = pairs(run.data?.tags);
  const commit = tags["mlflow.source.git.commit"];
  const datasets = run.inputs?.dataset_inputs || [];
  const runHref = (tab) => href("runs", run.info.run_id, { tab });
  return h("div", { id: "lineage" }, h("table", { class: "kv" }, h("tbody", {},
    h("tr", {}, h("th", {}, "Trained by"), h("td", {}, sourceRun(v, run, null))),
    h("tr", {}, h("th", {}, "Git commit"), h("td", {}, commit ? h("code", { id: "git-commit", title: commit }, commit) : "none recorded",
      tags["mlflow.source.git.branch"] ? ` on ${tags["mlflow.source.git.branch"]}` : "")),
    h("tr", {}, h("th", {}, "Source"), h("td", {}, tags["mlflow.source.name"] || "none recorded")),
    v.model_id ? h("tr", {}, h("th", {}, "Logged model"), h("td", {}, h("a", { href: runHref("models") }, v.model_id))) : null)),
  h("h3", {}, "Datasets"), datasets.length ? table(["Dataset", "Digest", "Source", "Context"], datasets.map((d) => h("tr", {},
    h("td", {}, h("a", { href: runHref("datasets") }, d.dataset?.name || "")), h("td", {}, h("code", {}, d.dataset?.digest || "")),
    h("td", {}, d.dataset?.source_type || ""), h("td", {}, pairs(d.tags)["mlflow.data.context"] || ""))), { class: "grid", id: "datasets" })
    : h("p", { class: "status" }, "The run logged no datasets."));
}

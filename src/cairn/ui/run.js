// One run: overview, params, metrics (latest/min/max), editable tags, datasets, artifacts, models.
import { artifactUrl, errorBox, get, post } from "./api.js";
import { artifactTree } from "./artifacts.js";
import { fill, formatDuration, formatTime, formatValue, h, pairs, section, table } from "./dom.js";
import { href } from "./router.js";

export async function runPage(main, { id }, _query, live) {
  const { run } = await get("runs/get", { run_id: id });
  if (!live()) return;
  const info = run.info;
  const tags = pairs(run.data?.tags);
  main.append(
    h("h1", {}, "Run ", h("span", { id: "run-name" }, info.run_name || info.run_id)),
    h("p", {}, h("a", { href: href("experiments", info.experiment_id) }, "← runs of the experiment"), " · ",
      h("a", { href: `${href("charts")}?runs=${encodeURIComponent(id)}` }, "Charts")),
    section("Overview", overview(info, tags)),
    section("Parameters", kvTable((run.data?.params || []).map((p) => [p.key, p.value]), "params")),
    metricsSection(run, live),
    tagsSection(run),
    datasetsSection(run),
    section("Artifacts", artifactTree(run)),
    modelsSection(run));
}

function kvTable(items, id) {
  if (!items.length) return h("p", { class: "status" }, "None.");
  return h("table", { class: "kv", id }, h("tbody", {}, items.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v)))));
}

function overview(info, tags) {
  const children = h("span", {}, "…");
  const parent = tags["mlflow.parentRunId"];
  post("runs/search", { experiment_ids: [info.experiment_id], max_results: 100,
    filter: `tags.\`mlflow.parentRunId\` = '${info.run_id}'` })
    .then((r) => fill(children, (r.runs || []).length ? (r.runs || []).map((c) =>
      h("a", { href: href("runs", c.info.run_id), class: "badge" }, c.info.run_name || c.info.run_id)) : "none"))
    .catch((e) => fill(children, errorBox(e)));
  const commit = tags["mlflow.source.git.commit"];
  const diff = h("span", { id: "source-diff" }, "…");
  findDiff(info).then((found) => fill(diff, found
    ? h("a", { href: artifactUrl(info.run_id, DIFF_ARTIFACT), id: "diff-link", target: "_blank", rel: "noopener" },
      DIFF_ARTIFACT)
    : "none")).catch(() => fill(diff, "none"));
  return kvTable([
    ["Run ID", info.run_id],
    ["Status", info.status],
    ["Started", formatTime(info.start_time)],
    ["Ended", formatTime(info.end_time)],
    ["Duration", formatDuration(info.start_time, info.end_time)],
    ["User", info.user_id || tags["mlflow.user"] || ""],
    ["Source", [tags["mlflow.source.name"] || "", commit ? ` @ ${commit.slice(0, 12)}` : ""].join("")],
    ["Git commit", commit ? h("code", { id: "git-commit", title: commit }, commit) : "none"],
    ["Uncommitted changes", diff],
    ["Parent", parent ? h("a", { href: href("runs", parent) }, parent) : "none"],
    ["Children", children],
    ["Artifact URI", info.artifact_uri || ""],
  ], "overview");
}

const DIFF_ARTIFACT = "source/uncommitted.diff";

/** Whether the run stored the diff of its working tree (cairn's source capture). */
async function findDiff(info) {
  const answer = await get("artifacts/list", { run_id: info.run_id, path: "source" });
  return (answer.files || []).some((f) => f.path === DIFF_ARTIFACT && !f.is_dir);
}

function metricsSection(run, live) {
  const metrics = run.data?.metrics || [];
  const rows = metrics.map((m) => {
    const low = h("td", {}, "…"), high = h("td", {}, "…");
    get("metrics/get-history", { run_id: run.info.run_id, metric_key: m.key }).then((r) => {
      if (!live()) return;
      const values = (r.metrics || []).map((x) => Number(x.value)).filter((x) => !isNaN(x));
      fill(low, formatValue(Math.min(...values))); fill(high, formatValue(Math.max(...values)));
    }).catch(() => { fill(low, "?"); fill(high, "?"); });
    return h("tr", {}, h("th", {}, m.key), h("td", {}, formatValue(m.value)), low, high,
      h("td", {}, String(m.step ?? "")));
  });
  return section("Metrics", metrics.length
    ? table(["Metric", "Latest", "Min", "Max", "Step"], rows, { id: "metrics" })
    : h("p", { class: "status" }, "None."));
}

function tagsSection(run) {
  const id = run.info.run_id;
  const status = h("div", {});
  const body = h("tbody", {});
  let tags = (run.data?.tags || []).filter((t) => !t.key.startsWith("mlflow."));
  const render = () => fill(body, tags.map((t) => h("tr", {}, h("th", {}, t.key), h("td", {}, t.value),
    h("td", {}, h("button", { class: "danger", onclick: () => change(async () => {
      await post("runs/delete-tag", { run_id: id, key: t.key });
      tags = tags.filter((x) => x.key !== t.key);
    }) }, "Delete")))));
  const change = async (fn) => {
    try { fill(status); await fn(); render(); } catch (e) { fill(status, errorBox(e)); }
  };
  const key = h("input", { placeholder: "key", id: "tag-key" });
  const value = h("input", { placeholder: "value", id: "tag-value" });
  const form = h("form", { class: "toolbar", onsubmit: (e) => { e.preventDefault(); change(async () => {
    await post("runs/set-tag", { run_id: id, key: key.value, value: value.value });
    tags = [...tags.filter((t) => t.key !== key.value), { key: key.value, value: value.value }];
  }); } }, key, value, h("button", { type: "submit" }, "Set tag"));
  render();
  return section("Tags", h("table", { class: "kv", id: "tags" }, body), form, status);
}

function datasetRows(list, role) {
  return list.map((i) => {
    const tags = pairs(i.tags);
    return h("tr", { dataset: { role } },
      h("td", {}, role), h("td", {}, i.dataset?.name || ""), h("td", {}, i.dataset?.digest || ""),
      h("td", {}, i.dataset?.source_type || ""), h("td", { class: "context" }, tags["mlflow.data.context"] || ""),
      h("td", {}, Object.entries(tags).filter(([k]) => k !== "mlflow.data.context").map(([k, v]) =>
        h("span", { class: "badge" }, `${k}=${v}`))));
  });
}

function datasetsSection(run) {
  const inputs = run.inputs?.dataset_inputs || [];
  const outputs = run.outputs?.dataset_outputs || [];
  const rows = [...datasetRows(inputs, "input"), ...datasetRows(outputs, "output")];
  return section("Datasets",
    rows.length ? table(["Role", "Dataset", "Digest", "Source type", "Context", "Tags"], rows, { id: "datasets" })
      : h("p", { class: "status", id: "datasets" }, "No datasets."));
}

function modelsSection(run) {
  const body = h("div", { id: "models" }, "…");
  const id = run.info.run_id;
  const outputs = run.outputs?.model_outputs || [];
  Promise.all([
    // Models the run produced (run.outputs), each read by id; then those naming it as source.
    Promise.all(outputs.map((o) => get(`logged-models/${encodeURIComponent(o.model_id)}`)
      .then((r) => ({ model: r.model, step: o.step })).catch(() => ({ model: { info: { model_id: o.model_id } }, step: o.step })))),
    post("logged-models/search", { experiment_ids: [run.info.experiment_id], filter: `source_run_id = '${id}'` })
      .then((r) => r.models || []).catch(() => []),
    get("model-versions/search", { filter: `run_id = '${id}'` }).then((r) => r.model_versions || []).catch(() => []),
  ]).then(([produced, sourced, versions]) => {
    const seen = new Set(produced.map((p) => p.model.info?.model_id));
    const logged = [...produced, ...sourced.filter((m) => !seen.has(m.info?.model_id)).map((model) => ({ model, step: null }))];
    fill(body,
      logged.length ? table(["Logged model", "Model ID", "Status", "Type", "Step"], logged.map(({ model, step }) => {
        const info = model.info || {};
        return h("tr", { dataset: { modelId: info.model_id || "" } }, h("td", {}, info.name || ""), h("td", {}, info.model_id || ""),
          h("td", {}, info.status || ""), h("td", {}, info.model_type || ""), h("td", {}, step === null ? "" : String(step ?? 0)));
      }), { id: "logged-models" }) : "",
      versions.length ? h("p", {}, "Registered: ", versions.map((v) =>
        h("a", { class: "badge", href: href("models", v.name) }, `${v.name} v${v.version}`))) : "",
      !logged.length && !versions.length ? h("p", { class: "status" }, "No models.") : "");
  });
  return section("Models", body);
}

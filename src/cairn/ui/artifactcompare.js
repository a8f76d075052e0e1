// Two runs' artifacts side by side: a file both runs have, as two images or as a line diff
// of two texts (JSON pretty-printed first, so a diff shows changed values, not one long line).
import { artifactUrl, errorBox, get } from "./api.js";
import { fill, h } from "./dom.js";
import { diffLines, linesOf } from "./linediff.js";

const IMAGE = /\.(png|jpe?g|gif|webp|bmp|svg)$/i;
const TEXT = /(\.(txt|log|json|jsonl|ya?ml|md|py|cfg|ini|toml|diff|patch|csv|tsv|sh|sql|xml|html?)$|(^|\/)MLmodel$)/i;
const MAX_TEXT = 512 * 1024;   // per file: larger texts are offered as downloads only
const MAX_FILES = 2000, MAX_FOLDERS = 200;  // per run's listing
const CONTEXT = 3;             // unchanged lines kept around each change; longer stretches fold

const nameOf = (run) => run.info.run_name || run.info.run_id;

export function artifactComparison(runs) {
  const listings = new Map();  // run id → Promise of Map(path → size)
  const listing = (id) => { if (!listings.has(id)) listings.set(id, listAll(id)); return listings.get(id); };
  const runSelect = (id, index) => h("select", { id, "aria-label": id === "artifact-left" ? "Left run" : "Right run", onchange: () => choose() },
    runs.map((r, i) => h("option", { value: r.info.run_id, selected: i === index }, nameOf(r))));
  const left = runSelect("artifact-left", 0), right = runSelect("artifact-right", 1);
  const paths = h("select", { id: "artifact-path", "aria-label": "File", onchange: () => show() });
  const pathLabel = h("label", {}, "File ", paths);
  const summary = h("div", { class: "status", id: "artifact-summary" }, "Listing artifacts…");
  const view = h("div", { id: "artifact-view" });
  const runOf = (select) => runs.find((r) => r.info.run_id === select.value);
  let turn = 0;

  async function choose() {
    const mine = ++turn, before = paths.value;
    fill(view);
    fill(summary, "Listing artifacts…");
    try {
      const [a, b] = await Promise.all([listing(left.value), listing(right.value)]);
      if (mine !== turn) return;
      const common = [...a.keys()].filter((p) => b.has(p)).sort();
      const only = [...a.keys()].filter((p) => !b.has(p)).length + [...b.keys()].filter((p) => !a.has(p)).length;
      fill(paths, common.map((p) => h("option", { value: p }, p)));
      paths.value = common.includes(before) ? before : common.find((p) => TEXT.test(p) || IMAGE.test(p)) || common[0] || "";
      pathLabel.hidden = !common.length;
      fill(summary, common.length ? `${common.length} files in both runs` + (only ? `, ${only} in only one.` : ".")
        : "These two runs have no artifact file in common.");
      if (common.length) show();
    } catch (e) { if (mine === turn) fill(summary, errorBox(e)); }
  }

  async function show() {
    const mine = ++turn, path = paths.value, one = runOf(left), other = runOf(right);
    if (!path) return;
    const [a, b] = await Promise.all([listing(one.info.run_id), listing(other.info.run_id)]);
    fill(view, h("p", { class: "status" }, "Loading…"));
    try {
      const shown = await compareFile(one, other, path, a.get(path), b.get(path));
      if (mine === turn) fill(view, shown);
    } catch (e) { if (mine === turn) fill(view, errorBox(e)); }
  }

  queueMicrotask(choose);
  return h("div", { class: "artifact-compare" }, h("div", { class: "toolbar" },
    h("label", {}, "Left ", left), h("label", {}, "Right ", right), pathLabel), summary, view);
}

/** Every file of a run's artifacts (path → size), folder by folder, up to a bound. */
async function listAll(runId) {
  const files = new Map();
  let folders = [""], listed = 0;
  while (folders.length && listed < MAX_FOLDERS && files.size < MAX_FILES) {
    const batch = folders.splice(0, MAX_FOLDERS - listed);
    listed += batch.length;
    const answers = await Promise.all(batch.map((path) => get("artifacts/list", { run_id: runId, path })));
    for (const entry of answers.flatMap((answer) => answer.files || [])) {
      if (entry.is_dir) folders.push(entry.path);
      else files.set(entry.path, Number(entry.file_size || 0));
    }
  }
  return files;
}

async function compareFile(one, other, path, sizeA, sizeB) {
  const urls = [artifactUrl(one.info.run_id, path), artifactUrl(other.info.run_id, path)];
  const downloads = h("p", { class: "downloads" }, [one, other].map((run, i) =>
    h("a", { href: urls[i], download: path.split("/").pop(), class: "badge" }, `Download from ${nameOf(run)}`)));
  if (IMAGE.test(path)) {
    return h("div", {}, downloads, h("div", { class: "side-by-side images" }, [one, other].map((run, i) =>
      h("figure", {}, h("figcaption", {}, nameOf(run)), h("img", { src: urls[i], alt: `${path} of ${nameOf(run)}` })))));
  }
  if (!TEXT.test(path)) return h("div", {}, downloads, h("p", { class: "status" }, "No preview for this kind of file."));
  if (Math.max(sizeA, sizeB) > MAX_TEXT) return h("div", {}, downloads, h("p", { class: "status" }, "Too large to compare here."));
  const [a, b] = (await Promise.all(urls.map(fetchText))).map((text) => (/\.json$/i.test(path) ? pretty(text) : text));
  return h("div", {}, downloads, diffView(linesOf(a), linesOf(b), nameOf(one), nameOf(other)));
}

async function fetchText(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`HTTP ${response.status} for ${url}`);
  return response.text();
}

function pretty(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; }
}

/** A unified line diff: removed lines (only on the left) and added ones (only on the
 * right) marked; long unchanged stretches folded behind a button. */
function diffView(a, b, leftName, rightName) {
  const ops = diffLines(a, b);
  if (!ops) {
    return h("div", {}, h("p", { class: "status" }, "The files differ in too many lines for a line diff; here they are side by side."),
      h("div", { class: "side-by-side" }, [[leftName, a], [rightName, b]].map(([name, lines]) =>
        h("figure", {}, h("figcaption", {}, name), h("pre", {}, lines.join("\n"))))));
  }
  const added = ops.filter((o) => o.kind === "added").length, removed = ops.filter((o) => o.kind === "removed").length;
  const summary = added || removed
    ? `${removed} line${removed === 1 ? "" : "s"} only in ${leftName} (−), ${added} only in ${rightName} (+).`
    : "The files are identical.";
  const body = h("tbody", {});
  body.append(...foldUnchanged(ops).map((part) => (Array.isArray(part) ? fold(part) : lineRow(part))));
  return h("div", {}, h("p", { class: "status", id: "diff-summary" }, summary),
    h("table", { class: "diff-view", id: "artifact-diff" }, body));
}

/** The ops with each long unchanged stretch (beyond CONTEXT lines of a change) as one array. */
function foldUnchanged(ops) {
  const near = ops.map(() => false);
  ops.forEach((o, i) => {
    if (o.kind === "same") return;
    for (let j = Math.max(0, i - CONTEXT); j <= Math.min(ops.length - 1, i + CONTEXT); j++) near[j] = true;
  });
  const out = [];
  let stretch = [];
  ops.forEach((o, i) => {
    if (o.kind === "same" && !near[i]) { stretch.push(o); return; }
    if (stretch.length) out.push(stretch.length > 1 ? stretch : stretch[0]);
    stretch = [];
    out.push(o);
  });
  if (stretch.length) out.push(stretch.length > 1 ? stretch : stretch[0]);
  return out;
}

const MARKS = { same: " ", added: "+", removed: "−" };

function lineRow(op) {
  return h("tr", { class: `line ${op.kind}` }, h("td", { class: "ln" }, op.left ?? ""), h("td", { class: "ln" }, op.right ?? ""),
    h("td", { class: "mark", "aria-label": op.kind === "same" ? null : op.kind }, MARKS[op.kind]), h("td", { class: "code" }, op.text));
}

function fold(stretch) {
  const row = h("tr", { class: "folded" }, h("td", { colspan: 4 }, h("button", { type: "button", class: "unfold",
    onclick: () => row.replaceWith(...stretch.map(lineRow)) }, `⋯ ${stretch.length} unchanged lines`)));
  return row;
}

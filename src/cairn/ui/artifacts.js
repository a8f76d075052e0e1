// A run's artifacts as a lazily opened tree, with a preview of the chosen file.
import { artifactUrl, errorBox, get } from "./api.js";
import { fill, h } from "./dom.js";

const IMAGE = /\.(png|jpe?g|gif|webp|bmp)$/i;
const TEXT = /(\.(txt|log|json|ya?ml|md|py|cfg|ini|toml|diff|patch)$|(^|\/)MLmodel$|requirements\.txt$)/i;
const TABLE = /\.(csv|tsv)$/i;
const PDF = /\.pdf$/i;
const MAX_PREVIEW = 512 * 1024;
const MAX_PDF_PREVIEW = 64 * 1024 * 1024;
const MAX_ROWS = 200;
// The file each preview shows now: an answer for an earlier choice, or a left page, is dropped.
const chosen = new WeakMap();
// The PDF on show, as a blob: URL (one at a time; released when something else is shown).
let pdfBlobUrl = null;
window.addEventListener("hashchange", releasePdf);

export function artifactTree(run) {
  const preview = h("div", { class: "preview", id: "artifact-preview" }, "Choose a file.");
  const root = h("ul", {});
  const element = h("div", { class: "artifacts" }, h("div", { class: "tree", id: "artifact-tree" }, root), preview);
  open(run, "", root, preview);
  return element;
}

async function open(run, path, list, preview) {
  try {
    const answer = await get("artifacts/list", { run_id: run.info.run_id, path });
    const files = answer.files || [];
    if (!files.length && !path) fill(list, h("li", {}, "No artifacts."));
    else fill(list, files.map((f) => item(run, f, preview)));
  } catch (error) {
    fill(list, h("li", {}, errorBox(error)));
  }
}

function item(run, file, preview) {
  const name = file.path.split("/").pop();
  if (file.is_dir) {
    const children = h("ul", { hidden: true });
    let loaded = false;
    return h("li", { class: "dir" }, h("span", { onclick: () => {
      children.hidden = !children.hidden;
      if (!loaded) { loaded = true; open(run, file.path, children, preview); }
    } }, `▸ ${name}/`), children);
  }
  return h("li", {}, h("a", { href: "javascript:void 0", role: "button", onclick: (e) => {
    e.preventDefault(); show(run, file, preview);
  } }, name), file.file_size ? ` (${file.file_size} B)` : "");
}

async function show(run, file, preview) {
  const turn = {};
  chosen.set(preview, turn);
  releasePdf();
  const url = artifactUrl(run.info.run_id, file.path);
  const download = h("p", {}, h("a", { href: url, download: file.path.split("/").pop() }, `Download ${file.path}`));
  if (IMAGE.test(file.path)) return fill(preview, download, h("img", { src: url, alt: file.path }));
  const size = Number(file.file_size || 0);
  const pdf = PDF.test(file.path) && navigator.pdfViewerEnabled !== false && size <= MAX_PDF_PREVIEW;
  const text = (TEXT.test(file.path) || TABLE.test(file.path)) && size <= MAX_PREVIEW;
  if (!pdf && !text) return fill(preview, download, "No preview for this file.");
  fill(preview, download, "Loading…");
  try {
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const shown = pdf ? await pdfFrame(response, url, file.path) : await textPreview(response, file.path);
    if (chosen.get(preview) !== turn || !preview.isConnected) {
      if (pdf) URL.revokeObjectURL(shown.src);
      return;
    }
    if (pdf) pdfBlobUrl = shown.src;
    fill(preview, download, shown);
  } catch (error) {
    if (chosen.get(preview) === turn) fill(preview, download, errorBox(error));
  }
}

async function textPreview(response, path) {
  const text = await response.text();
  if (TABLE.test(path)) return csvTable(text, path);
  return (/\.json$/i.test(path) && jsonTable(text)) || pre(text, path);
}

/** A table logged as MLflow lays it out in JSON (`{"columns": [...], "data": [[...]]}`,
 * what log_table writes), or null for any other JSON. */
function jsonTable(text) {
  let layout;
  try { layout = JSON.parse(text); } catch { return null; }
  const { columns, data } = layout || {};
  if (!Array.isArray(columns) || !Array.isArray(data) || !data.every(Array.isArray)) return null;
  const cell = (x) => h("td", {}, x === null || typeof x !== "object" ? String(x) : JSON.stringify(x));
  return h("table", { class: "grid json-table" },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, String(c))))),
    h("tbody", {}, data.slice(0, MAX_ROWS).map((row) => h("tr", {}, row.map(cell)))));
}

/** The PDF in the browser's own viewer. The download endpoint answers every artifact as an
 * attachment (so no artifact ever renders as a page of this origin), and a frame of that URL
 * would only download it; so the bytes are framed as a blob: URL whose type is fixed here to
 * application/pdf. `data-artifact` names the artifact's URL. */
async function pdfFrame(response, url, path) {
  const type = (response.headers.get("Content-Type") || "").split(";")[0].trim();
  if (type !== "application/pdf") throw new Error(`Not a PDF: the server says ${type || "nothing"}.`);
  const blob = new Blob([await response.arrayBuffer()], { type: "application/pdf" });
  return h("iframe", { class: "pdf", src: URL.createObjectURL(blob), title: path, dataset: { artifact: url } });
}

function releasePdf() {
  if (pdfBlobUrl) URL.revokeObjectURL(pdfBlobUrl);
  pdfBlobUrl = null;
}

function pre(text, path) {
  if (/\.json$/i.test(path)) {
    try { text = JSON.stringify(JSON.parse(text), null, 2); } catch { /* shown as it is */ }
  }
  return h("pre", {}, text);
}

function csvTable(text, path) {
  const separator = /\.tsv$/i.test(path) ? "\t" : ",";
  const lines = text.split(/\r?\n/).filter(Boolean).slice(0, MAX_ROWS + 1).map((l) => splitLine(l, separator));
  const [head = [], ...rows] = lines;
  return h("table", { class: "grid" }, h("thead", {}, h("tr", {}, head.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((x) => h("td", {}, x))))));
}

function splitLine(line, separator) {
  const out = [];
  let cell = "", quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') { cell += '"'; i++; } else if (c === '"') quoted = false; else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === separator) { out.push(cell); cell = ""; } else cell += c;
  }
  out.push(cell);
  return out;
}

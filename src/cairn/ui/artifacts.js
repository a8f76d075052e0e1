// A run's Artifacts tab: a lazily opened tree, a preview of the chosen file, and the run's
// image series (imageseries.js) above them.
import { artifactUrl, errorBox, get } from "./api.js";
import { fill, h } from "./dom.js";
import { imageSeriesSection } from "./imageseries.js";
import { href } from "./router.js";

const IMAGE = /\.(png|jpe?g|gif|webp|bmp)$/i;
const TEXT = /(\.(txt|log|json|ya?ml|md|py|cfg|ini|toml|diff|patch)$|(^|\/)MLmodel$|requirements\.txt$)/i;
const TABLE = /\.(csv|tsv)$/i;
const PDF = /\.pdf$/i;
const MAX_PREVIEW = 512 * 1024;
const MAX_PDF_PREVIEW = 64 * 1024 * 1024;
const MAX_ROWS = 200;
const SMALL_IMAGE = 128;
// The file each preview shows now: an answer for an earlier choice, or a left page, is dropped.
const chosen = new WeakMap();
// The PDF on show, as a blob: URL (one at a time; released when something else is shown).
let pdfBlobUrl = null;
window.addEventListener("hashchange", releasePdf);

/** The Artifacts tab: image series (if any), then the tree and the preview. `path`, if
 * given, is opened (its folders expanded) and previewed; `onSelect(path)` hears each choice. */
export function artifactsPanel(run, path, onSelect) {
  const preview = h("div", { class: "preview", id: "artifact-preview" }, h("p", { class: "status" }, "Choose a file to preview it."));
  const root = h("ul", {});
  const ctx = { run, preview, onSelect, folders: new Map(), links: new Map() };
  ctx.top = open(ctx, "", root);
  if (path) reveal(ctx, path);
  const images = imageSeriesSection(run, (file) => reveal(ctx, file.path));
  return [images, h("div", { class: "artifacts" }, h("div", { class: "tree", id: "artifact-tree" }, root), preview)];
}

/** List a folder into `list`; its files (none on an error, which the list shows). */
async function open(ctx, path, list) {
  try {
    const answer = await get("artifacts/list", { run_id: ctx.run.info.run_id, path });
    const files = answer.files || [];
    if (!files.length && !path) {
      fill(list, h("li", { class: "status" }, "No artifacts. Log files with cairn.log_artifact(path) or cairn.log_image(img, key=\"k\", step=s)."));
    } else fill(list, files.map((f) => (f.is_dir ? folder(ctx, f) : item(ctx, f))));
    return files;
  } catch (error) {
    fill(list, h("li", {}, errorBox(error)));
    return [];
  }
}

function folder(ctx, file) {
  const name = file.path.split("/").pop();
  const children = h("ul", { hidden: true });
  let loaded = null;
  const toggle = h("button", { type: "button", class: "dir-toggle", "aria-expanded": "false",
    onclick: () => (children.hidden ? expand() : collapse()) }, `▸ ${name}/`);
  const expand = () => {
    children.hidden = false;
    toggle.setAttribute("aria-expanded", "true");
    toggle.textContent = `▾ ${name}/`;
    return (loaded ||= open(ctx, file.path, children));
  };
  const collapse = () => {
    children.hidden = true;
    toggle.setAttribute("aria-expanded", "false");
    toggle.textContent = `▸ ${name}/`;
  };
  ctx.folders.set(file.path, expand);
  return h("li", { class: "dir", dataset: { path: file.path } }, toggle, children);
}

function item(ctx, file) {
  const name = file.path.split("/").pop();
  const link = h("a", { href: href("runs", ctx.run.info.run_id, { tab: "artifacts", path: file.path }), onclick: (e) => {
    if (e.ctrlKey || e.metaKey || e.shiftKey || e.button) return;  // a new browser tab
    e.preventDefault();
    choose(ctx, file);
  } }, name);
  ctx.links.set(file.path, link);
  return h("li", { class: "file", dataset: { path: file.path } }, link,
    file.file_size ? h("span", { class: "size" }, formatSize(file.file_size)) : null);
}

/** Expand the folders down to `path`, then preview it (a file) or leave it open (a folder). */
async function reveal(ctx, path) {
  const parts = path.split("/").filter(Boolean);
  let listing = await ctx.top;
  for (let i = 0; i < parts.length; i++) {
    const prefix = parts.slice(0, i + 1).join("/");
    const found = listing.find((f) => f.path === prefix);
    if (!found) return fill(ctx.preview, errorBox(new Error(`No artifact at ${path}.`)));
    if (!found.is_dir) return choose(ctx, found);
    listing = await ctx.folders.get(prefix)();
  }
}

function choose(ctx, file) {
  for (const [path, link] of ctx.links) link.classList.toggle("selected", path === file.path);
  ctx.links.get(file.path)?.scrollIntoView({ block: "nearest" });
  ctx.onSelect?.(file.path);
  show(ctx.run, file, ctx.preview);
}

function formatSize(bytes) {
  const n = Number(bytes);
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = n / 1024, i = 0;
  while (value >= 1024 && i < units.length - 1) { value /= 1024; i++; }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[i]}`;
}

async function show(run, file, preview) {
  const turn = {};
  chosen.set(preview, turn);
  releasePdf();
  const url = artifactUrl(run.info.run_id, file.path);
  const download = h("p", { class: "preview-head" }, h("a", { href: url, download: file.path.split("/").pop() }, `Download ${file.path}`),
    file.file_size ? h("span", { class: "size" }, formatSize(file.file_size)) : null);
  if (IMAGE.test(file.path)) return fill(preview, download, picture(url, file.path));
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

/** An image; a small one (a 32×32 map) drawn larger, its pixels kept sharp. */
function picture(url, path) {
  const img = h("img", { src: url, alt: path, onload: () => img.classList.toggle("small", img.naturalWidth < SMALL_IMAGE) });
  return img;
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

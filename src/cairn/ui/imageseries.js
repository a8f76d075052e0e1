// Images logged over training, one card per key with a step slider. Two layouts are read:
// Cairn's `images/<key>/step_<step, 10 digits>_<timestamp>.png` (log_image(img, key=, step=))
// and MLflow's `images/<key, "/" as "~">+step+<step>+timestamp+<ts>+<uuid>.png` (3.x; before,
// "#" for "/" and "%" between the parts). Its "+compressed.webp" thumbnails are skipped.
import { artifactUrl, get } from "./api.js";
import { fill, h } from "./dom.js";

const CAIRN_NAME = /^step_(-?\d+)_(\d+)\.(png|jpe?g|webp|gif)$/i;
const MLFLOW_NAME = /^(.+)([%+])step\2(-?\d+)\2timestamp\2(\d+)\2[^%+]+\.(png|jpe?g)$/i;
const ROOT = "images";
const MAX_DEPTH = 4;  // folders below images/ (a key may hold "/")
const SMALL = 128;    // images narrower than this are scaled up with hard pixel edges

/** A card that fills with the run's image series, and stays hidden if it has none. `open(file)`
 * shows one image in the artifact preview. */
export function imageSeriesSection(run, open) {
  const element = h("section", { class: "card image-series", id: "image-series", hidden: true });
  findSeries(run.info.run_id).then((series) => {
    if (!series.length) return;
    element.hidden = false;
    fill(element, h("h2", {}, "Images"),
      h("p", { class: "status" }, "Logged over training: drag the slider, or focus it and use the arrow keys."),
      h("div", { class: "series-grid" }, series.map((s) => seriesCard(run.info.run_id, s, open))));
  }).catch(() => {});
  return element;
}

/** Every series under images/, sorted by key; each image sorted by step, then time. */
async function findSeries(runId) {
  const list = async (path) => (await get("artifacts/list", { run_id: runId, path })).files || [];
  const series = new Map();
  const add = (key, step, timestamp, file) => {
    if (!series.has(key)) series.set(key, []);
    series.get(key).push({ step: Number(step), timestamp: Number(timestamp), file });
  };
  const walk = async (files, depth) => {
    for (const file of files) {
      const name = file.path.split("/").pop();
      const cairn = !file.is_dir && depth > 0 && CAIRN_NAME.exec(name);
      const mlflow = !file.is_dir && depth === 0 && MLFLOW_NAME.exec(name);
      if (cairn) add(file.path.slice(ROOT.length + 1, -name.length - 1), cairn[1], cairn[2], file);
      else if (mlflow) add(mlflow[1].replace(/[#~]/g, "/"), mlflow[3], mlflow[4], file);
    }
    const folders = files.filter((f) => f.is_dir);
    if (depth < MAX_DEPTH) await Promise.all(folders.map(async (f) => walk(await list(f.path), depth + 1)));
  };
  await walk(await list(ROOT), 0);
  return [...series.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([key, images]) =>
    ({ key, images: images.sort((a, b) => a.step - b.step || a.timestamp - b.timestamp) }));
}

/** One key: its image at the chosen step (the last at first), a slider over the steps. */
function seriesCard(runId, { key, images }, open) {
  const last = images.length - 1;
  const img = h("img", { class: "series-image", alt: "", onload: () => img.classList.toggle("pixelated", img.naturalWidth < SMALL) });
  const label = h("span", { class: "series-step" });
  const count = h("span", { class: "series-count status" });
  const slider = images.length > 1
    ? h("input", { type: "range", class: "series-slider", min: 0, max: last, step: 1, value: last,
      "aria-label": `Step of ${key}`, oninput: () => showAt(Number(slider.value)) })
    : null;
  let at = last;
  function showAt(i) {
    at = i;
    const { step, file } = images[i];
    img.src = artifactUrl(runId, file.path);
    img.alt = `${key} at step ${step}`;
    img.title = file.path;
    fill(label, `Step ${step}`);
    fill(count, `${i + 1} of ${images.length}`);
    slider?.setAttribute("aria-valuetext", `step ${step}`);
    preload(runId, images[i + 1]);
    preload(runId, images[i - 1]);
  }
  showAt(last);
  const frame = h("button", { type: "button", class: "series-frame", title: "Open in the preview below",
    onclick: () => open(images[at].file) }, img);
  return h("figure", { class: "series", dataset: { key }, onkeydown: (e) => {
    // Arrows step through the series wherever the focus is in the card (the slider moves itself).
    if (!slider || e.target === slider || !["ArrowLeft", "ArrowRight"].includes(e.key)) return;
    e.preventDefault();
    slider.value = String(Math.max(0, Math.min(last, at + (e.key === "ArrowRight" ? 1 : -1))));
    showAt(Number(slider.value));
  } }, h("figcaption", {}, h("strong", { class: "series-key" }, key), label, count), frame, slider);
}

function preload(runId, image) {
  if (image) new Image().src = artifactUrl(runId, image.file.path);
}

// Parallel coordinates as plain SVG: one path per run across one vertical axis per column.
// Not plotly's parcoords: that draws through regl, which builds its draw calls with
// `new Function`, and the UI's Content-Security-Policy forbids eval, so in every browser it
// only showed "WebGL is not supported". SVG needs neither eval nor WebGL (remote desktops,
// VMs), and 100 runs × a few axes is a few hundred segments.
import { formatValue, h } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";
const HEIGHT = 440, TOP = 64, BOTTOM = 24, SIDE = 96;
const LABEL_GAP = 14;   // px between tick labels on one axis; closer ones are left out
const CHAR = 7;         // px per character of a 12px label, to shorten what would overlap
const LOW = [33, 96, 196], HIGH = [217, 72, 15], MISSING = "#9aa3ad";

/** An SVG element; strings among the children become text nodes (never markup). */
function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) if (value !== undefined) el.setAttribute(name, String(value));
  el.append(...children.flat().filter((c) => c !== undefined && c !== null));
  return el;
}

/** `text` cut to `chars` characters (whole code points) with an ellipsis. */
function shorten(text, chars) {
  const points = Array.from(text);
  return points.length <= Math.max(chars, 2) ? text : points.slice(0, Math.max(chars, 2) - 1).join("") + "…";
}

/** A label that shows all of itself on hover when it had to be shortened. */
function label(text, chars, attrs) {
  const shown = shorten(text, chars);
  return svg("text", attrs, shown, shown === text ? null : svg("title", {}, text));
}

const isNumber = (v) => typeof v === "number" || (String(v).trim() !== "" && !isNaN(Number(v))) || v === "NaN";

/**
 * One axis over the runs' values (undefined where a run lacks the column): numbers on a
 * linear scale from the smallest to the largest; anything else as sorted categories,
 * evenly spaced. `at(i)` is run i's height in [0, 1], or null (NaN, ±inf, missing: a gap).
 */
export function axis(name, values) {
  const present = values.filter((v) => v !== undefined && v !== null);
  if (present.length && present.every(isNumber)) {
    const numbers = values.map((v) => (v === undefined || v === null ? NaN : Number(v)));
    const finite = numbers.filter(Number.isFinite);
    const lo = Math.min(...finite), hi = Math.max(...finite);
    const scale = (x) => (hi > lo ? (x - lo) / (hi - lo) : 0.5);
    return { name, at: (i) => (Number.isFinite(numbers[i]) ? scale(numbers[i]) : null),
      ticks: finite.length ? numericTicks(lo, hi).map((x) => [scale(x), formatValue(x)]) : [] };
  }
  const categories = [...new Set(present.map(String))].sort();
  const place = (k) => (categories.length > 1 ? k / (categories.length - 1) : 0.5);
  const index = new Map(categories.map((c, k) => [c, place(k)]));
  return { name, at: (i) => (values[i] === undefined || values[i] === null ? null : index.get(String(values[i]))),
    ticks: categories.map((c, k) => [place(k), c === "" ? '""' : c]) };
}

/** The range's ends and round values (steps of 1, 2 or 5 × 10ⁿ) between them. */
function numericTicks(lo, hi) {
  if (!(hi > lo)) return [lo];
  const rough = (hi - lo) / 5, power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough);
  const inner = [];
  for (let x = Math.ceil(lo / step) * step; x < hi; x += step) {
    const rounded = Number(x.toPrecision(12));
    if (rounded > lo && (rounded - lo) / (hi - lo) > 0.08 && (hi - rounded) / (hi - lo) > 0.08) inner.push(rounded);
  }
  return [lo, ...inner, hi];
}

/** Values on neighbouring axes are joined; a gap (no value) breaks the line; a value
 * between gaps is a dot (a zero-length stroke, drawn by the round line cap). */
function pathOf(heights, xOf, yOf) {
  let d = "";
  heights.forEach((t, k) => {
    if (t === null) return;
    const joined = k > 0 && heights[k - 1] !== null, alone = !joined && (heights[k + 1] ?? null) === null;
    d += `${joined ? "L" : "M"}${xOf(k).toFixed(1)} ${yOf(t).toFixed(1)}${alone ? "h0" : ""}`;
  });
  return d;
}

function colour(t) {
  if (t === null || t === undefined) return MISSING;
  return `rgb(${LOW.map((c, k) => Math.round(c + (HIGH[k] - c) * t)).join(",")})`;
}

/**
 * Draw into `container` (replacing what it held): `columns` are {name, values} with one
 * value per run, `runs` are {id, name, href}. Lines are coloured by column `colourBy`.
 * Dragging along an axis keeps the runs whose value lies in the dragged range (the others
 * are dimmed); ranges on several axes combine; a click on an axis clears its range.
 */
export function drawParallel(container, runs, columns, colourBy = columns.length - 1) {
  if (!columns.length) return container.replaceChildren(h("p", { class: "status" }, "Choose dimensions to draw."));
  const axes = columns.map((c) => axis(c.name, c.values));
  const width = Math.max(container.clientWidth || 0, 480);
  const gap = axes.length > 1 ? (width - 2 * SIDE) / (axes.length - 1) : 0;
  const xOf = (k) => (axes.length > 1 ? SIDE + k * gap : width / 2);
  const yOf = (t) => TOP + (1 - t) * (HEIGHT - TOP - BOTTOM);
  // A title is centred on its axis: the outer ones have only the side margin beyond them.
  const titleChars = (k) => Math.floor((k > 0 && k < axes.length - 1 ? gap : Math.min(gap || width, 2 * SIDE)) / CHAR) - 1;
  const tickChars = Math.floor(Math.min(SIDE, gap || SIDE) / CHAR) - 2;

  const drawnAxes = axes.map((a, k) => {
    const x = xOf(k);
    let last = Infinity;
    const ticks = a.ticks.filter(([t]) => {  // from the bottom up, leaving out crowded labels
      const y = yOf(t);
      if (last - y < LABEL_GAP) return false;
      last = y;
      return true;
    }).map(([t, text]) => svg("g", { class: "pc-tick" },
      svg("line", { x1: x - 4, x2: x, y1: yOf(t), y2: yOf(t) }),
      label(text, tickChars, { x: x - 7, y: yOf(t) + 4, "text-anchor": "end" })));
    return svg("g", { class: "pc-axis", "data-name": a.name },
      svg("line", { class: "pc-spine", x1: x, x2: x, y1: yOf(1), y2: yOf(0) }),
      label(a.name, titleChars(k), { class: "pc-title", x, y: TOP - 30, "text-anchor": "middle" }),
      ticks);
  });

  const colouring = axes[colourBy];
  const paths = runs.map((run, i) => svg("path", { class: "pc-line", d: pathOf(axes.map((a) => a.at(i) ?? null), xOf, yOf),
    stroke: colour(colouring.at(i)), "data-run-id": run.id }, svg("title", {}, run.name)));
  const lines = runs.map((run, i) => svg("a", { href: run.href }, paths[i]));
  const kept = h("span", { class: "pc-kept" });
  const ranges = new Map();  // axis index → [low, high] in [0, 1]
  const filter = () => {
    let count = 0;
    paths.forEach((path, i) => {
      const inside = [...ranges].every(([k, [low, high]]) => { const t = axes[k].at(i); return t !== null && t >= low && t <= high; });
      path.classList.toggle("pc-dimmed", !inside);
      count += inside;
    });
    kept.textContent = ranges.size ? `${count} of ${runs.length} runs in the chosen ranges. ` : "";
  };
  const plot = svg("svg", { class: "pc", viewBox: `0 0 ${width} ${HEIGHT}`, width: "100%", role: "img",
    "aria-label": `Parallel coordinates of ${runs.length} runs` }, svg("g", { class: "pc-lines" }, lines), drawnAxes);
  drawnAxes.forEach((group, k) => brushable(plot, group, xOf(k), yOf, (range) => {
    if (range) ranges.set(k, range); else ranges.delete(k);
    filter();
  }));

  container.replaceChildren(plot,
    h("p", { class: "status pc-legend" }, kept, `Colour: ${colouring.name}, low (blue) to high (orange). `
      + "Hover a line for its run, click to open it; drag along an axis to keep a range."));
}

/** A drag along the axis at `x` reports the range it covers in [0, 1] (low, high); a
 * click without a drag reports null (the range is cleared). */
function brushable(plot, group, x, yOf, changed) {
  const top = yOf(1), bottom = yOf(0);
  const band = svg("rect", { class: "pc-range", x: x - 7, width: 14, y: top, height: 0, visibility: "hidden" });
  const area = svg("rect", { class: "pc-brush", x: x - 12, width: 24, y: top - 6, height: bottom - top + 12 });
  group.append(band, area);
  const yAt = (event) => {
    const point = new DOMPoint(event.clientX, event.clientY).matrixTransform(plot.getScreenCTM().inverse());
    return Math.min(bottom, Math.max(top, point.y));
  };
  const level = (y) => (bottom - y) / (bottom - top);
  let start = null;
  area.addEventListener("pointerdown", (event) => {
    start = yAt(event);
    area.setPointerCapture(event.pointerId);
    event.preventDefault();
  });
  area.addEventListener("pointermove", (event) => {
    if (start === null) return;
    const y = yAt(event);
    band.setAttribute("y", String(Math.min(start, y)));
    band.setAttribute("height", String(Math.abs(y - start)));
    band.setAttribute("visibility", "visible");
  });
  area.addEventListener("pointerup", (event) => {
    if (start === null) return;
    const y = yAt(event);
    const dragged = Math.abs(y - start) >= 3;
    if (!dragged) band.setAttribute("visibility", "hidden");
    changed(dragged ? [level(Math.max(start, y)), level(Math.min(start, y))] : null);
    start = null;
  });
}

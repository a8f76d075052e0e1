// A line diff of two texts (Myers' O((n+m)·D) shortest edit script), for comparing two
// runs' text artifacts. Lines are compared, and later shown, as plain text.

/** The lines of a text; a final newline does not make an empty last line. */
export function linesOf(text) {
  const lines = String(text).split(/\r?\n/);
  if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/**
 * The edits that turn lines `a` into lines `b`: [{kind: "same"|"removed"|"added", text,
 * left, right}] (1-based line numbers; null on the side a line is not on). Null when more
 * than `maxEdits` lines differ: the trace of a larger diff costs too much memory.
 */
export function diffLines(a, b, maxEdits = 2000) {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length, endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) { endA--; endB--; }
  const middle = shortestEdit(a.slice(start, endA), b.slice(start, endB), maxEdits);
  if (!middle) return null;
  const same = (i, j) => ({ kind: "same", text: a[i], left: i + 1, right: j + 1 });
  const head = a.slice(0, start).map((_, i) => same(i, i));
  const tail = a.slice(endA).map((_, i) => same(endA + i, endB + i));
  const shifted = middle.map((op) => ({ ...op, left: op.left && op.left + start, right: op.right && op.right + start }));
  return [...head, ...shifted, ...tail];
}

/** Myers' greedy search; keeps each round's furthest points (2d+3 of them) to walk back. */
function shortestEdit(a, b, maxEdits) {
  const n = a.length, m = b.length, max = n + m;
  if (!max) return [];
  const v = new Int32Array(2 * max + 3), offset = max + 1, trace = [];
  for (let d = 0; d <= Math.min(max, maxEdits); d++) {
    trace.push(v.slice(offset - d - 1, offset + d + 2));
    for (let k = -d; k <= d; k += 2) {
      const down = k === -d || (k !== d && v[offset + k - 1] < v[offset + k + 1]);
      let x = down ? v[offset + k + 1] : v[offset + k - 1] + 1, y = x - k;
      while (x < n && y < m && a[x] === b[y]) { x++; y++; }
      v[offset + k] = x;
      if (x >= n && y >= m) return walkBack(trace, a, b);
    }
  }
  return null;
}

function walkBack(trace, a, b) {
  const ops = [];
  let x = a.length, y = b.length;
  for (let d = trace.length - 1; d >= 0; d--) {
    const v = trace[d], at = (k) => v[k + d + 1], k = x - y;
    const prevK = k === -d || (k !== d && at(k - 1) < at(k + 1)) ? k + 1 : k - 1;
    const prevX = d ? at(prevK) : 0, prevY = d ? prevX - prevK : 0;
    while (x > prevX && y > prevY) { x--; y--; ops.push({ kind: "same", text: a[x], left: x + 1, right: y + 1 }); }
    if (d) {
      if (x === prevX) ops.push({ kind: "added", text: b[y - 1], left: null, right: y });
      else ops.push({ kind: "removed", text: a[x - 1], left: x, right: null });
    }
    x = prevX; y = prevY;
  }
  return ops.reverse();
}

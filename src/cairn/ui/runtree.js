// The run table's rows: nested runs as a tree (MLflow's parent tag), or runs grouped by a
// param/tag value. Both are O(n) in the runs, so a 10,000-run table rebuilds in a few ms.

export const PARENT_TAG = "mlflow.parentRunId";

/** Roots and children (by parent id), each in the runs' own order. A run whose parent is not
 * in the list (filtered out, not loaded yet, another experiment) is a root. */
export function buildTree(runs) {
  const byId = new Map();
  for (const r of runs) byId.set(r.info.run_id, r);
  const children = new Map();
  const roots = [];
  for (const r of runs) {
    const parent = r.tags[PARENT_TAG];
    if (parent && parent !== r.info.run_id && byId.has(parent)) {
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent).push(r);
    } else roots.push(r);
  }
  rootCycles(runs, roots, children);
  return { roots, children, byId };
}

// Runs whose parent tags form a loop (a → b → a) hang under no root: the first run of each
// loop becomes a root, cut from its parent's children, so every run is shown once.
function rootCycles(runs, roots, children) {
  const reached = new Set();
  const visit = (start) => {
    const stack = [start];
    while (stack.length) {
      const r = stack.pop();
      if (reached.has(r.info.run_id)) continue;
      reached.add(r.info.run_id);
      for (const c of children.get(r.info.run_id) || []) stack.push(c);
    }
  };
  roots.forEach(visit);
  if (reached.size === runs.length) return;
  for (const r of runs) {
    if (reached.has(r.info.run_id)) continue;
    const parent = r.tags[PARENT_TAG];
    children.set(parent, children.get(parent).filter((c) => c !== r));
    roots.push(r);
    visit(r);
  }
}

/** Display rows of the tree: each root, then (if expanded) its children, indented. */
export function treeRows(tree, expanded) {
  const out = [];
  const walk = (run, depth) => {
    const id = run.info.run_id;
    const kids = tree.children.get(id);
    const open = Boolean(kids?.length) && expanded.has(id);
    out.push({ run, depth, childCount: kids?.length || 0, open });
    if (open) for (const kid of kids) walk(kid, depth + 1);
  };
  for (const root of tree.roots) walk(root, 0);
  return out;
}

/** Rows grouped by a param/tag value: a header per value (first-seen order), then its runs.
 * Grouping is flat: a child run sits in the group of its own value (a sweep's children
 * differ from their parent in exactly the values one groups by), marked with its parent. */
export function groupedRows(runs, kind, key, byId) {
  const groups = new Map();
  for (const r of runs) {
    const value = r[kind]?.[key] ?? "(none)";
    if (!groups.has(value)) groups.set(value, []);
    groups.get(value).push(r);
  }
  const out = [];
  for (const [value, members] of groups) {
    out.push({ group: value, label: key, count: members.length });
    for (const run of members) out.push({ run, depth: 0, childCount: 0, open: false, parent: byId.get(run.tags[PARENT_TAG]) });
  }
  return out;
}

// Pieces both registry pages show: a description and tags (editable by users who may change
// the model), stage and alias controls, and the table of a version's recorded moves. The
// server checks every change; the controls only spare a reader the refusal.
import { errorBox } from "./api.js";
import { fill, h, relativeTime, table } from "./dom.js";

export const STAGES = ["None", "Staging", "Production", "Archived"];

/** A description as text; with `save(text)` (a promise) an Edit button opens a text area. */
export function descriptionEditor(id, text, save) {
  const root = h("div", { class: "registry-description", id });
  const view = (value) => fill(root,
    value ? h("p", { class: "description-text" }, value) : h("p", { class: "status" }, "No description."),
    save ? h("button", { type: "button", class: "edit-description", onclick: () => edit(value) }, value ? "Edit" : "Add a description") : null);
  const edit = (value) => {
    const area = h("textarea", { rows: 5, "aria-label": "Description", value: value || "" });
    const problem = h("div", {});
    const store = async () => {
      try { await save(area.value); view(area.value); } catch (e) { fill(problem, errorBox(e)); }
    };
    fill(root, area, h("div", { class: "toolbar" },
      h("button", { type: "button", class: "save-description", onclick: store }, "Save"),
      h("button", { type: "button", class: "cancel", onclick: () => view(value) }, "Cancel")), problem);
    area.focus();
  };
  view(text || "");
  return root;
}

/** Tags (`[{key, value}]`) as a table; with `change = {set(key, value), remove(key)}`
 * (promises) each has a delete button, and a form adds (or overwrites) one. */
export function tagEditor(id, tags, change) {
  const current = new Map((tags || []).map((t) => [t.key, t.value]));
  const root = h("div", { class: "registry-tags", id });
  const problem = h("div", { class: "tag-problem" });
  const act = (work, after) => async () => {
    try { fill(problem); await work(); after(); draw(); } catch (e) { fill(problem, errorBox(e)); }
  };
  const draw = () => {
    const rows = [...current].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, value]) => h("tr", { dataset: { key } },
      h("th", {}, key), h("td", {}, value), change ? h("td", { class: "actions" }, h("button", { type: "button",
        class: "delete-tag link", title: `Delete tag ${key}`, "aria-label": `Delete tag ${key}`,
        onclick: act(() => change.remove(key), () => current.delete(key)) }, "×")) : null));
    fill(root, rows.length ? h("table", { class: "kv tag-table" }, h("tbody", {}, rows)) : h("p", { class: "status" }, "No tags."),
      change ? addForm(act, current) : null, problem);
  };
  const addForm = (run, tagsNow) => {
    const key = h("input", { placeholder: "key", "aria-label": "Tag key", size: 14, required: true });
    const value = h("input", { placeholder: "value", "aria-label": "Tag value", size: 18 });
    return h("form", { class: "toolbar add-tag", onsubmit: (e) => {
      e.preventDefault();
      const k = key.value.trim(), v = value.value;
      if (k) run(() => change.set(k, v), () => tagsNow.set(k, v))();
    } }, key, value, h("button", { type: "submit", class: "add-tag-button" }, "Add tag"));
  };
  draw();
  return root;
}

/** A stage <select> and its Transition button; `transition(stage)` makes the change. */
export function stageControl(current, transition) {
  const stage = h("select", { "aria-label": "Stage" }, STAGES.map((s) => h("option", { value: s, selected: s === current }, s)));
  return [stage, h("button", { type: "button", class: "transition", onclick: () => transition(stage.value) }, "Transition")];
}

/** An alias box and its Set button; `set(alias)` makes the change. */
export function aliasControl(set) {
  const alias = h("input", { placeholder: "alias", size: 10, "aria-label": "Alias" });
  return [alias, h("button", { type: "button", class: "set-alias", onclick: () => set(alias.value.trim()) }, "Set alias")];
}

/** An alias as a badge; with `remove` a × button deletes it. */
export function aliasBadge(alias, remove) {
  return h("span", { class: "badge alias", dataset: { alias } }, `@${alias}`,
    remove && h("button", { type: "button", class: "delete-alias link", title: `Delete alias ${alias}`,
      "aria-label": `Delete alias ${alias}`, onclick: remove }, "×"));
}

/** A stage as a coloured badge (Production stands out, Archived fades). */
export function stageBadge(stage) {
  const text = stage || "None";
  return h("span", { class: `stage-badge stage-${text.toLowerCase()}` }, text);
}

const CHANGES = {
  created: () => "registered",
  stage: () => "stage change",
  alias_set: (e) => `alias @${e.alias} set`,
  alias_deleted: (e) => `alias @${e.alias} deleted`,
  deleted: () => "deleted",
};

/** Recorded moves, newest first: when, (which version,) what, from → to, who. */
export function historyTable(events, withVersion, id) {
  if (!events.length) return h("p", { class: "status", id }, "No changes recorded.");
  const shown = (kind, value) => (value && kind.startsWith("alias") ? `v${value}` : value || "");
  const sorted = [...events].sort((a, b) => Number(b.timestamp) - Number(a.timestamp));
  return table(["When", ...(withVersion ? ["Version"] : []), "Change", "From", "To", "By"], sorted.map((e) => h("tr", { dataset: { kind: e.kind } },
    h("td", {}, relativeTime(e.timestamp)), withVersion ? h("td", {}, `v${e.version}`) : null,
    h("td", {}, (CHANGES[e.kind] || (() => e.kind))(e)), h("td", { class: "from" }, shown(e.kind, e.from_value)),
    h("td", { class: "to" }, shown(e.kind, e.to_value)), h("td", { class: "by" }, e.user_id || "—"))), { class: "grid history", id });
}

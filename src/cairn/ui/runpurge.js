// "Delete permanently" on the run page: removes the run, its metrics and its artifacts for
// good (POST /ajax-api/2.0/cairn/runs/purge), after the reader types the run's name. The
// server decides who may (MANAGE on the experiment under --auth) and which runs it keeps (one
// a registered model version points to); its reason shows in the dialog, as text.
import { cairnPost, errorBox } from "./api.js";
import { fill, h } from "./dom.js";
import { href } from "./router.js";

/** The button that opens the confirmation dialog for `run`. */
export function purgeButton(run) {
  return h("button", { type: "button", class: "danger", id: "purge-run", onclick: () => openDialog(run) },
    "Delete permanently");
}

function openDialog(run) {
  const info = run.info;
  const name = info.run_name || info.run_id;
  const typed = h("input", { id: "purge-confirm-name", autocomplete: "off", spellcheck: "false",
    "aria-describedby": "purge-warning", oninput: () => { confirmButton.disabled = typed.value !== name; } });
  const problem = h("div", { id: "purge-error" });
  const confirmButton = h("button", { type: "submit", class: "danger-solid", id: "purge-confirm", disabled: true },
    "Delete permanently");
  const cancel = h("button", { type: "button", id: "purge-cancel", onclick: () => dialog.close() }, "Cancel");
  const form = h("form", { method: "dialog", onsubmit: (e) => { e.preventDefault(); purge(); } },
    h("h2", { id: "purge-title" }, "Delete run permanently"),
    h("p", { id: "purge-warning" },
      "Run ", h("strong", {}, name), ` (${info.run_id}) and everything it logged — metrics, parameters, `,
      "tags, artifacts — will be removed for good. This cannot be undone.",
      info.status === "RUNNING" ? " The run is still running: what it logs afterwards will be refused." : null),
    h("label", { for: "purge-confirm-name" }, "Type ", h("code", {}, name), " to confirm:"),
    typed, problem,
    h("div", { class: "dialog-buttons" }, cancel, confirmButton));
  const dialog = h("dialog", { id: "purge-dialog", "aria-labelledby": "purge-title", onclose: () => dialog.remove() }, form);
  document.body.append(dialog);
  dialog.showModal();
  typed.focus();

  async function purge() {
    if (typed.value !== name) return;
    confirmButton.disabled = true;
    fill(confirmButton, "Deleting…");
    fill(problem);
    try {
      await cairnPost("runs/purge", { run_id: info.run_id });
    } catch (error) {
      fill(problem, errorBox(error));
      fill(confirmButton, "Delete permanently");
      confirmButton.disabled = typed.value !== name;
      return;
    }
    dialog.close();
    showNotice(`Run "${name}" was deleted permanently.`);
    location.hash = href("experiments", info.experiment_id);
  }
}

/** A notice above the page that outlives the navigation it announces: it goes at the one
 * after that, or when closed. */
function showNotice(text) {
  document.getElementById("notice")?.remove();
  const notice = h("div", { id: "notice", class: "notice", role: "status" }, h("span", {}, text),
    h("button", { type: "button", class: "link-button", "aria-label": "Close", onclick: () => notice.remove() }, "×"));
  document.getElementById("page").before(notice);
  const leave = () => window.addEventListener("hashchange", () => notice.remove(), { once: true });
  window.addEventListener("hashchange", leave, { once: true });
}

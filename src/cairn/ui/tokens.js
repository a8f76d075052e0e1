// The caller's account under `cairn server --auth`: the name and a logout button in the
// header, and the Tokens page (issue, list, revoke personal API tokens; a secret is shown
// once, when issued). Without --auth the server has no such calls and both stay hidden.
import { ApiError, cairn, cairnPost, errorBox } from "./api.js";
import { breadcrumbs, emptyState, fill, formatTime, h, relativeTime, table } from "./dom.js";

const EXPIRIES = [["30 days", "30d"], ["90 days", "90d"], ["1 year", "365d"], ["Never", ""]];

/** Fill the header's account slot: who is logged in, the Tokens link, and Log out. */
export async function showAccount(slot) {
  let user;
  try { ({ user } = await cairn("users/current")); } catch { return; }
  const logout = h("form", { method: "post", action: "/auth/logout", class: "logout" },
    h("button", { type: "submit", id: "logout" }, "Log out"));
  fill(slot, h("a", { href: "#/tokens" }, "Tokens"),
    h("span", { id: "current-user", title: user.kind }, user.username), user.kind === "oidc" ? logout : null);
  slot.hidden = false;
}

export async function tokensPage(main, _params, _query, live) {
  main.append(breadcrumbs(["Tokens"]), h("h1", {}, "API tokens"),
    h("p", {}, "A token authenticates scripts and the mlflow client (MLFLOW_TRACKING_TOKEN) as you."));
  const name = h("input", { type: "text", id: "token-name", placeholder: "Name (where it is used)", "aria-label": "Token name" });
  const expiry = h("select", { id: "token-expiry", "aria-label": "Expires in" },
    EXPIRIES.map(([label, value]) => h("option", { value }, label)));
  const issued = h("div", { id: "token-issued" });
  const list = h("div", { id: "token-list" });
  const create = async (event) => {
    event.preventDefault();
    try {
      const body = { name: name.value.trim(), expires_in: expiry.value || undefined };
      const answer = await cairnPost("tokens/create", body);
      fill(issued, h("div", { class: "notice", role: "status" },
        h("p", {}, "Copy the token now: it is not shown again."),
        h("pre", {}, h("code", { id: "token-secret" }, answer.secret))));
      name.value = "";
      await draw();
    } catch (e) { fill(issued, errorBox(e)); }
  };
  const draw = async () => {
    let tokens;
    try { ({ tokens = [] } = await cairn("tokens/list")); } catch (e) { return fill(list, errorBox(e)); }
    if (!live()) return;
    if (!tokens.length) return fill(list, emptyState("No tokens yet."));
    fill(list, table(["Name", "Id", "Created", "Last used", "Expires", "State", ""], tokens.map((t) => row(t, draw, issued)),
      { class: "grid", id: "tokens" }));
  };
  main.append(h("form", { class: "toolbar", id: "token-form", onsubmit: create }, name, expiry,
    h("button", { type: "submit", id: "token-create" }, "Create token")), issued, list);
  await draw();
}

function row(token, redraw, issued) {
  const revoke = token.state === "ACTIVE" ? h("button", { class: "revoke", onclick: async () => {
    try { await cairnPost("tokens/revoke", { token_id: token.token_id }); await redraw(); }
    catch (e) { fill(issued, errorBox(e instanceof ApiError ? e : new Error(String(e)))); }
  } }, "Revoke") : null;
  return h("tr", { dataset: { tokenId: token.token_id } },
    h("td", {}, token.name || "—"), h("td", {}, h("code", {}, token.token_id)),
    h("td", { title: formatTime(token.created) }, relativeTime(token.created)),
    h("td", {}, token.last_used ? relativeTime(token.last_used) : "never"),
    h("td", {}, token.expires_at ? formatTime(token.expires_at) : "never"),
    h("td", { class: "token-state" }, token.state), h("td", {}, revoke));
}

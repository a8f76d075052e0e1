// Talking to the server: MLflow's JSON API under /ajax-api, errors turned into ApiError.
import { h } from "./dom.js";

const MLFLOW = "/ajax-api/2.0/mlflow/";
const CAIRN = "/ajax-api/2.0/cairn/";
const MLFLOW_V3 = "/ajax-api/3.0/mlflow/";  // MLflow 3's newer calls (traces) live under 3.0

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function request(url, method, body) {
  // X-Requested-With: the server refuses a change authenticated by the session cookie
  // without it (CSRF), and answers this page's 401s without a password prompt.
  const init = { method, credentials: "same-origin", headers: { "X-Requested-With": "cairn" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  const login = response.status === 401 && response.headers.get("X-Cairn-Login");
  if (login && login.startsWith("/")) {  // the session ended: log in again, then come back
    location.assign(`${login}?next=${encodeURIComponent(location.pathname + location.hash)}`);
  }
  const text = await response.text();
  let payload = {};
  try { payload = text ? JSON.parse(text) : {}; } catch { payload = { message: text }; }
  if (!response.ok) {
    throw new ApiError(response.status, payload.error_code || `HTTP_${response.status}`,
      payload.message || text || response.statusText);
  }
  return payload;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === "") continue;
    for (const item of Array.isArray(v) ? v : [v]) q.append(k, String(item));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** GET an MLflow endpoint ("runs/get", {run_id}) → JSON. */
export const get = (endpoint, params) => request(MLFLOW + endpoint + query(params), "GET");
/** POST (or PATCH/DELETE) a JSON body to an MLflow endpoint. */
export const post = (endpoint, body, method = "POST") => request(MLFLOW + endpoint, method, body || {});
/** GET one of Cairn's UI endpoints. */
export const getV3 = (endpoint, params) => request(MLFLOW_V3 + endpoint + query(params), "GET");
export const postV3 = (endpoint, body) => request(MLFLOW_V3 + endpoint, "POST", body || {});
export const cairn = (endpoint, params) => request(CAIRN + endpoint + query(params), "GET");
/** POST a JSON body to one of Cairn's own endpoints ("runs/purge"). */
export const cairnPost = (endpoint, body) => request(CAIRN + endpoint, "POST", body || {});
export const cairnUrl = (endpoint, params) => CAIRN + endpoint + query(params);

/** Where the server serves the file `path` of a run's artifacts: by run id, so a run logged
 * to a local folder (its artifact_uri a path, not a proxy URI) previews as well. */
export function artifactUrl(runId, path) {
  return cairnUrl("artifacts/get", { run_id: runId, path });
}

/** An element that shows an experiment's name once the server has said it (breadcrumbs on
 * every page name the experiment). */
export function experimentLabel(id) {
  const label = h("span", { class: "experiment-name" }, `experiment ${id}`);
  get("experiments/get", { experiment_id: id }).then((r) => { label.textContent = r.experiment.name; }).catch(() => {});
  return label;
}

/** Every page of a paged search: calls onPage(items) as each arrives; `live()` false stops.
 * `first`, if given, is the size of the first page (a small one shows sooner), the others
 * have body.max_results. */
export async function searchAll(endpoint, body, field, onPage, live = () => true, first = undefined) {
  let token;
  do {
    const size = token === undefined && first ? { max_results: first } : {};
    const page = await post(endpoint, { ...body, ...size, page_token: token });
    if (!live()) return;
    onPage(page[field] || []);
    token = page.next_page_token;
  } while (token);
}

/** An inline error box showing the server's error code and message as text. */
export function errorBox(error) {
  const code = error instanceof ApiError ? error.code : "ERROR";
  return h("div", { class: "error", role: "alert" },
    h("strong", {}, code), " ", error.message || String(error));
}

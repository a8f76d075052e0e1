// A registered version's model files, as the server resolves them (cairn.server.
// model_files_api: a run's artifacts, a logged model's folder, any allowed location).
import { ApiError, cairn, cairnUrl } from "./api.js";

/** `{url(file), mlmodel}` for version `v` of model `name`: the MLmodel file as JSON (its
 * signature parsed), or `{missing}` (a sentence) when the version's folder holds none. */
export async function modelFiles(name, v) {
  const url = (path) => cairnUrl("model-versions/artifact", { name, version: v.version, path });
  try {
    const { mlmodel } = await cairn("model-versions/mlmodel", { name, version: v.version });
    return { url, mlmodel };
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 400)) {
      return { missing: `No MLmodel file at ${v.source || "this version's source"}: ${e.message}` };
    }
    throw e;
  }
}

/** The text of a model file; null when there is none (404). */
export async function readFile(files, path) {
  const response = await fetch(files.url(path), { credentials: "same-origin" });
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.text();
}

/** `signature: {inputs, outputs, params}`, each a list or null. */
export function signatureOf(mlmodel) {
  const signature = mlmodel?.signature || {};
  const list = (x) => (Array.isArray(x) ? x : null);
  return { inputs: list(signature.inputs), outputs: list(signature.outputs), params: list(signature.params) };
}

/** A column of a signature as [name, type, required]: named columns (a DataFrame's) or a
 * tensor (dtype and shape). */
export function describeColumn(spec) {
  if (spec?.type === "tensor") {
    const tensor = spec["tensor-spec"] || {};
    return [spec.name || "(tensor)", `tensor ${tensor.dtype || "?"} [${(tensor.shape || []).join(", ")}]`, spec.required !== false];
  }
  const type = typeof spec?.type === "string" ? spec.type : JSON.stringify(spec?.type ?? spec?.items ?? "");
  return [spec?.name ?? "(unnamed)", type, spec?.required !== false];
}

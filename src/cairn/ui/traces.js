// Traces as MLflow 3's REST API says them, turned into plain objects the views draw.
// Tolerant by design: proto field names or their camelCase JSON names, enums by name or by
// number, ids in base64 (OTLP's proto3 JSON) or hex, so the views depend on no one printer.
import { getV3, postV3 } from "./api.js";

export const TRACE_NAME_TAG = "mlflow.traceName";
export const TOKEN_USAGE = "mlflow.trace.tokenUsage";
export const SPAN_TYPE = "mlflow.spanType";
export const SPAN_INPUTS = "mlflow.spanInputs";
export const SPAN_OUTPUTS = "mlflow.spanOutputs";

const TRACE_STATES = ["STATE_UNSPECIFIED", "OK", "ERROR", "IN_PROGRESS"];
const STATUS_CODES = ["UNSET", "OK", "ERROR"];

/** `obj.snake_case` or `obj.snakeCase`, whichever the printer wrote. */
export function field(obj, name) {
  if (!obj) return undefined;
  if (obj[name] !== undefined) return obj[name];
  return obj[name.replace(/_([a-z])/g, (_m, c) => c.toUpperCase())];
}

/** One page of an experiment's traces, newest first: {traces: [info…], next}. */
export async function searchTraces(experimentId, filter, pageToken, maxResults = 50) {
  const answer = await postV3("traces/search", {
    locations: [{ type: "MLFLOW_EXPERIMENT", mlflow_experiment: { experiment_id: String(experimentId) } }],
    filter: filter || undefined, max_results: maxResults, order_by: ["timestamp_ms DESC"], page_token: pageToken || undefined,
  });
  return { traces: (answer.traces || []).map(traceInfo), next: field(answer, "next_page_token") || null };
}

/** One trace with its spans: {info, spans}. */
export async function getTrace(traceId) {
  const answer = await getV3("traces/get", { trace_id: traceId });
  const trace = answer.trace || answer;
  return { info: traceInfo(field(trace, "trace_info") || field(trace, "info") || {}), spans: (trace.spans || []).map(span) };
}

/** The filter that keeps a run's traces (MLflow's client sends the same for `run_id=`). */
export function runFilter(runId) {
  return `attribute.run_id = '${String(runId).replace(/'/g, "")}'`;
}

/** TraceInfoV3 (or v2's TraceInfo) → {id, time (ms), durationMs, state, name, tokens, …}. */
export function traceInfo(raw) {
  const metadata = mapOf(field(raw, "trace_metadata") ?? field(raw, "request_metadata"));
  const tags = mapOf(field(raw, "tags"));
  return {
    id: field(raw, "trace_id") ?? field(raw, "request_id") ?? "",
    time: timeMs(field(raw, "request_time") ?? field(raw, "timestamp_ms")),
    durationMs: durationMs(field(raw, "execution_duration") ?? field(raw, "execution_time_ms")),
    state: enumName(field(raw, "state") ?? field(raw, "status"), TRACE_STATES, ["TRACE_STATUS_"]),
    name: tags[TRACE_NAME_TAG] || "",
    request: field(raw, "request_preview") ?? metadata["mlflow.traceInputs"] ?? "",
    response: field(raw, "response_preview") ?? metadata["mlflow.traceOutputs"] ?? "",
    tokens: tokenUsage(metadata[TOKEN_USAGE]),
    metadata, tags,
    assessments: (field(raw, "assessments") || []).map(assessment),
  };
}

/** An OTLP span (proto3 JSON) → {id, parentId, name, start, end (BigInt ns), status, attributes, events}. */
export function span(raw) {
  const status = field(raw, "status") || {};
  const attributes = attributeMap(field(raw, "attributes"));
  return {
    id: hexId(field(raw, "span_id")),
    parentId: hexId(field(raw, "parent_span_id")) || null,
    name: field(raw, "name") || "",
    start: nanos(field(raw, "start_time_unix_nano")),
    end: nanos(field(raw, "end_time_unix_nano")),
    status: enumName(field(status, "code"), STATUS_CODES, ["STATUS_CODE_"]),
    statusMessage: field(status, "message") || "",
    type: typeof attributes[SPAN_TYPE] === "string" ? attributes[SPAN_TYPE] : "",
    attributes,
    events: (field(raw, "events") || []).map((e) => ({
      name: field(e, "name") || "", time: nanos(field(e, "time_unix_nano")), attributes: attributeMap(field(e, "attributes")),
    })),
  };
}

function assessment(raw) {
  const feedback = field(raw, "feedback");
  const expectation = field(raw, "expectation");
  const serialized = field(expectation, "serialized_value");
  const source = field(raw, "source") || {};
  return {
    name: field(raw, "assessment_name") || field(raw, "name") || "",
    kind: feedback ? "feedback" : expectation ? "expectation" : "",
    value: feedback ? feedback.value : expectation ? (expectation.value ?? field(serialized, "value")) : undefined,
    error: field(feedback, "error") ?? field(raw, "error"),
    rationale: field(raw, "rationale") || "",
    source: [field(source, "source_type"), field(source, "source_id")].filter(Boolean).join(": "),
    spanId: field(raw, "span_id") || "",
    time: timeMs(field(raw, "create_time")),
  };
}

/** A map as the printers write one: an object, or a list of {key, value}. */
function mapOf(value) {
  if (Array.isArray(value)) return Object.fromEntries(value.map((x) => [x.key, x.value]));
  return value && typeof value === "object" ? value : {};
}

/** OTLP attributes `[{key, value: AnyValue}]` → {key: decoded}; MLflow's own attribute
 * values are JSON text inside the string, so a string that parses as JSON is parsed. */
function attributeMap(list) {
  const out = {};
  for (const item of Array.isArray(list) ? list : Object.entries(list || {}).map(([key, value]) => ({ key, value }))) {
    out[item.key] = unjson(anyValue(item.value));
  }
  return out;
}

function anyValue(v) {
  if (v === null || typeof v !== "object") return v;
  for (const name of ["string_value", "bool_value", "double_value", "bytes_value"]) {
    const x = field(v, name);
    if (x !== undefined) return x;
  }
  const int = field(v, "int_value");
  if (int !== undefined) return Number.isSafeInteger(Number(int)) ? Number(int) : String(int);
  const array = field(v, "array_value");
  if (array) return (array.values || []).map(anyValue);
  const kv = field(v, "kvlist_value");
  if (kv) return Object.fromEntries((kv.values || []).map((x) => [x.key, anyValue(x.value)]));
  return v;
}

function unjson(value) {
  if (typeof value !== "string") return value;
  try { return JSON.parse(value); } catch { return value; }
}

/** `"OK"`, `"STATUS_CODE_OK"` or `1` → "OK". */
function enumName(value, names, prefixes) {
  if (typeof value === "number") return names[value] || String(value);
  let text = String(value ?? "").toUpperCase();
  for (const p of prefixes) if (text.startsWith(p)) text = text.slice(p.length);
  if (text === "UNSPECIFIED") return names[0];
  return text || names[0];
}

/** A span or trace id: hex stays hex; base64 (OTLP's proto3 JSON for bytes) becomes hex. */
export function hexId(value) {
  if (!value) return "";
  const text = String(value);
  if (/^([0-9a-f]{16}|[0-9a-f]{32})$/i.test(text)) return text.toLowerCase();
  try {
    return [...atob(text)].map((c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("");
  } catch {
    return text;
  }
}

function nanos(value) {
  if (value === undefined || value === null || value === "") return null;
  try { return BigInt(String(value).split(".")[0]); } catch { return null; }
}

/** RFC 3339 text or epoch milliseconds → epoch milliseconds. */
function timeMs(value) {
  if (value === undefined || value === null || value === "") return null;
  if (typeof value === "number" || /^\d+$/.test(String(value))) return Number(value);
  const ms = Date.parse(value);
  return isNaN(ms) ? null : ms;
}

/** Protobuf's Duration JSON ("0.002s") or milliseconds → milliseconds. */
function durationMs(value) {
  if (value === undefined || value === null || value === "") return null;
  if (typeof value === "number") return value;
  const text = String(value);
  const n = parseFloat(text);
  if (isNaN(n)) return null;
  return text.endsWith("s") ? n * 1000 : n;
}

function tokenUsage(text) {
  const usage = unjson(text);
  if (!usage || typeof usage !== "object") return null;
  const pick = (k) => (typeof usage[k] === "number" ? usage[k] : null);
  const out = { input: pick("input_tokens"), output: pick("output_tokens"), total: pick("total_tokens") };
  if (out.total === null && out.input !== null && out.output !== null) out.total = out.input + out.output;
  return out.input === null && out.output === null && out.total === null ? null : out;
}

/** "850 ms", "2.41 s", "3m 5s". */
export function formatMs(ms) {
  if (ms === null || ms === undefined || isNaN(ms)) return "";
  if (ms === 0) return "< 1 ms";  // MLflow's durations are whole milliseconds
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(2)} s`;
  return `${Math.floor(ms / 60000)}m ${Math.round((ms % 60000) / 1000)}s`;
}

/** A value as text to read: strings as they are, anything else as indented JSON. */
export function asText(value) {
  if (value === undefined) return "";
  if (typeof value === "string") return value;
  try { return JSON.stringify(value, null, 2); } catch { return String(value); }
}

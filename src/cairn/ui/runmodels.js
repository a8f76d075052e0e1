// Which registered model versions each run produced, asked for the rows on screen only:
// one `model-versions/search` with `run_id IN (...)` per batch, never one call per row.
import { get } from "./api.js";

const BATCH = 50;        // run ids per call: about 2 KB of URL
const SETTLE_MS = 80;    // while a table scrolls, ask for where it stops, not every frame
const PENDING = Symbol("pending");

export class RunModels {
  /** `onChange()` is called when answers arrive (the table redraws its rows). */
  constructor(onChange) {
    this.known = new Map();  // run id → [{name, version}] | PENDING | Error
    this.wanted = [];
    this.timer = 0;
    this.onChange = onChange;
  }

  /** The versions of a run: a list, undefined while unknown, or an Error. */
  of(runId) {
    const value = this.known.get(runId);
    return value === PENDING ? undefined : value;
  }

  /** The runs now on screen: those not known yet are asked for once the table settles. */
  want(runIds) {
    this.wanted = runIds.filter((id) => !this.known.has(id));
    if (!this.wanted.length || this.timer) return;
    this.timer = setTimeout(() => { this.timer = 0; this.fetch(); }, SETTLE_MS);
  }

  async fetch() {
    const ids = this.wanted.filter((id) => !this.known.has(id));
    this.wanted = [];
    for (const id of ids) this.known.set(id, PENDING);
    const batches = [];
    for (let i = 0; i < ids.length; i += BATCH) batches.push(ids.slice(i, i + BATCH));
    await Promise.all(batches.map((batch) => this.fetchBatch(batch)));
    this.onChange();
  }

  async fetchBatch(ids) {
    const found = new Map(ids.map((id) => [id, []]));
    try {
      for await (const version of searchVersions(ids)) found.get(version.run_id)?.push(version);
      for (const [id, versions] of found) this.known.set(id, versions.sort(byNameAndVersion));
    } catch (error) {
      for (const id of ids) this.known.set(id, error);
    }
  }
}

async function* searchVersions(ids) {
  // Run ids are hex; a quote would end the string, so such an id is left out, not escaped.
  const list = ids.filter((id) => !/['\\]/.test(id)).map((id) => `'${id}'`).join(", ");
  if (!list) return;
  let token;
  do {
    const page = await get("model-versions/search", { filter: `run_id IN (${list})`, max_results: 1000, page_token: token });
    yield* page.model_versions || [];
    token = page.next_page_token;
  } while (token);
}

function byNameAndVersion(a, b) {
  return a.name === b.name ? Number(a.version) - Number(b.version) : a.name < b.name ? -1 : 1;
}

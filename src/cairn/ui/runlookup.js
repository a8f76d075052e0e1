// Runs by id, wherever they are: runs/search needs experiment ids, so it is asked over every
// experiment the user may read (experiments/search answers only those).
import { post } from "./api.js";

const PAGE = 1000;

/** The runs (as runs/search answers them) among `ids` that exist and may be read. */
export async function findRuns(ids) {
  const wanted = [...new Set(ids)];
  if (!wanted.length) return [];
  const { experiments = [] } = await post("experiments/search", { max_results: PAGE });
  const quoted = wanted.map((id) => `'${id.replace(/'/g, "")}'`).join(", ");
  const answer = await post("runs/search", { filter: `attributes.run_id IN (${quoted})`, max_results: PAGE,
    experiment_ids: experiments.map((e) => e.experiment_id) });
  return answer.runs || [];
}

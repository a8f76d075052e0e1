// Entry point: registers the pages with the router, and MLflow's URL shapes as redirects.
import { errorBox } from "./api.js";
import { href, listParam, redirect, route, start } from "./router.js";
import { experimentsPage } from "./experiments.js";
import { runsPage } from "./runs.js";
import { runPage } from "./run.js";
import { chartsPage } from "./charts.js";
import { comparePage } from "./compare.js";
import { modelsPage, modelPage, modelVersionPage } from "./registry.js";
import { showAccount, tokensPage } from "./tokens.js";

route("", experimentsPage);
route("experiments/:id", runsPage);
route("runs/:id", runPage);
route("charts", chartsPage);
route("compare", comparePage);
route("models", modelsPage);
route("models/:name", modelPage);
route("models/:name/versions/:version", modelVersionPage);
route("tokens", tokensPage);

// MLflow's shapes: "View run … at: http://host:port/#/experiments/1/runs/<id>" and the rest.
const runs = (query) => listParam(query.get("runs")).join(",");
redirect("experiments", () => href(""));
redirect("experiments/:id/runs", ({ id }) => href("experiments", id));
redirect("experiments/:id/traces", ({ id }, query) => href("experiments", id, { tab: "traces", trace: query.get("selectedEvaluationId") }));
redirect("experiments/:id/s", ({ id }, query) => href("experiments", id, { filter: query.get("searchInput") }));
redirect("experiments/:id/runs/:run", ({ run }) => href("runs", run));
redirect("experiments/:id/runs/:run/artifacts/*", ({ run, rest }) => href("runs", run, { tab: "artifacts", path: rest }));
redirect("experiments/:id/runs/:run/:tab", ({ run, tab }) => href("runs", run, { tab: RUN_TABS[tab] || "overview" }));
redirect("compare-runs", (_p, query) => href("compare", { runs: runs(query) }));
redirect("metric", (_p, query) => href("charts", { runs: runs(query), key: listParam(query.get("metric"))[0] }));
redirect("metric/*", ({ rest }, query) => href("charts", { runs: runs(query), key: rest }));
redirect("models/:name/versions/:version/*", ({ name, version }) => href("models", name, "versions", version));

// MLflow's run-page tab names → ours.
const RUN_TABS = { overview: "overview", "model-metrics": "metrics", "system-metrics": "system", artifacts: "artifacts",
  traces: "traces", evaluations: "overview" };

showAccount(document.getElementById("account"));
start(document.getElementById("page"), (main, error) => main.replaceChildren(errorBox(error)));

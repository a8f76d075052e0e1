// Entry point: registers the pages with the router.
import { errorBox } from "./api.js";
import { route, start } from "./router.js";
import { experimentsPage } from "./experiments.js";
import { runsPage } from "./runs.js";
import { runPage } from "./run.js";
import { chartsPage } from "./charts.js";
import { comparePage } from "./compare.js";
import { modelsPage, modelPage } from "./registry.js";

route("", experimentsPage);
route("experiments/:id", runsPage);
route("runs/:id", runPage);
route("charts", chartsPage);
route("compare", comparePage);
route("models", modelsPage);
route("models/:name", modelPage);

start(document.getElementById("page"), (main, error) => main.replaceChildren(errorBox(error)));

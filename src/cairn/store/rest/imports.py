"""RestImports: the import writes of cairn.store.sql.imports, spoken to a `cairn server`
(its admin endpoints under `/api/2.0/cairn/import`, cairn.server.imports), so that
`cairn import … --to http://…` keeps identity as an import into a database does.

Same methods, same answers as SqlImports. Every write is idempotent on the server (what is
there, identical, is left alone), so every call is retried after transient failures. Metric
points go as columns per run and metric, at most POINTS_PER_REQUEST to a request; runs are
looked up RUNS_PER_REQUEST at a time. Under `--auth` the caller must be an administrator
(credentials as for any Cairn client: MLFLOW_TRACKING_USERNAME/PASSWORD, a token, or
user:password@ in the URI).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from cairn import wire
from cairn.entities import (
    DatasetInput,
    Experiment,
    LoggedModel,
    LoggedModelOutput,
    ModelVersion,
    RegisteredModel,
    Run,
)
from cairn.store.base import MetricPoint
from cairn.store.rest.http import HttpSession, shared_session

API = "/api/2.0/cairn/import"
POINTS_PER_REQUEST = 50_000
"""The most points a Cairn server takes in one call (cairn.server.imports.MAX_POINTS)."""
RUNS_PER_REQUEST = 500
"""The most runs a Cairn server looks up in one call (cairn.server.imports.MAX_RUNS)."""


class RestImports:
    """The import writes on the server at `uri`."""

    def __init__(self, uri: str, *, session: HttpSession | None = None) -> None:
        self.uri = uri
        self._http = session if session is not None else shared_session(uri.rstrip("/"))

    def _put(self, endpoint: str, **fields: Any) -> dict[str, Any]:
        body = {k: v for k, v in fields.items() if v is not None}
        return self._http.call("POST", API + endpoint, body, idempotent=True)

    def close(self) -> None:
        """Nothing to release: the connection pool is shared by the process (the artifact
        repositories that copy an import's files to the same server use it too)."""

    # -- experiments and runs --------------------------------------------------------------

    def put_experiment(self, experiment: Experiment) -> tuple[str, bool]:
        answer = self._put("/experiment", experiment=wire.experiment(experiment))
        return str(answer["experiment_id"]), bool(answer.get("created"))

    def runs_of(self, run_ids: Sequence[str]) -> dict[str, Run]:
        found: dict[str, Run] = {}
        for start in range(0, len(run_ids), RUNS_PER_REQUEST):
            answer = self._put("/runs-of", run_ids=list(run_ids[start : start + RUNS_PER_REQUEST]))
            for run in wire.parse_items(answer, "runs", wire.parse_run):
                found[run.info.run_id] = run
        return found

    def put_run(
        self, run: Run, experiment_id: str, artifact_uri: str | None
    ) -> tuple[str, list[str]]:
        """Returns (artifact URI, keys of params the target holds with other values)."""
        answer = self._put(
            "/run", run=wire.run(run), experiment_id=experiment_id, artifact_uri=artifact_uri
        )
        return str(answer["artifact_uri"]), [str(k) for k in answer.get("conflicts") or ()]

    def put_metric_points(self, points: Sequence[MetricPoint]) -> None:
        for start in range(0, len(points), POINTS_PER_REQUEST):
            self._put("/metric-points", series=_series(points[start : start + POINTS_PER_REQUEST]))

    def put_datasets(
        self, run_id: str, items: Sequence[DatasetInput], outputs: Sequence[DatasetInput]
    ) -> None:
        self._put(
            "/datasets",
            run_id=run_id,
            inputs=[wire.dataset_input(i) for i in items],
            outputs=[wire.dataset_input(o) for o in outputs],
        )

    def put_model_outputs(self, run_id: str, outputs: Sequence[LoggedModelOutput]) -> None:
        self._put("/model-outputs", run_id=run_id, models=[wire.model_output(o) for o in outputs])

    def finish_run(self, run: Run, deleted_time: int | None) -> None:
        self._put("/finish-run", run={"info": wire.run_info(run.info)}, deleted_time=deleted_time)

    # -- logged models and the registry ----------------------------------------------------

    def put_logged_model(
        self, model: LoggedModel, experiment_id: str, artifact_uri: str | None
    ) -> tuple[str, bool]:
        answer = self._put(
            "/logged-model",
            model=wire.logged_model(model),
            experiment_id=experiment_id,
            artifact_uri=artifact_uri,
        )
        return str(answer["artifact_uri"]), bool(answer.get("created"))

    def put_registered_model(self, model: RegisteredModel) -> bool:
        # Its versions (and their aliases) come with put_model_version.
        bare = replace(model, latest_versions=(), aliases={})
        answer = self._put("/registered-model", registered_model=wire.registered_model(bare))
        return bool(answer.get("created"))

    def put_model_version(self, version: ModelVersion) -> bool:
        answer = self._put("/model-version", model_version=wire.model_version(version))
        return bool(answer.get("created"))


def _series(points: Sequence[MetricPoint]) -> list[dict[str, Any]]:
    """Points as `[{run_id, key, values, timestamps, steps}]`, one entry per run and metric,
    in the order they first appear (NaN and ±inf as MLflow's JSON spells them)."""
    by_metric: dict[tuple[str, str], dict[str, Any]] = {}
    for run_id, key, value, timestamp, step in points:
        series = by_metric.get((run_id, key))
        if series is None:
            series = by_metric[(run_id, key)] = {
                "run_id": run_id,
                "key": key,
                "values": [],
                "timestamps": [],
                "steps": [],
            }
        series["values"].append(wire.encode_double(value))
        series["timestamps"].append(timestamp)
        series["steps"].append(step)
    return list(by_metric.values())

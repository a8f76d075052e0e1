"""RestTrackingStore: the TrackingStore contract over MLflow's REST API (`/api/2.0/mlflow`).

`cairn.set_tracking_uri("http://host:5000")` makes the fluent API and `Client` talk to a
`cairn server` (or an MLflow server) through this store. Semantics are the SQL store's,
because the server runs it: validation happens there and its errors come back as the same
CairnError subclasses. Metric values are checked here too, because JSON would blur them
("1.0" is a valid double on the wire, and NaN has no JSON spelling).

Calls that can be repeated safely (reads, searches, log-batch — the server stores an exact
repeat of a metric point once, a param with its same value is fine, tags upsert — and run
updates, which set absolute values) are retried after transient failures; creating and
deleting things is not, except creating a run with an id the client chose (a repeat
returns the run the first call made).

Idempotency keys travel in the `Idempotency-Key` header of log-batch (a Cairn server
honours it; an MLflow server ignores it). A keyed call sent as several requests gives each
its own key derived from the caller's (`<key>.<n>`, validation.idempotency_part), the same
every time the call is replayed with the same points.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cairn import wire
from cairn.entities import (
    DatasetInput,
    Experiment,
    ExperimentTag,
    Metric,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError
from cairn.store import validation as check
from cairn.store.base import SEARCH_MAX_RESULTS_DEFAULT, MetricPoint, TrackingStore
from cairn.store.rest.http import HttpSession, shared_session
from cairn.store.rest.logged_models import RestLoggedModels

API = "/api/2.0/mlflow"
IDEMPOTENCY_HEADER = "Idempotency-Key"
BATCH_POINTS = check.MAX_BATCH_METRICS  # the most metrics one log-batch may carry
HISTORY_PAGE = 25_000  # MLflow's client pages metric histories this size


class RestTrackingStore(RestLoggedModels, TrackingStore):
    """A tracking server's store, reached over HTTP(S).

    `artifact_root` is part of the store-builder protocol and unused: the server decides
    where experiments keep their artifacts (`mlflow-artifacts:/<id>` on a Cairn server)."""

    def __init__(
        self, uri: str, artifact_root: str | None = None, *, session: HttpSession | None = None
    ) -> None:
        self.uri = uri
        self._http = session if session is not None else shared_session(uri.rstrip("/"))

    @property
    def http(self) -> HttpSession:
        """The server's session (credentials, retries, pool), for Cairn's own endpoints."""
        return self._http

    def _get(self, endpoint: str, **fields: Any) -> dict[str, Any]:
        return self._http.call("GET", API + endpoint, fields)

    def _post(
        self,
        endpoint: str,
        idempotent: bool = False,
        headers: dict[str, str] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        body = {k: v for k, v in fields.items() if v is not None}
        return self._http.call("POST", API + endpoint, body, idempotent=idempotent, headers=headers)

    def close(self) -> None:
        """Nothing to release: the connection pool is shared by the process (artifact
        repositories on the same server use it too)."""

    # -- experiments -------------------------------------------------------------------------

    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Sequence[ExperimentTag] = (),
    ) -> str:
        answer = self._post(
            "/experiments/create",
            name=name,
            artifact_location=artifact_location,
            tags=wire.pairs(tags),
        )
        return str(answer["experiment_id"])

    def get_experiment(self, experiment_id: str) -> Experiment:
        answer = self._get("/experiments/get", experiment_id=experiment_id)
        return wire.parse_experiment(answer["experiment"])

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            answer = self._get("/experiments/get-by-name", experiment_name=name)
        except ResourceDoesNotExistError:
            return None  # MLflow's server answers 404; the contract answers None
        return wire.parse_experiment(answer["experiment"])

    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        answer = self._post(
            "/experiments/search",
            idempotent=True,
            view_type=ViewType(view_type).name,
            max_results=max_results,
            filter=filter_string or None,
            order_by=list(order_by) if order_by else None,
            page_token=page_token or None,
        )
        return wire.parse_page(answer, "experiments", wire.parse_experiment)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self._post("/experiments/update", experiment_id=experiment_id, new_name=new_name)

    def delete_experiment(self, experiment_id: str) -> None:
        self._post("/experiments/delete", experiment_id=experiment_id)

    def restore_experiment(self, experiment_id: str) -> None:
        self._post("/experiments/restore", experiment_id=experiment_id)

    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None:
        self._post(
            "/experiments/set-experiment-tag",
            experiment_id=experiment_id,
            key=tag.key,
            value=tag.value,
        )

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self._post("/experiments/delete-experiment-tag", experiment_id=experiment_id, key=key)

    # -- runs --------------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag],
        run_name: str | None,
        run_id: str | None = None,
    ) -> Run:
        """`run_id` is a Cairn field of runs/create: an MLflow server ignores it and makes
        an id of its own, which is the one returned."""
        answer = self._post(
            "/runs/create",
            # A chosen id makes a repeat return the same run: safe to send again.
            idempotent=run_id is not None,
            run_id=None if run_id is None else check.client_run_id(run_id),
            experiment_id=experiment_id,
            user_id=user_id,
            start_time=start_time,
            tags=wire.pairs(tags),
            run_name=run_name or None,
        )
        return wire.parse_run(answer["run"])

    def get_run(self, run_id: str) -> Run:
        return wire.parse_run(self._get("/runs/get", run_id=run_id, run_uuid=run_id)["run"])

    def update_run_info(
        self,
        run_id: str,
        run_status: RunStatus | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        status = RunStatus.parse(run_status).value if run_status is not None else None
        answer = self._post(
            "/runs/update",
            idempotent=True,  # absolute values: setting them twice is setting them once
            run_id=run_id,
            run_uuid=run_id,
            status=status,
            end_time=end_time,
            run_name=run_name or None,
        )
        return wire.parse_run_info(answer["run_info"])

    def delete_run(self, run_id: str) -> None:
        self._post("/runs/delete", run_id=run_id)

    def restore_run(self, run_id: str) -> None:
        self._post("/runs/restore", run_id=run_id)

    def delete_tag(self, run_id: str, key: str) -> None:
        self._post("/runs/delete-tag", run_id=run_id, key=key)

    # -- logging -----------------------------------------------------------------------------

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        idempotency_key: str | None = None,
    ) -> None:
        key = None if idempotency_key is None else check.idempotency_key(idempotency_key)
        points = check.metric_points(run_id, metrics) if metrics else []
        self._log_batch(
            run_id,
            [_point(p) for p in points],
            wire.pairs(params),
            wire.pairs(tags),
            key,
        )

    def _log_batch(
        self,
        run_id: str,
        metrics: list[dict[str, Any]],
        params: list[dict[str, str]] | None = None,
        tags: list[dict[str, str]] | None = None,
        key: str | None = None,
    ) -> None:
        self._post(
            "/runs/log-batch",
            idempotent=True,
            headers=None if key is None else {IDEMPOTENCY_HEADER: key},
            run_id=run_id,
            metrics=metrics or None,
            params=params or None,
            tags=tags or None,
        )

    def log_metric_points(
        self, points: Sequence[MetricPoint], idempotency_key: str | None = None
    ) -> None:
        """One log-batch per run and 1,000 points. Points of a run the server refuses (gone,
        deleted) are skipped and named in the error raised after the others are stored.
        With a key, the n-th request (runs in order of first appearance) is keyed `<key>.<n>`."""
        key = None if idempotency_key is None else check.idempotency_key(idempotency_key)
        by_run: dict[str, list[dict[str, Any]]] = {}
        for point in points:
            by_run.setdefault(point[0], []).append(_point(point))
        refused: dict[str, str] = {}
        first_part = 0  # numbered by position alone, so a refusal never shifts later parts
        for run_id, encoded in by_run.items():
            starts = range(0, len(encoded), BATCH_POINTS)
            parts = range(first_part, first_part + len(starts))
            first_part += len(starts)
            try:
                for start, part in zip(starts, parts, strict=True):
                    part_key = None if key is None else check.idempotency_part(key, part)
                    self._log_batch(run_id, encoded[start : start + BATCH_POINTS], key=part_key)
            except (ResourceDoesNotExistError, InvalidParameterValueError) as error:
                refused[run_id] = error.message
        if refused:
            detail = ", ".join(f"{run_id} ({why})" for run_id, why in sorted(refused.items()))
            raise InvalidParameterValueError(
                f"Metrics for runs that are not active were not stored: {detail}"
            )

    def end_run(
        self,
        run_id: str,
        status: RunStatus,
        end_time: int,
        points: Sequence[MetricPoint] = (),
        idempotency_key: str | None = None,
    ) -> None:
        """The last points, then the end: two kinds of call over HTTP, not one transaction.
        A refused point does not keep the run from ending; its error is raised after.
        `idempotency_key` keys the points as log_metric_points does."""
        ended = RunStatus.parse(status)  # a bad status or end time is refused before writing
        check.integer("end_time", end_time, minimum=0)
        if idempotency_key is not None:
            check.idempotency_key(idempotency_key)
        refused: InvalidParameterValueError | None = None
        try:
            self.log_metric_points(points, idempotency_key)
        except InvalidParameterValueError as error:
            refused = error
        self.update_run_info(run_id, ended, end_time)
        if refused is not None:
            raise refused

    def get_metric_history(
        self,
        run_id: str,
        key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        """One page when `max_results` is given; else every point, fetched in pages."""
        if max_results is not None:
            return self._history_page(run_id, key, max_results, page_token)
        history: list[Metric] = []
        token = page_token
        while True:
            page = self._history_page(run_id, key, HISTORY_PAGE, token)
            history.extend(page)
            token = page.token
            if not token:
                return PagedList(history, None)

    def _history_page(
        self, run_id: str, key: str, max_results: int, page_token: str | None
    ) -> PagedList[Metric]:
        answer = self._get(
            "/metrics/get-history",
            run_id=run_id,
            run_uuid=run_id,
            metric_key=key,
            max_results=max_results,
            page_token=page_token or None,
        )
        return wire.parse_page(answer, "metrics", wire.parse_metric)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        ids = [experiment_ids] if isinstance(experiment_ids, str) else list(experiment_ids)
        answer = self._post(
            "/runs/search",
            idempotent=True,
            experiment_ids=ids,
            filter=filter_string or None,
            run_view_type=ViewType(run_view_type).name,
            max_results=max_results,
            order_by=list(order_by) if order_by else None,
            page_token=page_token or None,
        )
        return wire.parse_page(answer, "runs", wire.parse_run)

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        encoded = [wire.dataset_input(d) for d in datasets]
        self._post("/runs/log-inputs", run_id=run_id, datasets=encoded)

    def log_dataset_outputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        # Cairn's endpoint: MLflow's API has no dataset outputs.
        self._post(
            "/runs/log-dataset-outputs",
            idempotent=True,
            run_id=run_id,
            datasets=[wire.dataset_input(d) for d in datasets],
        )


def _point(point: MetricPoint) -> dict[str, Any]:
    _, key, value, timestamp, step = point
    return wire.metric_point(key, value, timestamp, step)

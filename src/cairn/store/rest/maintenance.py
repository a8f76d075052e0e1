"""Garbage collection on a `cairn server`, through its endpoints (cairn.server.maintenance_api):
the server removes the rows and the files behind its artifact proxy, which only it can reach.

`collect_remotely` asks for passes of at most BATCH_RUNS runs until the server says it is
done, so no call runs longer than an HTTP timeout allows, and reports each pass as it comes
(`cairn gc` prints progress). Neither call is retried after the server may have seen it: a
pass cut off mid-way leaves nothing half-done that a second `cairn gc` would not finish,
and a repeated purge would answer that the run does not exist. Credentials are the store's
(MLFLOW_TRACKING_USERNAME/PASSWORD, a token, or user:password@ in the URI); under `--auth`
collecting needs an administrator, purging MANAGE on the run's experiment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cairn.entities.gc import GcReport, GcRequest
from cairn.store.rest.tracking import RestTrackingStore
from cairn.wire.gc import report_from_json, request_to_json

API = "/api/2.0/cairn"
BATCH_RUNS = 100
"""Runs per pass (the server's default; it caps what it is asked at 1000)."""


def _post(store: RestTrackingStore, endpoint: str, body: dict[str, Any]) -> GcReport:
    # The store's own session: its credentials, TLS settings and connection pool.
    answer = store.http.call("POST", API + endpoint, body, idempotent=False)
    return report_from_json(answer)


def collect_remotely(
    store: RestTrackingStore,
    request: GcRequest,
    *,
    on_batch: Callable[[GcReport], None] | None = None,
    batch_runs: int = BATCH_RUNS,
) -> GcReport:
    """Collect on the server until it is done (a dry run: one call, which deletes nothing).

    Each later pass asks for what is left: retention was applied by the first, and the
    runs and experiments named in `request` that earlier passes removed are named no more
    (the server answers RESOURCE_DOES_NOT_EXIST for them); once all of them are gone, so is
    the work. A pass that removed nothing yet says it is not done ends the loop (a server
    that made no progress would make none on the next call either); the report then has
    `done` false.
    """
    body = request_to_json(request)
    if request.dry_run:
        report = _post(store, "/gc", body)
        if on_batch is not None:
            on_batch(report)
        return report
    narrowed = bool(request.run_ids or request.experiment_ids)
    total = GcReport(dry_run=False)
    while True:
        batch = _post(store, "/gc", {**body, "max_runs": batch_runs})
        if on_batch is not None:
            on_batch(batch)
        total.merge(batch)
        if batch.done or not (batch.runs or batch.experiments or batch.logged_models):
            return total
        body["apply_retention"] = False
        runs, experiments = set(batch.runs), set(batch.experiments)
        body["run_ids"] = [r for r in body["run_ids"] if r not in runs]
        body["experiment_ids"] = [e for e in body["experiment_ids"] if e not in experiments]
        if narrowed and not (body["run_ids"] or body["experiment_ids"]):
            total.done = True  # everything named is removed (asking for none asks for all)
            return total


def purge_run_remotely(store: RestTrackingStore, run_id: str) -> GcReport:
    """Remove one run for good on the server (an active one is deleted first); a run that a
    registered model version points to is kept: INVALID_PARAMETER_VALUE with the reason."""
    return _post(store, "/runs/purge", {"run_id": run_id})

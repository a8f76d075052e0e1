"""Garbage collection on the server's own store, under `/api/2.0/cairn` and
`/ajax-api/2.0/cairn`, so that `cairn gc --tracking-uri http://…` and the UI's "delete
permanently" remove what lies behind the artifact proxy (a folder or s3://…) as well as the
rows: only the server can reach its `artifacts_destination`.

* `POST /gc`: a cairn.wire.gc request, and `max_runs` (default DEFAULT_MAX_RUNS, at most
  MAX_RUNS) → a cairn.wire.gc report. A pass removes at most `max_runs` runs and answers
  `done: false` when more are left, so a store with a year of deleted runs is collected in
  calls that each end well within an HTTP timeout; the client repeats the call until
  `done`. A dry run deletes nothing and answers everything in one call. It removes any
  user's runs and experiments, so under `--auth` only administrators may call it.
* `POST /runs/purge` {run_id} → the report of removing that one run for good (an active
  run is deleted first). Under `--auth` it needs MANAGE on the run's experiment: it cannot
  be undone, so it asks more than deleting a run (EDIT) does, as MLflow's own auth asks
  MANAGE for deletes. A run a registered model version points to is kept: 400
  INVALID_PARAMETER_VALUE with the reason.

A server whose tracking store is not SQL answers NOT_IMPLEMENTED.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from cairn.exceptions import InvalidParameterValueError, NotImplementedByServerError
from cairn.maintenance.gc import collect_garbage, purge_run
from cairn.server.access import ADMIN, MANAGE, Access, Source
from cairn.server.context import Context
from cairn.server.messages import Message
from cairn.server.routes import Endpoint, build_routes
from cairn.server.ui_api import PREFIXES
from cairn.store import validation as check
from cairn.store.sql.tracking import SqlTrackingStore
from cairn.wire.gc import report_to_json, request_from_json

DEFAULT_MAX_RUNS = 100
"""Runs one `/gc` pass removes when the call does not say."""
MAX_RUNS = 1000
"""The most runs one `/gc` pass removes, whatever the call asks (more: capped)."""


def _store(ctx: Context) -> SqlTrackingStore:
    if not isinstance(ctx.tracking, SqlTrackingStore):
        raise NotImplementedByServerError(
            "This server's tracking store cannot collect garbage: it is not a SQL store."
        )
    return ctx.tracking


def _max_runs(msg: Message) -> int:
    value = msg.integer("max_runs", default=DEFAULT_MAX_RUNS)
    if value is None or value < 1:
        raise InvalidParameterValueError(
            f"Invalid value {value!r} for parameter 'max_runs': expected 1 or more."
        )
    return min(value, MAX_RUNS)


def collect(ctx: Context, msg: Message) -> dict[str, Any]:
    store = _store(ctx)
    request = request_from_json(msg.fields)
    if request.older_than_ms is not None:
        check.integer("older_than_ms", request.older_than_ms, minimum=0)  # and 64 bits
    for run_id in request.run_ids:
        check.run_id(run_id)
    for experiment_id in request.experiment_ids:
        check.experiment_id(experiment_id)
    max_runs = _max_runs(msg)
    report = collect_garbage(
        store,
        request,
        artifacts_destination=ctx.artifacts_destination,
        max_runs=None if request.dry_run else max_runs,
    )
    return report_to_json(report)


def purge(ctx: Context, msg: Message) -> dict[str, Any]:
    store = _store(ctx)
    run_id = check.run_id(msg.run_id())
    report = purge_run(store, run_id, artifacts_destination=ctx.artifacts_destination)
    return report_to_json(report)


ENDPOINTS = [
    Endpoint("POST", "/gc", collect, access=Access(ADMIN)),
    Endpoint("POST", "/runs/purge", purge, access=Access(MANAGE, Source.RUN)),
]


def routes(context: Context) -> list[Route]:
    return build_routes(ENDPOINTS, context, PREFIXES)

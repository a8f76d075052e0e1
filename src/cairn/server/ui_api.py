"""Cairn's own read endpoints for the web UI, under `/api/2.0/cairn` and `/ajax-api/2.0/cairn`.

MLflow's API has no downsampled history that keeps spikes (its bulk-interval call samples
points silently, MLflow #11444) and no exact export, so the UI gets these two:

* `GET /metrics/downsampled?run_ids=…&key=…&x_axis=step|timestamp|relative&x_min=&x_max=
  &buckets=1000`: per run, at most `buckets` points over the x range, each the min, max and
  last of its bucket (see cairn.store.downsample).
* `GET /metrics/export?run_id=…&key=…`: every stored point as CSV, streamed.
* `GET /metrics/grouped?experiment_ids=…&key=…&group_by=params.lr&filter=…&run_ids=…
  &buckets=200&x_min=&x_max=`: the runs of the experiments (matching MLflow's filter, and
  among `run_ids` when given) split by a param, a tag or the status
  (cairn.server.run_groups), and per group and step bucket how many runs have a value
  there and their mean, min, max and std, each run counting with its last finite point in
  the bucket (cairn.store.grouping). One request for 1,000 runs: the chart's "mean with a
  band" needs no history in the browser.
* `GET /model-versions/mlmodel` and `/model-versions/artifact`: a registered version's
  model files (cairn.server.model_files_api).
* `GET /artifacts/get?run_id=…&path=…`: one artifact of a run, wherever the run keeps its
  artifacts (a run logged to a local folder has a path, not a proxy URI, as its root).

And MLflow's API has no run count, so the experiments page gets

* `GET /experiments/run-counts?experiment_ids=1,2` (repeated or comma-separated; without
  it, every experiment holding runs): `{"counts": {"1": {"runs": n, "last_activity": ms}}}`
  over active runs, one GROUP BY where the store can (cairn.store.base.RunCounts). With
  `--auth` each listed experiment needs READ and only readable ones are answered.

And the registry page offers only the changes its user may make, after

* `GET /registered-models/permission?name=…`: `{"permission": "READ"|"EDIT"|"MANAGE",
  "can_read", "can_update", "can_manage"}`. Without `--auth` everyone MANAGEs; with it the
  call needs READ on the model and the auth middleware answers the caller's own grant
  (cairn.server.registry_auth).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import KW_ONLY, dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from cairn import wire
from cairn.entities import Metric, ViewType
from cairn.exceptions import InvalidParameterValueError
from cairn.server.access import READ, Access, Effect, Source
from cairn.server.artifacts_api import get_run_artifact
from cairn.server.context import Context
from cairn.server.messages import Message
from cairn.server.model_files_api import get_mlmodel, get_model_artifact
from cairn.server.registry_auth import permission_answer
from cairn.server.routes import Endpoint, EndpointRoute, build_routes
from cairn.server.run_groups import find_groups
from cairn.store import downsample, grouping
from cairn.store import validation as check
from cairn.store.base import (
    DownsampledHistory,
    GroupedMetricHistory,
    RunCount,
    RunCounts,
    TrackingStore,
)

PREFIXES = ("/api/2.0/cairn", "/ajax-api/2.0/cairn")
MAX_RUNS = 100  # as MLflow's get-history-bulk-interval
DEFAULT_BUCKETS = 1000
DEFAULT_GROUP_BUCKETS = 200  # a mean and its band read well at one point per 3-5 pixels
# Series are computed side by side: SQLite and the drivers release the GIL while they work.
_SERIES_THREADS = 4
_EXPORT_PAGE = 10_000
_RELATIVE_UNIT = 1000  # the store counts milliseconds, the UI's relative axis seconds


def downsampled_metrics(ctx: Context, msg: Message) -> dict[str, Any]:
    run_ids = run_ids_of(msg)
    key = msg.string("key", required=True) or ""
    axis = msg.string("x_axis") or downsample.STEP
    buckets = msg.integer("buckets", default=DEFAULT_BUCKETS) or 0
    downsample.check_request(axis, buckets)
    unit = _RELATIVE_UNIT if axis == downsample.RELATIVE else 1
    x_min = _bound(msg, "x_min", unit, math.ceil)
    x_max = _bound(msg, "x_max", unit, math.floor)

    def one(run_id: str) -> dict[str, Any]:
        series = downsampled_history(ctx.tracking, run_id, key, axis, buckets, x_min, x_max)
        return downsampled_series(series, axis, unit)

    if len(run_ids) == 1:
        return {"series": [one(run_ids[0])]}
    with ThreadPoolExecutor(min(len(run_ids), _SERIES_THREADS)) as pool:
        return {"series": list(pool.map(one, run_ids))}


def downsampled_series(
    series: downsample.DownsampledSeries, axis: str, x_unit: int = 1
) -> dict[str, Any]:
    """One downsampled history; the store's integer x divided by `x_unit` (1000 on the
    relative axis: the store counts milliseconds, the UI seconds)."""
    return {
        "run_id": series.run_id,
        "key": series.key,
        "x_axis": axis,
        "points": [_bucket(b, x_unit) for b in series.points],
        "total_points": series.total_points,
        "non_finite_points": series.non_finite_points,
        "downsampled": series.downsampled,
    }


def _bucket(b: downsample.MetricBucket, x_unit: int) -> dict[str, Any]:
    return {
        "x": b.x if x_unit == 1 else b.x / x_unit,
        "min": b.min,
        "max": b.max,
        "last": b.last,
        "step": b.step,
        "timestamp": b.timestamp,
        "count": b.count,
        "non_finite": b.non_finite,
    }


def run_ids_of(msg: Message) -> list[str]:
    """The call's `run_ids`, repeated or comma-separated (1 to MAX_RUNS, repeats dropped);
    the auth middleware reads them the same way."""
    given = wire.parse_strings("run_ids", msg.repeated("run_ids"))
    run_ids = list(dict.fromkeys(r for value in given for r in value.split(",") if r))
    if not run_ids:
        raise InvalidParameterValueError("Missing value for required parameter 'run_ids'.")
    if len(run_ids) > MAX_RUNS:
        raise InvalidParameterValueError(
            f"At most {MAX_RUNS} runs per call; {len(run_ids)} were given."
        )
    return run_ids


def downsampled_history(
    store: TrackingStore,
    run_id: str,
    key: str,
    axis: str,
    buckets: int,
    x_min: int | None = None,
    x_max: int | None = None,
) -> downsample.DownsampledSeries:
    """The store's own downsampling when it has it, else the generic one over the history."""
    if isinstance(store, DownsampledHistory):
        return store.downsample_metric_history(run_id, key, axis, buckets, x_min, x_max)
    history = store.get_metric_history(run_id, key)
    return downsample.from_history(run_id, key, history, axis, buckets, x_min, x_max)


def _bound(msg: Message, name: str, unit: int, to_int: Callable[[float], int]) -> int | None:
    """A zoom bound in the store's integer x (points lie on integers, so a fractional bound
    rounds inwards)."""
    raw = msg.string(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw) * unit
    except ValueError:
        raise InvalidParameterValueError(f"Invalid value {raw!r} for parameter '{name}'.") from None
    if not math.isfinite(value):
        raise InvalidParameterValueError(f"Invalid value {raw!r} for parameter '{name}'.")
    return to_int(value)


# -- one metric over groups of runs -----------------------------------------------------------


def grouped_metrics(ctx: Context, msg: Message) -> dict[str, Any]:
    experiment_ids = experiment_ids_of(msg)
    if not experiment_ids:
        raise InvalidParameterValueError("Missing value for required parameter 'experiment_ids'.")
    key = msg.string("key", required=True) or ""
    group_by = msg.string("group_by")
    buckets = msg.integer("buckets", default=DEFAULT_GROUP_BUCKETS) or 0
    downsample.check_request(downsample.STEP, buckets)
    x_min = _bound(msg, "x_min", 1, math.ceil)
    x_max = _bound(msg, "x_max", 1, math.floor)
    run_ids = run_ids_of(msg) if msg.repeated("run_ids") else None
    for experiment_id in experiment_ids:
        ctx.tracking.get_experiment(experiment_id)  # RESOURCE_DOES_NOT_EXIST when unknown
    groups = find_groups(ctx.tracking, experiment_ids, msg.string("filter"), run_ids, group_by)
    series = grouped_history(ctx.tracking, groups.run_ids, key, buckets, x_min, x_max)
    return {
        "key": key,
        "group_by": group_by or "",
        "x_axis": downsample.STEP,
        "bucket_width": series.width,
        "runs": groups.runs,
        "groups_left_out": groups.left_out,
        "groups": [
            _group_json(label, ids, stats)
            for label, ids, stats in zip(groups.labels, groups.run_ids, series.groups, strict=True)
        ],
    }


def grouped_history(
    store: TrackingStore,
    groups: Sequence[Sequence[str]],
    key: str,
    buckets: int,
    x_min: int | None = None,
    x_max: int | None = None,
) -> grouping.GroupedSeries:
    """The store's own aggregation when it has it, else the generic one over the histories."""
    if isinstance(store, GroupedMetricHistory):
        return store.group_metric_history(groups, key, buckets, x_min, x_max)
    histories = [[_rows(store, run_id, key) for run_id in group] for group in groups]
    return grouping.from_histories(histories, buckets, x_min, x_max)


def _rows(store: TrackingStore, run_id: str, key: str) -> list[downsample.Row]:
    """A run's whole history, a page at a time."""
    rows: list[downsample.Row] = []
    token = None
    while True:
        page = store.get_metric_history(run_id, key, _EXPORT_PAGE, token)
        rows += [grouping.row_of(m.step, m.timestamp, m.value) for m in page]
        token = page.token
        if token is None:
            return rows


def _group_json(
    label: str | None, run_ids: Sequence[str], stats: Sequence[grouping.BucketStats]
) -> dict[str, Any]:
    """Columns, not one object per bucket: what plotly draws, in a third of the bytes."""
    return {
        "value": label,
        "runs": len(run_ids),
        "x": [b.x for b in stats],
        "count": [b.count for b in stats],
        "mean": [b.mean for b in stats],
        "min": [b.min for b in stats],
        "max": [b.max for b in stats],
        "std": [b.std for b in stats],
    }


# -- run counts per experiment ------------------------------------------------------------

_COUNT_PAGE = 10_000
MAX_EXPERIMENTS = 1000


def run_counts(ctx: Context, msg: Message) -> dict[str, Any]:
    ids = experiment_ids_of(msg)
    counts = count_runs(ctx.tracking, ids or None)
    return {
        "counts": {e: {"runs": c.runs, "last_activity": c.last_activity} for e, c in counts.items()}
    }


def experiment_ids_of(msg: Message) -> list[str]:
    """The call's `experiment_ids`, repeated or comma-separated, checked (may be empty);
    the auth middleware reads them the same way."""
    given = wire.parse_strings("experiment_ids", msg.repeated("experiment_ids"))
    ids = list(dict.fromkeys(e.strip() for value in given for e in value.split(",") if e.strip()))
    if len(ids) > MAX_EXPERIMENTS:
        raise InvalidParameterValueError(
            f"At most {MAX_EXPERIMENTS} experiments per call; {len(ids)} were given."
        )
    return [check.experiment_id(e) for e in ids]


def count_runs(store: TrackingStore, experiment_ids: Sequence[str] | None) -> dict[str, RunCount]:
    """The store's own count when it has it, else paging through `search_runs`."""
    if isinstance(store, RunCounts):
        return store.count_runs(experiment_ids)
    if experiment_ids is None:
        experiment_ids = _all_experiments(store)
    counts: dict[str, RunCount] = {}
    for experiment_id in experiment_ids:
        runs, last, token = 0, None, None
        while True:
            page = store.search_runs(
                [experiment_id], None, ViewType.ACTIVE_ONLY, _COUNT_PAGE, None, token
            )
            runs += len(page)
            for run in page:
                times = [t for t in (run.info.start_time, run.info.end_time) if t is not None]
                if times and (last is None or max(times) > last):
                    last = max(times)
            token = page.token
            if token is None:
                break
        counts[experiment_id] = RunCount(runs, last)
    return counts


def _all_experiments(store: TrackingStore) -> list[str]:
    ids: list[str] = []
    token = None
    while True:
        page = store.search_experiments(ViewType.ACTIVE_ONLY, 1000, None, None, token)
        ids += [e.experiment_id for e in page]
        token = page.token
        if token is None:
            return ids


# -- the caller's permission on a registered model -----------------------------------------


def model_permission(ctx: Context, msg: Message) -> dict[str, Any]:
    """Everything, as far as this handler knows: it knows no users (see the module's doc)."""
    name = msg.string("name", required=True) or ""
    ctx.models.get_registered_model(name)  # RESOURCE_DOES_NOT_EXIST for an unknown model
    return permission_answer("MANAGE")


# -- the exact history as CSV -------------------------------------------------------------


async def export_metric(ctx: Context, request: Request) -> Response:
    msg = await Message.read(request)
    run_id = msg.run_id()
    key = msg.string("key", required=True) or ""
    # The first page is read before answering, so an unknown run is a 404, not a cut stream.
    first = await run_in_threadpool(ctx.tracking.get_metric_history, run_id, key, _EXPORT_PAGE)
    lines = _csv_lines(ctx.tracking, run_id, key, first, first.token)
    filename = _filename(run_id, key)
    return StreamingResponse(
        lines,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _csv_lines(
    store: TrackingStore, run_id: str, key: str, page: Sequence[Metric], token: str | None
) -> Iterator[bytes]:
    """`step,timestamp,value` then one line per point, a page of the history at a time
    (Starlette iterates this in a worker thread)."""
    yield b"step,timestamp,value\n"
    while True:
        yield "".join(f"{m.step},{m.timestamp},{_csv_value(m.value)}\n" for m in page).encode()
        if token is None:
            return
        page = store.get_metric_history(run_id, key, _EXPORT_PAGE, token)
        token = page.token


def _csv_value(value: float) -> str:
    """repr: the shortest text that reads back as the same double."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def _filename(run_id: str, key: str) -> str:
    # ASCII only: a header is Latin-1, and a key may be in any script.
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in key)
    return f"{run_id}-{safe}.csv"


# What each call needs under `--auth` (cairn.server.access).
_READ_RUN = Access(READ, Source.RUN)
_READ_MODEL = Access(READ, Source.REGISTERED_MODEL)

ENDPOINTS = [
    Endpoint(
        "GET", "/metrics/downsampled", downsampled_metrics, access=Access(READ, Source.RUN_IDS)
    ),
    # Runs are searched only within the listed experiments: READ on each of them covers all.
    Endpoint(
        "GET",
        "/metrics/grouped",
        grouped_metrics,
        access=Access(READ, Source.COUNTED_EXPERIMENTS),
    ),
    Endpoint(
        "GET",
        "/experiments/run-counts",
        run_counts,
        access=Access(READ, Source.COUNTED_EXPERIMENTS, Effect.READABLE_EXPERIMENTS),
    ),
    Endpoint(
        "GET",
        "/registered-models/permission",
        model_permission,
        access=Access(READ, Source.REGISTERED_MODEL, Effect.OWN_MODEL_PERMISSION),
    ),
    Endpoint("GET", "/model-versions/mlmodel", get_mlmodel, access=_READ_MODEL),
]
DownloadHandler = Callable[[Context, Request], Awaitable[Response]]


@dataclass(frozen=True)
class Download:
    """A GET endpoint that answers its own Response (a stream or a file, not JSON)."""

    path: str
    handler: DownloadHandler
    _: KW_ONLY
    access: Access


DOWNLOADS = [
    Download("/metrics/export", export_metric, access=_READ_RUN),
    Download("/artifacts/get", get_run_artifact, access=_READ_RUN),
    Download("/model-versions/artifact", get_model_artifact, access=_READ_MODEL),
]


def routes(context: Context) -> list[Route]:
    """The JSON endpoints through the shared route table; downloads answer their own
    Response (a stream, not JSON)."""
    found = build_routes(ENDPOINTS, context, PREFIXES)
    for download in DOWNLOADS:
        serve = _download(download.handler, context)
        accesses = {"GET": download.access}
        found += [EndpointRoute(p + download.path, serve, accesses) for p in PREFIXES]
    return found


def _download(
    handler: DownloadHandler, context: Context
) -> Callable[[Request], Awaitable[Response]]:
    async def serve(request: Request) -> Response:
        return await handler(context, request)

    return serve

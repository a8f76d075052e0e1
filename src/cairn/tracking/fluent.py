"""The fluent API: an active run per thread, and `log_*` helpers that find it.

`log_metric` is the hot path (millions of calls in a training loop): it validates a key
once per session, then hands a tuple to the batcher. Everything else is a direct call
through the session's `Client`. The state all of this keeps is the process's
`FluentSession` (cairn.tracking.session).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from cairn import env
from cairn.entities import Experiment, Run, RunData, RunInfo, RunStatus, RunTag, ViewType
from cairn.exceptions import InvalidParameterValueError, InvalidStateError
from cairn.store import validation as check
from cairn.tracking import metric_values, session

if TYPE_CHECKING:
    from concurrent.futures import Future

    import pandas

    from cairn import data
    from cairn.entities import Dataset as DatasetEntity
    from cairn.store.base import MetricPoint
    from cairn.tracking.client import Client
    from cairn.tracking.shared_capture import SharedCapture
    from cairn.tracking.system_metrics import SystemMetricsSampler

PARENT_RUN_TAG = "mlflow.parentRunId"
NOTE_TAG = "mlflow.note.content"
DEFAULT_EXPERIMENT_ID = "0"
SEARCH_MAX_RESULTS_PANDAS = 100_000


class ActiveRun:
    """The run `start_run` returned; as a context manager it ends the run on exit
    (FINISHED, or FAILED when the block raised)."""

    __slots__ = ("info", "data", "inputs", "_capture_job", "_sampler")

    def __init__(self, run: Run, capture: SharedCapture | None = None) -> None:
        self.info = run.info
        self.data = run.data
        self.inputs = run.inputs
        self._sampler: SystemMetricsSampler | None = None
        # Storing the capture (folders, files, late tags) overlaps with the run's own work.
        self._capture_job: Future[None] | None = None
        if capture is not None and not capture.has_nothing_to_store():
            current = session.current()
            self._capture_job = current.background().submit(
                self._store_capture, capture, current.client()
            )

    def start_system_metrics(self) -> None:
        from cairn.tracking.system_metrics import SystemMetricsSampler

        run_id = self.info.run_id
        self._sampler = SystemMetricsSampler(
            lambda metrics, step: log_metrics(metrics, step=step, run_id=run_id)
        ).start()

    def finish_capture(self) -> None:
        """Stop sampling, and wait until the capture is stored (raising what it raised)."""
        if self._sampler is not None:
            self._sampler.stop()
        if self._capture_job is not None:
            self._capture_job.result()

    def _store_capture(self, capture: SharedCapture, client: Client) -> None:
        late = capture.result().late_tags()
        missing = {k: v for k, v in late.items() if self.data.tags.get(k) != v}
        if missing:
            client.log_batch(self.info.run_id, tags=[RunTag(k, v) for k, v in missing.items()])
        folder = capture.folder()
        if folder is not None:
            client.log_capture_files(
                self.info.run_id, self.info.artifact_uri, folder, capture.files()
            )

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        failed = exc_type is not None and not issubclass(exc_type, (SystemExit, GeneratorExit))
        end_run(RunStatus.FAILED.value if failed else RunStatus.FINISHED.value)


_time_ns = time.time_ns
_process = session.process  # the hot path reads the session off it, without a call
_log = logging.getLogger(__name__)
_INT64_MIN, _INT64_END = -(2**63), 2**63


# -- configuration -----------------------------------------------------------------------------


def set_tracking_uri(uri: str | os.PathLike[str]) -> None:
    """Send everything after this call to `uri` (sqlite:///…, postgresql://…, mysql+pymysql://…,
    http(s)://…, or a folder)."""
    text = os.fspath(uri)
    if "://" not in text:  # a plain folder, as MLflow accepts: SQLite inside it
        text = f"sqlite:///{os.path.abspath(os.path.join(text, 'cairn.db'))}"
    session.switch(text)


def get_tracking_uri() -> str:
    return session.current().tracking_uri


def current_client() -> Client:
    """The Client of the fluent API's tracking URI."""
    return session.current().client()


def set_experiment(
    experiment_name: str | None = None, experiment_id: str | None = None
) -> Experiment:
    """Make an experiment the default for new runs, creating it (by name) if needed."""
    client = current_client()
    if experiment_id is not None:
        experiment = client.get_experiment(str(experiment_id))
    elif experiment_name is not None:
        found = client.get_experiment_by_name(experiment_name)
        if found is None:
            from cairn.exceptions import ResourceAlreadyExistsError

            try:
                client.create_experiment(experiment_name)
            except ResourceAlreadyExistsError:
                pass  # another process created it meanwhile
            found = client.get_experiment_by_name(experiment_name)
            assert found is not None
        experiment = found
    else:
        raise InvalidParameterValueError("set_experiment needs experiment_name or experiment_id.")
    if experiment.lifecycle_stage != "active":
        raise InvalidParameterValueError(
            f"Cannot set the deleted experiment '{experiment.name}' as the active experiment. "
            "Restore it or choose another."
        )
    session.current().experiment_id = experiment.experiment_id
    return experiment


def _current_experiment_id() -> str:
    chosen = session.current().experiment_id
    if chosen is not None:
        return chosen
    name = os.environ.get("CAIRN_EXPERIMENT_NAME")
    if name:
        return set_experiment(name).experiment_id
    return os.environ.get("CAIRN_EXPERIMENT_ID") or DEFAULT_EXPERIMENT_ID


# -- runs --------------------------------------------------------------------------------------


def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    tags: Mapping[str, Any] | None = None,
    description: str | None = None,
    log_system_metrics: bool | None = None,
) -> ActiveRun:
    """Start a run (or resume `run_id`) and make it the active run of this thread.

    The run is tagged with who ran which code (script, git commit, branch, remote, dirty
    flag); the script, the uncommitted diff and the environment are stored as artifacts by
    the time it ends. `log_system_metrics=True` (or CAIRN_LOG_SYSTEM_METRICS) samples CPU,
    memory, disk, network and GPU as `system/*` metrics.

    Example:
        >>> with cairn.start_run(run_name="baseline") as run:
        ...     cairn.log_metric("loss", 0.3, step=1)
    """
    current = session.current()
    stack = current.local.runs
    if stack and not nested:
        raise InvalidStateError(
            f"Run {stack[-1].info.run_id} is already active. End it with cairn.end_run(), "
            "or start a nested run with start_run(nested=True)."
        )
    client = current.client()
    capture = None
    if run_id is not None:
        run = _resume(client, run_id)
    else:
        # Nested runs get the tags but not the files: their parent already holds them.
        capture = None if stack else current.shared_capture()
        parent = stack[-1].info.run_id if stack else None
        run_tags = _start_tags(tags, description, parent, capture)
        experiment = str(experiment_id) if experiment_id is not None else _current_experiment_id()
        run = _create_run(current, experiment, run_tags, run_name)
    active = ActiveRun(run, capture)
    if log_system_metrics if log_system_metrics is not None else env.log_system_metrics():
        active.start_system_metrics()
    stack.append(active)
    current.local.run_id = current.last_run_id = active.info.run_id
    if env.async_logging_enabled():
        current.metric_batcher()  # its writer starts now, not in the first log_metric
    session.install_exit_hooks(_end_all_runs)
    return active


def _create_run(
    current: session.FluentSession, experiment_id: str, tags: dict[str, str], name: str | None
) -> Run:
    """Create the run with an id made here, so that it can start while the store is
    unreachable: then its creation waits in the journal, and so does everything it logs."""
    journal = current.journal()
    from cairn.maintenance.run_owner import HEARTBEAT_TAG, OWNER_TAG, this_process
    from cairn.provenance.user import USER_TAG, current_user
    from cairn.store import run_names
    from cairn.store.ids import new_run_id
    from cairn.tracking.client import now_ms

    run_id, start_time = new_run_id(), now_ms()
    # Who runs it and its first heartbeat, so that a sweep can tell when its process is gone.
    owner = this_process(env.heartbeat_seconds())
    liveness = {OWNER_TAG: owner.tag(), HEARTBEAT_TAG: str(start_time)}
    tags = {USER_TAG: current_user(), **tags, **liveness}
    run_name = name or tags.get(run_names.RUN_NAME_TAG) or run_names.generate()
    applied, created = journal.call(
        "create_run",
        experiment_id=experiment_id,
        start_time=start_time,
        tags=tags,
        run_name=run_name,
        run_id=run_id,
    )
    if applied:
        run: Run = created
    else:
        info = RunInfo(
            run_id=run_id,
            experiment_id=experiment_id,
            run_name=run_name,
            user_id=tags[USER_TAG],
            status=RunStatus.RUNNING.value,
            start_time=start_time,
            end_time=None,
            artifact_uri="",
            lifecycle_stage="active",
        )
        run = Run(info, RunData(tags={**tags, run_names.RUN_NAME_TAG: run_name}))
    journal.opened(run.info.run_id, run.info.start_time)
    current.start_heartbeat()
    return run


def _resume(client: Client, run_id: str) -> Run:
    run = client.get_run(run_id)
    if run.info.lifecycle_stage != "active":
        raise InvalidParameterValueError(f"Cannot resume run {run_id}: it is deleted.")
    client.update_run(run_id, status=RunStatus.RUNNING.value)
    return client.get_run(run_id)


def _start_tags(
    tags: Mapping[str, Any] | None,
    description: str | None,
    parent_id: str | None,
    capture: SharedCapture | None,
) -> dict[str, str]:
    if capture is not None:
        run_tags = capture.known_tags()
    else:
        from cairn.provenance.source import source_tags

        run_tags = source_tags()
    run_tags.update({k: str(v) for k, v in (tags or {}).items()})
    if parent_id is not None:
        run_tags[PARENT_RUN_TAG] = parent_id
    if description is not None:
        run_tags[NOTE_TAG] = description
    return run_tags


def active_run() -> ActiveRun | None:
    """The innermost run this thread started and has not ended, or None."""
    stack = session.current().local.runs
    return stack[-1] if stack else None


def last_active_run() -> Run | None:
    """The run most recently started in this process (active or ended), fresh from the store."""
    current = session.current()
    run_id = current.local.run_id or current.last_run_id
    return None if run_id is None else current.client().get_run(run_id)


def end_run(status: str = RunStatus.FINISHED.value) -> None:
    """Store buffered metrics and mark the active run ended with `status` (one transaction)."""
    current = session.current()
    stack = current.local.runs
    if not stack:
        return
    active = stack.pop()
    run_id = active.info.run_id
    current.local.run_id = stack[-1].info.run_id if stack else None
    from cairn.tracking.client import now_ms

    try:
        active.finish_capture()
    except Exception:
        _log.warning("Could not store the source and environment of run %s.", run_id, exc_info=True)
    ended = RunStatus.parse(status).value
    end_time = now_ms()
    batcher = current.batcher
    journal = current.journal()

    def finish(points: list[MetricPoint]) -> None:
        journal.end(run_id, ended, end_time, points)

    if batcher is None:
        finish([])
    else:
        batcher.flush(finish)


def get_run(run_id: str) -> Run:
    return current_client().get_run(run_id)


def get_experiment(experiment_id: str) -> Experiment:
    return current_client().get_experiment(experiment_id)


def get_experiment_by_name(name: str) -> Experiment | None:
    return current_client().get_experiment_by_name(name)


def create_experiment(
    name: str, artifact_location: str | None = None, tags: Mapping[str, Any] | None = None
) -> str:
    return current_client().create_experiment(name, artifact_location, tags)


def run_id_for_logging() -> str:
    """The active run, starting one as MLflow does when code logs with none active."""
    run_id = session.current().local.run_id
    if run_id is None:
        run_id = start_run().info.run_id
    return run_id


# -- logging -----------------------------------------------------------------------------------


def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    synchronous: bool | None = None,
    timestamp: int | None = None,
    run_id: str | None = None,
    model_id: str | None = None,
    dataset: data.Dataset | DatasetEntity | None = None,
) -> None:
    """Log one metric point. Buffered: stored in the background within a second, or at
    `flush()` / `end_run()` / exit; `synchronous=True` stores it before returning.

    `value` may be a number, a NumPy scalar or one-element array, or a one-element tensor:
    a CUDA tensor's value is copied to the host asynchronously and read by the background
    writer, so logging `loss` every step does not wait for the GPU as `loss.item()` does.

    `model_id` makes the point a metric of that logged model too (MLflow 3), and `dataset`
    records what it was measured on (and logs the dataset as a run input); such points are
    stored before returning, or journaled while the store cannot be reached."""
    current = _process.session or session.current()
    if run_id is None:
        run_id = current.local.run_id or run_id_for_logging()
    if key not in current.checked_keys:
        current.checked_keys.add(check.validate_key("Metric", key))
    if type(value) is not float:
        value = metric_values.metric_value(key, value)  # type: ignore[assignment]
    if timestamp is None:
        timestamp = _time_ns() // 1_000_000
    elif type(timestamp) is not int or not 0 <= timestamp < _INT64_END:
        timestamp = check.integer("timestamp", timestamp, minimum=0)
    if step is None:
        step = 0
    elif type(step) is not int or not _INT64_MIN <= step < _INT64_END:
        step = check.integer("step", step)
    batcher = current.batcher
    if batcher is None or synchronous or model_id is not None or dataset is not None:
        _log_now(current, (run_id, key, value, timestamp, step), synchronous, model_id, dataset)
        return
    if type(value) is not float:
        batcher.deferred = True
    batcher.log((run_id, key, value, timestamp, step))


def _log_now(
    current: session.FluentSession,
    point: MetricPoint,
    synchronous: bool | None,
    model_id: str | None = None,
    dataset: data.Dataset | DatasetEntity | None = None,
) -> None:
    """The points that are not simply buffered: stored now, with a model or dataset link,
    or through a batcher started here."""
    run_id, key, value, timestamp, step = point
    if model_id is not None or dataset is not None:
        from cairn.tracking.fluent_data import log_linked_metric

        log_linked_metric(run_id, (key, float(value), timestamp, step), model_id, dataset)
        return
    if synchronous or not env.async_logging_enabled():
        # Stored now while the store answers; journaled while it cannot be reached.
        current.journal().write_points([(run_id, key, float(value), timestamp, step)])
        return
    batcher = current.metric_batcher()
    session.install_exit_hooks(_end_all_runs)
    if type(value) is not float:
        batcher.deferred = True
    batcher.log(point)


def log_metrics(
    metrics: Mapping[str, float],
    step: int | None = None,
    synchronous: bool | None = None,
    run_id: str | None = None,
    timestamp: int | None = None,
    model_id: str | None = None,
    dataset: data.Dataset | DatasetEntity | None = None,
) -> None:
    """Log several metrics at one step (same timestamp); values, `model_id` and `dataset` as
    in `log_metric`. One buffered append for the whole dict."""
    if timestamp is None:
        timestamp = _time_ns() // 1_000_000
    current = _process.session or session.current()
    batcher = current.batcher
    if batcher is None or synchronous or model_id is not None or dataset is not None:
        for key, value in metrics.items():
            log_metric(key, value, step, synchronous, timestamp, run_id, model_id, dataset)
        return
    if run_id is None:
        run_id = current.local.run_id or run_id_for_logging()
    if type(timestamp) is not int or not 0 <= timestamp < _INT64_END:
        timestamp = check.integer("timestamp", timestamp, minimum=0)
    if step is None:
        step = 0
    elif type(step) is not int or not _INT64_MIN <= step < _INT64_END:
        step = check.integer("step", step)
    checked = current.checked_keys
    points = []
    for key, value in metrics.items():
        if key not in checked:
            checked.add(check.validate_key("Metric", key))
        if type(value) is not float:
            value = metric_values.metric_value(key, value)  # type: ignore[assignment]
            if type(value) is not float:
                batcher.deferred = True
        points.append((run_id, key, value, timestamp, step))
    batcher.log_many(points)


def log_param(key: str, value: Any, synchronous: bool | None = None) -> Any:
    """Log a param (stored now). Logging it again with another value raises
    INVALID_PARAMETER_VALUE and keeps the first value."""
    run_write("log_batch", run_id=run_id_for_logging(), params={key: str(value)})
    return value


def log_params(params: Mapping[str, Any], synchronous: bool | None = None) -> None:
    values = {k: str(v) for k, v in params.items()}
    run_write("log_batch", run_id=run_id_for_logging(), params=values)


def set_tag(key: str, value: Any, synchronous: bool | None = None) -> None:
    run_write("log_batch", run_id=run_id_for_logging(), tags={key: str(value)})


def set_tags(tags: Mapping[str, Any], synchronous: bool | None = None) -> None:
    values = {k: str(v) for k, v in tags.items()}
    run_write("log_batch", run_id=run_id_for_logging(), tags=values)


def delete_tag(key: str) -> None:
    run_write("delete_tag", run_id=run_id_for_logging(), key=key)


def run_write(name: str, **args: Any) -> None:
    """A run operation through the journal: stored now while the store answers (its
    refusals raise), journaled while it cannot be reached."""
    session.current().journal().call(name, **args)


def flush(timeout: float | None = None) -> bool:
    """Store every buffered metric; whether everything reached the store.

    While the store cannot be reached, what is buffered waits in the journal: `flush`
    returns False at once, or waits up to `timeout` seconds for the store to come back.
    Raises what the store refused (a deleted run, a changed param)."""
    current = session.current()
    if current.batcher is not None:
        current.batcher.flush()
    journal = current.started_journal
    return True if journal is None else journal.flush(timeout)


# -- search ------------------------------------------------------------------------------------


def search_runs(
    experiment_ids: Sequence[str] | None = None,
    filter_string: str = "",
    run_view_type: ViewType = ViewType.ACTIVE_ONLY,
    max_results: int = SEARCH_MAX_RESULTS_PANDAS,
    order_by: Sequence[str] | None = None,
    output_format: Literal["pandas", "list"] = "pandas",
    search_all_experiments: bool = False,
    experiment_names: Sequence[str] | None = None,
) -> pandas.DataFrame | list[Run]:
    """Runs matching MLflow's filter grammar, as a DataFrame (default) or a list of Runs.

    Example:
        >>> cairn.search_runs(experiment_names=["churn"],
        ...                   filter_string="metrics.accuracy > 0.9", order_by=["metrics.f1 DESC"])
    """
    if output_format not in ("pandas", "list"):
        raise InvalidParameterValueError(
            f"Unsupported output_format {output_format!r}: use 'pandas' or 'list'."
        )
    flush()
    client = current_client()
    ids = _search_experiment_ids(client, experiment_ids, experiment_names, search_all_experiments)
    if output_format == "list":
        return client.search_all_runs(ids, filter_string, run_view_type, max_results, order_by)
    from cairn.tracking.frames import to_frame

    return to_frame(
        client.search_runs_columns(ids, filter_string, run_view_type, max_results, order_by)
    )


def _search_experiment_ids(
    client: Client,
    experiment_ids: Sequence[str] | None,
    experiment_names: Sequence[str] | None,
    search_all: bool,
) -> list[str]:
    if experiment_ids:
        return (
            [experiment_ids]
            if isinstance(experiment_ids, str)
            else [str(e) for e in experiment_ids]
        )
    if experiment_names:
        found = (client.get_experiment_by_name(n) for n in experiment_names)
        return [e.experiment_id for e in found if e is not None]
    if search_all:
        return [
            e.experiment_id
            for e in client.search_experiments(view_type=ViewType.ALL, max_results=50_000)
        ]
    return [_current_experiment_id()]


# -- process exit --------------------------------------------------------------------------------


def _end_all_runs(status: str) -> None:
    """End this thread's open runs with `status` and store every buffered point (at exit)."""
    current = session.process.session
    if current is None:
        return
    try:
        while current.local.runs:
            end_run(status)
    finally:
        current.close_writers()

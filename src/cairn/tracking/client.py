"""`cairn.Client`: explicit and stateless; ids in, entities out (MLflow's MlflowClient)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence, Sized
from typing import TYPE_CHECKING, Any, TypeVar

from cairn.entities import (
    DATASET_CONTEXT_TAG,
    DatasetInput,
    Experiment,
    ExperimentTag,
    InputTag,
    LoggedModelMetric,
    Metric,
    PagedList,
    Param,
    Run,
    RunStatus,
    RunTag,
    ViewType,
)
from cairn.entities import Dataset as DatasetEntity
from cairn.entities.run_columns import RunColumns
from cairn.exceptions import InvalidParameterValueError
from cairn.provenance.user import USER_TAG, current_user
from cairn.store import validation as check
from cairn.store.base import (
    SEARCH_MAX_RESULTS_DEFAULT,
    ColumnarRunSearch,
    MetricPoint,
    TrackingStore,
)
from cairn.store.ids import new_run_id
from cairn.tracking.artifact_logging import ArtifactLogging
from cairn.tracking.logged_model_client import LoggedModelClient
from cairn.tracking.predictions import PredictionLogging
from cairn.tracking.registry import RegistryClient

if TYPE_CHECKING:
    from cairn import data
    from cairn.entities.gc import GcReport
    from cairn.store.uri import StoreCache

SEARCH_PAGE_MAX = 50_000  # the most runs one search request asks for


def now_ms() -> int:
    return int(time.time() * 1000)


def dataset_input(
    dataset: DatasetEntity | data.Dataset,
    context: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> DatasetInput:
    """What `log_input` stores: the dataset's entity, with `context` as the
    `mlflow.data.context` input tag and `tags` beside it."""
    if isinstance(dataset, DatasetEntity):
        entity = dataset
    elif hasattr(dataset, "to_entity"):
        entity = dataset.to_entity()
    else:
        raise InvalidParameterValueError(
            f"log_input takes a cairn.data Dataset or an entity, not {type(dataset)}."
        )
    input_tags = [InputTag(DATASET_CONTEXT_TAG, context)] if context is not None else []
    input_tags += [InputTag(str(k), str(v)) for k, v in (tags or {}).items()]
    return DatasetInput(entity, tuple(input_tags))


class Client(ArtifactLogging, LoggedModelClient, RegistryClient, PredictionLogging):
    """Talks to one tracking store.

    Example:
        >>> client = cairn.Client()
        >>> exp_id = client.create_experiment("churn")
        >>> run = client.create_run(exp_id)
        >>> client.log_metric(run.info.run_id, "auc", 0.91)
        >>> client.set_terminated(run.info.run_id)
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        registry_uri: str | None = None,
        *,
        stores: StoreCache | None = None,
    ) -> None:
        """`tracking_uri` defaults to the fluent API's (`cairn.set_tracking_uri`); stores come
        from the process's cache unless `stores` is given."""
        from cairn.tracking import session

        current = session.current()
        self.tracking_uri = tracking_uri or current.tracking_uri
        self.registry_uri = registry_uri
        self._stores = stores if stores is not None else current.stores
        self.store: TrackingStore = self._stores.tracking(self.tracking_uri)
        self._registry = None

    # -- experiments -----------------------------------------------------------------------

    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> str:
        """Create an experiment; returns its id."""
        experiment_tags = [ExperimentTag(k, str(v)) for k, v in (tags or {}).items()]
        return self.store.create_experiment(name, artifact_location, experiment_tags)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.store.get_experiment(experiment_id)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return self.store.get_experiment_by_name(name)

    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        return self.store.search_experiments(
            view_type, max_results, filter_string, order_by, page_token
        )

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self.store.rename_experiment(experiment_id, new_name)

    def delete_experiment(self, experiment_id: str) -> None:
        self.store.delete_experiment(experiment_id)

    def restore_experiment(self, experiment_id: str) -> None:
        self.store.restore_experiment(experiment_id)

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        self.store.set_experiment_tag(experiment_id, ExperimentTag(key, str(value)))

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self.store.delete_experiment_tag(experiment_id, key)

    # -- runs ------------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: Mapping[str, Any] | None = None,
        run_name: str | None = None,
        run_id: str | None = None,
    ) -> Run:
        """Create a RUNNING run in the experiment; `mlflow.user` names who started it.

        `run_id` (32 lowercase hex digits) gives the run that id, so that a create replayed
        from a journal is a no-op: an existing run of that id in the same experiment is
        returned unchanged. Without one, the id is made here, as the fluent API makes it: a
        create whose answer was lost (a server killed behind a load balancer) is then safe
        to send again. Over HTTP to an MLflow server, the id is the server's choice."""
        run_tags = {k: str(v) for k, v in (tags or {}).items()}
        user = run_tags.setdefault(USER_TAG, current_user())
        return self.store.create_run(
            experiment_id=str(experiment_id),
            user_id=user,
            start_time=now_ms() if start_time is None else start_time,
            tags=[RunTag(k, v) for k, v in run_tags.items()],
            run_name=run_name,
            run_id=run_id or new_run_id(),
        )

    def get_run(self, run_id: str) -> Run:
        return self.store.get_run(run_id)

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        self.store.update_run_info(run_id, RunStatus.parse(status) if status else None, None, name)

    def set_terminated(
        self,
        run_id: str,
        status: str | None = None,
        end_time: int | None = None,
        last_points: Sequence[MetricPoint] = (),
        idempotency_key: str | None = None,
    ) -> None:
        """End a run: FINISHED unless another terminal status is given. `last_points` (the
        fluent API's final buffered metrics) are stored in the same transaction;
        `idempotency_key` makes a replay store none of them again."""
        self.store.end_run(
            run_id,
            RunStatus.parse(status or RunStatus.FINISHED),
            now_ms() if end_time is None else end_time,
            last_points,
            idempotency_key,
        )

    def delete_run(self, run_id: str) -> None:
        self.store.delete_run(run_id)

    def restore_run(self, run_id: str) -> None:
        self.store.restore_run(run_id)

    def purge_run(self, run_id: str) -> GcReport:
        """Remove a run for good: its rows, metric history, logged models and artifact
        files (an active run is deleted first). On a server, the server removes it (only it
        reaches the files behind its artifact proxy).

        Raises:
            InvalidParameterValueError: something keeps the run (a registered model version
                points to it, ...); the message says what, and nothing was changed.

        Example:
            >>> cairn.Client().purge_run(run.info.run_id).bytes  # bytes freed
        """
        # Imported here: the collector and the REST client's endpoints load on first use.
        from cairn.store.rest.tracking import RestTrackingStore
        from cairn.store.sql.tracking import SqlTrackingStore

        if isinstance(self.store, RestTrackingStore):
            from cairn.store.rest.maintenance import purge_run_remotely

            return purge_run_remotely(self.store, run_id)
        if isinstance(self.store, SqlTrackingStore):
            from cairn.maintenance.gc import purge_run

            return purge_run(self.store, run_id)
        raise InvalidParameterValueError("This tracking store cannot remove runs for good.")

    # -- logging ---------------------------------------------------------------------------

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
        synchronous: bool | None = None,
        dataset_name: str | None = None,
        dataset_digest: str | None = None,
        model_id: str | None = None,
    ) -> None:
        """Store one metric point now (the fluent API buffers; the Client writes through).

        With `model_id` the point also becomes a metric of that logged model (MLflow 3),
        measured on the dataset `dataset_name`/`dataset_digest` when given, so
        `search_logged_models(filter_string="metrics.<key> < …")` finds the model."""
        metric = Metric(key, value, now_ms() if timestamp is None else timestamp, step or 0)
        self.store.log_metric(run_id, metric)
        if model_id:
            point = LoggedModelMetric(
                metric.key,
                metric.value,
                metric.timestamp,
                metric.step,
                run_id,
                dataset_name or None,
                dataset_digest or None,
            )
            self.store.log_model_metrics(model_id, [point])

    def log_metric_points(
        self, points: Sequence[MetricPoint], idempotency_key: str | None = None
    ) -> None:
        """Store validated (run_id, key, value, timestamp, step) tuples of any runs in one
        transaction: the fluent API's batches. A key already seen makes the call a no-op."""
        self.store.log_metric_points(points, idempotency_key)

    def log_param(self, run_id: str, key: str, value: Any) -> Any:
        """Log a param; logging it again with another value raises INVALID_PARAMETER_VALUE."""
        self.store.log_param(run_id, Param(key, str(value)))
        return value

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self.store.set_tag(run_id, RunTag(key, str(value)))

    def delete_tag(self, run_id: str, key: str) -> None:
        self.store.delete_tag(run_id, key)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        idempotency_key: str | None = None,
    ) -> None:
        """Log many values; batches over MLflow's limits are split, as MLflow's client does.

        With `idempotency_key`, a key this run has seen makes the call a no-op; a split
        batch keys its n-th part `<key>.<n>`, the same on every replay."""
        params = [p if isinstance(p.value, str) else Param(p.key, str(p.value)) for p in params]
        tags = [t if isinstance(t.value, str) else RunTag(t.key, str(t.value)) for t in tags]
        if (
            len(metrics) <= check.MAX_BATCH_METRICS
            and len(params) <= check.MAX_BATCH_PARAMS
            and len(tags) <= check.MAX_BATCH_TAGS
            and len(metrics) + len(params) + len(tags) <= check.MAX_BATCH_ENTITIES
        ):
            self.store.log_batch(run_id, metrics, params, tags, idempotency_key=idempotency_key)
            return
        key = None if idempotency_key is None else check.idempotency_key(idempotency_key)
        parts: list[tuple[Sequence[Metric], Sequence[Param], Sequence[RunTag]]] = []
        for start in range(0, len(params), check.MAX_BATCH_PARAMS):
            parts.append(((), params[start : start + check.MAX_BATCH_PARAMS], ()))
        for start in range(0, len(tags), check.MAX_BATCH_TAGS):
            parts.append(((), (), tags[start : start + check.MAX_BATCH_TAGS]))
        for start in range(0, len(metrics), check.MAX_BATCH_METRICS):
            parts.append((metrics[start : start + check.MAX_BATCH_METRICS], (), ()))
        for n, (part_metrics, part_params, part_tags) in enumerate(parts):
            part_key = None if key is None else check.idempotency_part(key, n)
            self.store.log_batch(
                run_id, part_metrics, part_params, part_tags, idempotency_key=part_key
            )

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput] = ()) -> None:
        self.store.log_inputs(run_id, datasets)

    def log_input(
        self,
        run_id: str,
        dataset: DatasetEntity | data.Dataset,
        context: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        """Record that the run used `dataset`; `context` ("training", "eval", …) becomes the
        `mlflow.data.context` input tag. The dataset is stored once per experiment (by name
        and digest), however many runs log it.

        Example:
            >>> client.log_input(run_id, cairn.data.from_path("train.csv"), context="training")
        """
        self.store.log_inputs(run_id, [dataset_input(dataset, context, tags)])

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of a metric, ordered by step then timestamp."""
        return list(self.store.get_metric_history(run_id, key))

    def search_runs(
        self,
        experiment_ids: str | Sequence[str],
        filter_string: str = "",
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        """One page of runs matching MLflow's filter grammar; pass `.token` for the next."""
        ids = [experiment_ids] if isinstance(experiment_ids, str) else list(experiment_ids)
        return self.store.search_runs(
            ids, filter_string, run_view_type, max_results, order_by, page_token
        )

    def search_all_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
    ) -> list[Run]:
        """Up to `max_results` matching runs, read page after page."""

        def read(size: int, token: str | None) -> tuple[PagedList[Run], str | None]:
            page = self.search_runs(
                experiment_ids, filter_string, run_view_type, size, order_by, token
            )
            return page, page.token

        return [run for page in _pages(read, max_results if experiment_ids else 0) for run in page]

    def search_runs_columns(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
    ) -> RunColumns:
        """Up to `max_results` matching runs as columns, for a DataFrame: straight from the
        store's columnar search where it has one (no Run objects in between)."""
        store = self.store
        if not isinstance(store, ColumnarRunSearch):
            args = (filter_string, run_view_type, max_results, order_by)
            return RunColumns.from_runs(self.search_all_runs(experiment_ids, *args))
        ids = list(experiment_ids)

        def read(size: int, token: str | None) -> tuple[RunColumns, str | None]:
            return store.search_runs_columns(
                ids, filter_string, run_view_type, size, order_by, token
            )

        pages = _pages(read, max_results if ids else 0)
        return RunColumns.concat(pages) if pages else RunColumns()


PageT = TypeVar("PageT", bound=Sized)


def _pages(read: Callable[[int, str | None], tuple[PageT, str | None]], wanted: int) -> list[PageT]:
    """Pages from `read(size, token)` until `wanted` items are read or the last page came."""
    pages: list[PageT] = []
    token: str | None = None
    fetched = 0
    while fetched < wanted:
        page, token = read(min(wanted - fetched, SEARCH_PAGE_MAX), token)
        pages.append(page)
        fetched += len(page)
        if not token:
            break
    return pages

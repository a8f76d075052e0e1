"""The storage interface every backend implements (SQL here; REST with the server).

One contract suite in tests/store/ runs against each implementation, so semantics live
in one place: the store validates its input and raises `CairnError` subclasses.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from cairn.entities import (
    DatasetInput,
    Experiment,
    ExperimentTag,
    LoggedModel,
    LoggedModelMetric,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
    PagedList,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from cairn.entities.run_columns import RunColumns

if TYPE_CHECKING:  # annotations only; these load on first use, not with `import cairn`
    from cairn.entities import ModelVersion, ModelVersionEvent, RegisteredModel
    from cairn.entities.storage import ExperimentStorage, RunStorage
    from cairn.store.downsample import DownsampledSeries
    from cairn.store.grouping import GroupedSeries

#: One buffered metric point: (run_id, key, value, timestamp_ms, step). Plain tuples keep the
#: fluent hot path free of object construction.
MetricPoint = tuple[str, str, float, int, int]

SEARCH_MAX_RESULTS_DEFAULT = 1000
SEARCH_MAX_RESULTS_LIMIT = 50_000
LOGGED_MODELS_MAX_RESULTS_DEFAULT = 50  # the proto's default


class TrackingStore(abc.ABC):
    """Experiments, runs and everything logged to them."""

    # -- experiments ---------------------------------------------------------------------

    @abc.abstractmethod
    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Sequence[ExperimentTag] = (),
    ) -> str:
        """Create an experiment and return its id. A taken name (even a deleted
        experiment's) raises ResourceAlreadyExistsError."""

    @abc.abstractmethod
    def get_experiment(self, experiment_id: str) -> Experiment:
        """Return the experiment, deleted or not; unknown ids raise ResourceDoesNotExistError."""

    @abc.abstractmethod
    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """Return the experiment with this name, or None."""

    @abc.abstractmethod
    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        """Experiments matching the filter (attributes `name`, `experiment_id`,
        `creation_time`, `last_update_time`; `tags.<key>`), newest first by default."""

    @abc.abstractmethod
    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Rename an active experiment (a deleted one raises InvalidStateError)."""

    @abc.abstractmethod
    def delete_experiment(self, experiment_id: str) -> None:
        """Soft-delete the experiment and its runs."""

    @abc.abstractmethod
    def restore_experiment(self, experiment_id: str) -> None:
        """Undo delete_experiment, runs included."""

    @abc.abstractmethod
    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None:
        """Insert or overwrite one experiment tag."""

    @abc.abstractmethod
    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Remove a tag; a missing tag raises ResourceDoesNotExistError."""

    # -- runs ----------------------------------------------------------------------------

    @abc.abstractmethod
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag],
        run_name: str | None,
        run_id: str | None = None,
    ) -> Run:
        """Create a RUNNING run. A missing name is generated and stored as `mlflow.runName`.

        `run_id` (32 lowercase hex digits, else InvalidParameterValueError) makes the run
        take that id, so a create replayed from a journal names the same run: when a run with
        that id already exists in the same experiment it is returned unchanged (the replay is
        a no-op), in another experiment ResourceAlreadyExistsError is raised."""

    @abc.abstractmethod
    def get_run(self, run_id: str) -> Run:
        """Return the run with its latest metrics, params, tags and inputs."""

    @abc.abstractmethod
    def update_run_info(
        self,
        run_id: str,
        run_status: RunStatus | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        """Change status, end time or name (renaming also updates `mlflow.runName`)."""

    @abc.abstractmethod
    def delete_run(self, run_id: str) -> None:
        """Soft-delete a run."""

    @abc.abstractmethod
    def restore_run(self, run_id: str) -> None:
        """Undo delete_run."""

    @abc.abstractmethod
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        idempotency_key: str | None = None,
    ) -> None:
        """Log params, metrics and tags in one transaction: all of it or none of it.

        Exact repeats of a metric point are stored once; a param logged again with a
        different value raises InvalidParameterValueError and nothing is written.

        With `idempotency_key` (1-100 characters of `[A-Za-z0-9._:-]`, else
        InvalidParameterValueError) the batch is applied at most once per run: a key this
        run has seen makes the call a no-op that returns normally. The same key on another
        run is another key. Keys are remembered for at least 7 days."""

    @abc.abstractmethod
    def log_metric_points(
        self, points: Sequence[MetricPoint], idempotency_key: str | None = None
    ) -> None:
        """Store already-validated points of any number of runs in one transaction.

        This is the fluent API's hot path: no per-point objects, one bulk insert.
        `idempotency_key` makes a replay of the same points a no-op (as for log_batch; these
        keys belong to no one run, and end_run's keys are the same keys)."""

    @abc.abstractmethod
    def end_run(
        self,
        run_id: str,
        status: RunStatus,
        end_time: int,
        points: Sequence[MetricPoint] = (),
        idempotency_key: str | None = None,
    ) -> None:
        """Store buffered points (of any runs) and mark the run ended, in one transaction:
        the fluent `end_run` costs one round trip, not two.

        `idempotency_key` keys the points, as in log_metric_points: a replay stores none of
        them again. The end itself sets absolute values and is applied every time."""

    @abc.abstractmethod
    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a run tag; a missing tag raises ResourceDoesNotExistError."""

    @abc.abstractmethod
    def get_metric_history(
        self,
        run_id: str,
        key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        """Every point of one metric, ordered by step then timestamp."""

    @abc.abstractmethod
    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        """Runs matching MLflow's filter grammar, ordered, one page at a time."""

    @abc.abstractmethod
    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        """Record datasets a run used; a dataset is stored once per experiment (name, digest)."""

    @abc.abstractmethod
    def log_dataset_outputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        """Record datasets a run produced, such as its predictions (`run.outputs`); stored
        once per experiment (name, digest) like inputs. Not part of MLflow's API."""

    # -- logged models (MLflow 3) -----------------------------------------------------------

    @abc.abstractmethod
    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        model_type: str | None = None,
        creator_id: str | None = None,
    ) -> LoggedModel:
        """Create a PENDING model whose files go to `<experiment location>/models/<id>/artifacts`
        (MLflow's layout); a missing name is generated."""

    @abc.abstractmethod
    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        """The model with its tags, params and metrics; unknown or deleted ids raise
        ResourceDoesNotExistError (deleted ones are returned with `allow_deleted`)."""

    @abc.abstractmethod
    def finalize_logged_model(self, model_id: str, status: LoggedModelStatus) -> LoggedModel:
        """Mark the upload READY or UPLOAD_FAILED."""

    @abc.abstractmethod
    def delete_logged_model(self, model_id: str) -> None:
        """Soft-delete the model: it disappears from get and search."""

    @abc.abstractmethod
    def set_logged_model_tags(self, model_id: str, tags: Mapping[str, str]) -> None:
        """Insert or overwrite tags."""

    @abc.abstractmethod
    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        """Remove a tag; a missing tag raises ResourceDoesNotExistError."""

    @abc.abstractmethod
    def log_logged_model_params(self, model_id: str, params: Mapping[str, str]) -> None:
        """Add params; as for runs, a param logged again must keep its value."""

    @abc.abstractmethod
    def log_model_metrics(self, model_id: str, metrics: Sequence[LoggedModelMetric]) -> None:
        """Link metric points (usually a run's) to a model; exact repeats are stored once."""

    @abc.abstractmethod
    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        max_results: int = LOGGED_MODELS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        """Models of the experiments matching the filter (attributes `name`, `model_id`,
        `model_type`, `status`, `source_run_id`, `creation_timestamp`,
        `last_updated_timestamp`; `metrics.`, `params.`, `tags.`), newest first by default."""

    @abc.abstractmethod
    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        """Record that the run produced these models (`run.outputs.model_outputs`)."""

    # -- convenience built on the abstract methods ----------------------------------------

    def log_metric(self, run_id: str, metric: Metric) -> None:
        self.log_batch(run_id, metrics=[metric])

    def log_param(self, run_id: str, param: Param) -> None:
        self.log_batch(run_id, params=[param])

    def set_tag(self, run_id: str, tag: RunTag) -> None:
        self.log_batch(run_id, tags=[tag])

    def close(self) -> None:  # noqa: B027 - optional hook, most stores hold nothing to close
        """Release connections; the store must not be used afterwards."""


class ColumnarRunSearch(abc.ABC):
    """Optional capability: search results straight into columns, for DataFrames.

    Stores without it are served by `search_runs` and `RunColumns.from_runs`."""

    @abc.abstractmethod
    def search_runs_columns(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> tuple[RunColumns, str | None]:
        """One page of search_runs as columns, and the next page's token."""


class DownsampledHistory(abc.ABC):
    """Optional capability: a metric history cut into buckets keeping each one's min, max
    and last point, computed where the points are (for charts of long histories).

    Stores without it are served by `get_metric_history` and
    `cairn.store.downsample.from_history`, which defines the buckets."""

    @abc.abstractmethod
    def downsample_metric_history(
        self,
        run_id: str,
        key: str,
        axis: str,
        buckets: int,
        x_min: int | None = None,
        x_max: int | None = None,
    ) -> DownsampledSeries:
        """At most `buckets` points over `[x_min, x_max]` (default: the whole history) of
        `axis` ("step", "timestamp" in ms, "relative": ms since the series' first point).
        An unknown run raises ResourceDoesNotExistError."""


class GroupedMetricHistory(abc.ABC):
    """Optional capability: one metric over groups of runs, summarised per step bucket
    (count, mean, min, max, std of each run's last finite value there) in the database.

    Stores without it are served by `get_metric_history` and
    `cairn.store.grouping.from_histories`, which defines the statistics."""

    @abc.abstractmethod
    def group_metric_history(
        self,
        groups: Sequence[Sequence[str]],
        key: str,
        buckets: int,
        x_min: int | None = None,
        x_max: int | None = None,
    ) -> GroupedSeries:
        """Per group of run ids, at most `buckets` buckets over the steps `[x_min, x_max]`
        (default: every step any of the runs logged `key` at), one grid for all groups."""


@dataclasses.dataclass(frozen=True, slots=True)
class RunCount:
    """How many active runs an experiment holds, and when the newest of them last moved
    (the largest start or end time, ms; None without runs)."""

    runs: int
    last_activity: int | None


class RunCounts(abc.ABC):
    """Optional capability: active runs counted per experiment in one query (for the
    experiments page; MLflow's API has no count).

    Stores without it are served by paging `search_runs` (cairn.server.ui_api)."""

    @abc.abstractmethod
    def count_runs(self, experiment_ids: Sequence[str] | None = None) -> dict[str, RunCount]:
        """Counts of the given experiments (each given id answers, 0 without runs), or with
        None of every experiment holding active runs."""


class StorageAccounting(abc.ABC):
    """Optional capability: metric points and artifact bytes per run and experiment, kept
    as they are written, so reading them walks no artifact store (cairn.store.sql.storage).

    Points are counted by the store itself. Artifact bytes are reported by whoever writes
    the files: the Client writing to a folder or S3, the server's artifact proxy. A store
    without it (REST) records nothing: the server behind it does."""

    @abc.abstractmethod
    def add_artifact_usage(self, run_id: str, size_bytes: int, files: int) -> bool:
        """Add to a run's artifact figures (negative: files replaced or removed; a figure
        never goes below 0). False, and nothing recorded, when there is no such run."""

    @abc.abstractmethod
    def add_model_artifact_usage(self, model_id: str, size_bytes: int, files: int) -> bool:
        """The same for a logged model's files."""

    @abc.abstractmethod
    def experiment_storage(self, experiment_ids: Sequence[str]) -> dict[str, ExperimentStorage]:
        """Totals of each given experiment (zeros without runs), in one query per kind."""

    @abc.abstractmethod
    def run_storage(self, run_ids: Sequence[str]) -> dict[str, RunStorage]:
        """Figures of each given run that exists (unknown ids are left out)."""


REGISTERED_MODELS_MAX_RESULTS_DEFAULT = 100
REGISTERED_MODELS_MAX_RESULTS_LIMIT = 1000
MODEL_VERSIONS_MAX_RESULTS_DEFAULT = 10_000
MODEL_VERSIONS_MAX_RESULTS_LIMIT = 200_000


class RegistryStore(abc.ABC):
    """Registered models and their versions (MLflow's model registry), plus the history of
    every stage transition and alias move. `user_id` names who acted, for that history.

    Errors follow MLflow: unknown names and versions raise ResourceDoesNotExistError, a taken
    name ResourceAlreadyExistsError, anything malformed (a bad stage, a reserved alias, a
    source outside any run's or logged model's artifacts) InvalidParameterValueError."""

    # -- registered models --------------------------------------------------------------

    @abc.abstractmethod
    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
        user_id: str | None = None,
    ) -> RegisteredModel:
        """Names are non-empty and contain neither '/' nor ':'."""

    @abc.abstractmethod
    def get_registered_model(self, name: str) -> RegisteredModel: ...

    @abc.abstractmethod
    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Rename the model and all its versions."""

    @abc.abstractmethod
    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel: ...

    @abc.abstractmethod
    def delete_registered_model(self, name: str) -> None:
        """Delete the model, its versions, tags, aliases and history."""

    @abc.abstractmethod
    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = REGISTERED_MODELS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        """Filter on `name` (=, !=, LIKE, ILIKE) and `tags.<key>`; order by `name`,
        `timestamp`/`last_updated_timestamp` (both the last update, as MLflow); name ASC by
        default."""

    @abc.abstractmethod
    def set_registered_model_tag(self, name: str, key: str, value: str) -> None: ...

    @abc.abstractmethod
    def delete_registered_model_tag(self, name: str, key: str) -> None: ...

    @abc.abstractmethod
    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        """The highest version in each requested stage (every stage when None or empty)."""

    # -- model versions ------------------------------------------------------------------

    @abc.abstractmethod
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        model_id: str | None = None,
        user_id: str | None = None,
    ) -> ModelVersion:
        """The next version number (one more than any version ever created, deleted ones
        included), READY at once. Concurrent calls get distinct consecutive numbers."""

    @abc.abstractmethod
    def get_model_version(self, name: str, version: str) -> ModelVersion: ...

    @abc.abstractmethod
    def update_model_version(
        self, name: str, version: str, description: str | None
    ) -> ModelVersion: ...

    @abc.abstractmethod
    def transition_model_version_stage(
        self,
        name: str,
        version: str,
        stage: str,
        archive_existing_versions: bool = False,
        user_id: str | None = None,
    ) -> ModelVersion:
        """Move a version to a stage; with `archive_existing_versions` (Staging and
        Production only) every other version in that stage goes to Archived. Each move is
        recorded in the history."""

    @abc.abstractmethod
    def delete_model_version(self, name: str, version: str, user_id: str | None = None) -> None:
        """Delete the version and its aliases; its number is never reused."""

    @abc.abstractmethod
    def get_model_version_download_uri(self, name: str, version: str) -> str:
        """The version's stored `source`."""

    @abc.abstractmethod
    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = MODEL_VERSIONS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        """Filter on `name`, `version_number`, `run_id` (also IN), `source_path`,
        `current_stage`, `tags.<key>`; order by `name`, `version_number`,
        `creation_timestamp`, `last_updated_timestamp`; name ASC, version DESC by default."""

    @abc.abstractmethod
    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None: ...

    @abc.abstractmethod
    def delete_model_version_tag(self, name: str, version: str, key: str) -> None: ...

    # -- aliases and history -----------------------------------------------------------------

    @abc.abstractmethod
    def set_registered_model_alias(
        self, name: str, alias: str, version: str, user_id: str | None = None
    ) -> None:
        """Point `alias` at `version`, moving it if it exists. `latest` (any case) and
        `v<digits>` are reserved; aliases are `[A-Za-z0-9_-]`, at most 255 characters."""

    @abc.abstractmethod
    def delete_registered_model_alias(
        self, name: str, alias: str, user_id: str | None = None
    ) -> None: ...

    @abc.abstractmethod
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """`latest` is the highest version; an unknown alias raises
        InvalidParameterValueError (MLflow answers 400 here, not 404)."""

    @abc.abstractmethod
    def get_model_version_history(self, name: str, version: str) -> list[ModelVersionEvent]:
        """Every recorded event of the version, oldest first."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the store must not be used afterwards."""

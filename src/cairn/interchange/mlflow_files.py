"""An MLflow file store (an `mlruns` folder) read as an import source, without mlflow.

The layout, as MLflow 3 writes it (read from its file stores; nothing of mlflow is imported):

    <root>/<experiment id>/meta.yaml, tags/<key>       an experiment (.trash/<id>/: deleted)
    <experiment>/<run id>/meta.yaml                    a run (its status is MLflow's number)
        params/<key>  tags/<key>  metrics/<key>        keys holding "/" are nested folders
        inputs/<id>/meta.yaml                          a dataset input: <experiment>/datasets/<id>
        outputs/<model id>/meta.yaml                   a logged model the run produced
    <experiment>/models/<model id>/meta.yaml           a logged model, with params, tags, metrics
    <root>/models/<name>/meta.yaml, tags/, aliases/    a registered model (alias file: a version)
        version-<n>/meta.yaml, tags/                   its versions

A metric file holds a point a line, "timestamp value step" (the oldest lines lack the step;
dataset-linked ones add the dataset's name and digest; a logged model's lines add the run
id after the step). Values are spelled as Python writes floats (`nan`, `inf`, `-inf`).

Broken content never stops a read. A run's own trouble (a bad metric line, a finished run
with no end time) goes into its `SourceRun.problems`; an entity that cannot be read at all
(no meta.yaml, unparsable YAML) is left out and said so in `MLflowFileSource.problems`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import yaml

from cairn.artifact_paths import local_path_of
from cairn.artifact_store.base import ArtifactRepository
from cairn.artifact_store.uri import artifact_repository, scheme_of
from cairn.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    InputTag,
    LifecycleStage,
    LoggedModel,
    LoggedModelMetric,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
    ModelVersion,
    RegisteredModel,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
    RunStatus,
)
from cairn.entities.registry import ModelVersionStage, ModelVersionStatus
from cairn.exceptions import (
    CairnError,
    InvalidParameterValueError,
    ResourceDoesNotExistError,
)
from cairn.interchange.report import MAX_REASONS
from cairn.interchange.source import CHUNK_POINTS, SourceRun
from cairn.store.base import MetricPoint

META = "meta.yaml"
TRASH = ".trash"
#: The registry's folder at the root, and an experiment's logged models.
MODELS = "models"
#: Folders of an experiment that are not runs (MLflow's RESERVED_EXPERIMENT_FOLDERS).
NOT_RUNS = frozenset({"tags", "datasets", "traces", MODELS})
#: The stage MLflow's file registry gives a deleted version (it keeps the folder).
DELETED_VERSION_STAGE = "Deleted_Internal"
#: MLflow's LoggedModelStatus numbers; Cairn has no "unspecified", so 0 reads as pending.
MODEL_STATUS_NUMBERS = {
    0: LoggedModelStatus.PENDING,
    1: LoggedModelStatus.PENDING,
    2: LoggedModelStatus.READY,
    3: LoggedModelStatus.UPLOAD_FAILED,
}
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UnreadableError(Exception):
    """An entity's files cannot be read; the message says which and why."""


class MLflowFileSource:
    """Reads the MLflow file store at `path` (a folder, or a `file:` URI).

    `problems` lists what was left out because it could not be read (the first
    MAX_REASONS; `problem_count` counts them all). The import adds them to its report."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.root = os.path.abspath(local_path_of(os.fspath(path)))
        if not os.path.isdir(self.root):
            raise InvalidParameterValueError(
                f"No MLflow file store at {os.fspath(path)!r}: it is not a folder."
            )
        self.trash = os.path.join(self.root, TRASH)
        self.description = f"MLflow file store {self.root}"
        self.problems: list[str] = []
        self.problem_count = 0
        self._experiment_folders: dict[str, str] = {}
        #: The runs (and datasets) of the experiment listed last: where metric_history looks.
        self._run_folders: dict[str, str] = {}
        self._datasets: dict[str, Dataset] = {}

    def _problem(self, message: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_REASONS:
            self.problems.append(message)

    # -- experiments ------------------------------------------------------------------------

    def experiments(self) -> Iterator[Experiment]:
        seen: set[str] = set()
        for parent, deleted in ((self.root, False), (self.trash, True)):
            for name in self._experiment_names(parent):
                if name in seen:
                    self._problem(f"experiment {name}: in .trash and outside it; kept the live one")
                    continue
                seen.add(name)
                folder = os.path.join(parent, name)
                problems: list[str] = []
                try:
                    experiment = _experiment(folder, name, deleted, problems)
                except _UnreadableError as error:
                    self._problem(f"experiment {name} left out: {error}")
                    continue
                for problem in problems:
                    self._problem(f"experiment {name}: {problem}")
                self._experiment_folders[name] = folder
                yield experiment

    def _experiment_names(self, parent: str) -> list[str]:
        names = self._subfolders(parent)
        return [n for n in names if n not in (TRASH, MODELS)] if parent == self.root else names

    def _experiment_folder(self, experiment_id: str) -> str:
        if experiment_id not in self._experiment_folders:
            for parent in (self.root, self.trash):
                folder = os.path.join(parent, _plain_name(experiment_id))
                if os.path.isfile(os.path.join(folder, META)):
                    self._experiment_folders[experiment_id] = folder
                    break
            else:
                raise ResourceDoesNotExistError(f"No experiment {experiment_id} in {self.root}.")
        return self._experiment_folders[experiment_id]

    # -- runs -------------------------------------------------------------------------------

    def run_count(self) -> int | None:
        """The run folders of every experiment (a listing, not a read)."""
        return sum(
            sum(1 for name in self._subfolders(os.path.join(parent, experiment))
                if name not in NOT_RUNS)
            for parent in (self.root, self.trash)
            for experiment in self._experiment_names(parent)
        )  # fmt: skip

    def runs(self, experiment_id: str) -> Iterator[SourceRun]:
        experiment = self._experiment_folder(experiment_id)
        self._run_folders = {}
        self._datasets = {}
        for name in self._subfolders(experiment):
            if name in NOT_RUNS:
                continue
            folder = os.path.join(experiment, name)
            try:
                item = self._run(folder, experiment_id, experiment)
            except _UnreadableError as error:
                self._problem(f"run {name} of experiment {experiment_id} left out: {error}")
                continue
            self._run_folders[item.run_id] = folder
            yield item

    def _run(self, folder: str, experiment_id: str, experiment: str) -> SourceRun:
        meta = _meta(folder)
        run_id = str(meta.get("run_id") or meta.get("run_uuid") or "")
        if run_id != os.path.basename(folder):
            raise _UnreadableError(f"its meta.yaml names run {run_id!r}")
        problems: list[str] = []
        recorded = str(meta.get("experiment_id", experiment_id))
        if recorded != experiment_id:
            problems.append(f"meta.yaml says experiment {recorded}; imported into {experiment_id}")
        params = _values(os.path.join(folder, "params"), problems)
        tags = _values(os.path.join(folder, "tags"), problems)
        latest, keys, points = _scan_metrics(os.path.join(folder, "metrics"), problems)
        run = Run(
            _run_info(meta, run_id, experiment_id, tags, problems),
            RunData(latest, params, tags),
            RunInputs(self._dataset_inputs(folder, experiment, problems)),
            RunOutputs(_model_outputs(folder, problems)),
        )
        return SourceRun(run, _integer(meta.get("deleted_time")), keys, points, problems)

    def _dataset_inputs(
        self, run: str, experiment: str, problems: list[str]
    ) -> tuple[DatasetInput, ...]:
        found: list[DatasetInput] = []
        for entry, meta in _entries(os.path.join(run, "inputs"), problems):
            if meta.get("source_type") != "DATASET":
                problems.append(f"input {entry}: a {meta.get('source_type')} input, not kept")
                continue
            dataset_id = str(meta.get("source_id") or "")
            try:
                dataset = self._dataset(experiment, dataset_id)
            except _UnreadableError as error:
                problems.append(f"input {entry}: dataset {dataset_id!r} left out: {error}")
                continue
            tags = meta.get("tags")
            pairs = tags.items() if isinstance(tags, dict) else ()
            found.append(DatasetInput(dataset, tuple(InputTag(str(k), str(v)) for k, v in pairs)))
        return tuple(found)

    def _dataset(self, experiment: str, dataset_id: str) -> Dataset:
        if dataset_id not in self._datasets:
            if not _is_folder_name(dataset_id):
                raise _UnreadableError("not a dataset id")
            meta = _meta(os.path.join(experiment, "datasets", dataset_id))
            try:
                self._datasets[dataset_id] = Dataset(
                    name=str(meta["name"]),
                    digest=str(meta["digest"]),
                    source_type=str(meta["source_type"]),
                    source=str(meta["source"]),
                    schema=_text(meta.get("schema")),
                    profile=_text(meta.get("profile")),
                )
            except KeyError as missing:
                raise _UnreadableError(f"its meta.yaml has no {missing}") from None
        return self._datasets[dataset_id]

    def metric_history(self, run_id: str, key: str) -> Iterator[Sequence[MetricPoint]]:
        path = _inside(os.path.join(self._run_folder(run_id), "metrics"), key)
        chunk: list[MetricPoint] = []
        for _, line in _lines(path):
            try:
                m = _run_point(key, line)
                chunk.append((run_id, key, m.value, m.timestamp, m.step))
            except ValueError:
                continue  # reported with the run (its problems), when it was listed
            if len(chunk) == CHUNK_POINTS:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def _run_folder(self, run_id: str) -> str:
        if run_id in self._run_folders:
            return self._run_folders[run_id]
        name = _plain_name(run_id)
        for parent in (self.root, self.trash):
            for experiment in self._experiment_names(parent):
                folder = os.path.join(parent, experiment, name)
                if os.path.isfile(os.path.join(folder, META)):
                    return folder
        raise ResourceDoesNotExistError(f"No run {run_id} in {self.root}.")

    # -- logged models ----------------------------------------------------------------------

    def logged_models(self, experiment_id: str) -> Iterator[LoggedModel]:
        models = os.path.join(self._experiment_folder(experiment_id), MODELS)
        for name in self._subfolders(models):
            try:
                model = self._logged_model(os.path.join(models, name), experiment_id)
            except _UnreadableError as error:
                self._problem(f"logged model {name} left out: {error}")
                continue
            if model is not None:
                yield model

    def _logged_model(self, folder: str, experiment_id: str) -> LoggedModel | None:
        meta = _meta(folder)
        model_id = str(meta.get("model_id") or "")
        if model_id != os.path.basename(folder):
            raise _UnreadableError(f"its meta.yaml names model {model_id!r}")
        if meta.get("lifecycle_stage") == LifecycleStage.DELETED:
            # Cairn's import writes logged models live: a deleted one would come back.
            self._problem(f"logged model {model_id} is deleted: not imported")
            return None
        problems: list[str] = []
        created = _integer(meta.get("creation_timestamp")) or 0
        model = LoggedModel(
            model_id=model_id,
            experiment_id=experiment_id,
            name=str(meta.get("name") or ""),
            artifact_uri=str(meta.get("artifact_location") or ""),
            creation_timestamp=created,
            last_updated_timestamp=_integer(meta.get("last_updated_timestamp")) or created,
            status=_model_status(meta.get("status"), problems),
            model_type=_text(meta.get("model_type")),
            source_run_id=_text(meta.get("source_run_id")),
            status_message=_text(meta.get("status_message")),
            tags=_values(os.path.join(folder, "tags"), problems),
            params=_values(os.path.join(folder, "params"), problems),
            metrics=_model_metrics(os.path.join(folder, "metrics"), problems),
        )
        for problem in problems:
            self._problem(f"logged model {model_id}: {problem}")
        return model

    # -- the registry -----------------------------------------------------------------------

    def registered_models(self) -> Iterator[RegisteredModel]:
        registry = os.path.join(self.root, MODELS)
        for name in self._subfolders(registry):
            try:
                model = self._registered_model(os.path.join(registry, name))
            except _UnreadableError as error:
                self._problem(f"registered model {name} left out: {error}")
                continue
            yield model

    def _registered_model(self, folder: str) -> RegisteredModel:
        meta = _meta(folder)
        name = os.path.basename(folder)
        problems: list[str] = []
        created = _integer(meta.get("creation_timestamp")) or 0
        model = RegisteredModel(
            name=name,
            creation_timestamp=created,
            last_updated_timestamp=_integer(meta.get("last_updated_timestamp")) or created,
            description=_text(meta.get("description")) or "",
            user_id=_text(meta.get("user_id")),
            tags=_values(os.path.join(folder, "tags"), problems),
            aliases={
                alias: version.strip()
                for alias, version in _values(os.path.join(folder, "aliases"), problems).items()
            },
        )
        for problem in problems:
            self._problem(f"registered model {name!r}: {problem}")
        return model

    def model_versions(self, name: str) -> Iterator[ModelVersion]:
        folder = os.path.join(self.root, MODELS, _plain_name(name))
        problems: list[str] = []
        aliases = _values(os.path.join(folder, "aliases"), problems)
        for entry in sorted(self._subfolders(folder), key=_version_order):
            if not entry.startswith("version-"):
                continue
            try:
                version = self._version(os.path.join(folder, entry), name, aliases, problems)
            except _UnreadableError as error:
                version = None
                problems.append(f"{entry} left out: {error}")
            for problem in problems:
                self._problem(f"registered model {name!r}: {problem}")
            problems.clear()
            if version is not None:
                yield version

    def _version(
        self, folder: str, name: str, aliases: dict[str, str], problems: list[str]
    ) -> ModelVersion | None:
        meta = _meta(folder)
        if meta.get("current_stage") == DELETED_VERSION_STAGE:
            return None  # MLflow keeps a deleted version's folder; it is gone for its users
        number = str(meta.get("version") or folder.rpartition("version-")[2])
        created = _integer(meta.get("creation_timestamp")) or 0
        return ModelVersion(
            name=name,
            version=number,
            creation_timestamp=created,
            last_updated_timestamp=_integer(meta.get("last_updated_timestamp")) or created,
            current_stage=_stage(meta.get("current_stage"), number, problems),
            description=_text(meta.get("description")) or "",
            source=_text(meta.get("source")) or "",
            run_id=_text(meta.get("run_id")),
            status=_version_status(meta.get("status"), number, problems),
            status_message=_text(meta.get("status_message")),
            user_id=_text(meta.get("user_id")),
            run_link=_text(meta.get("run_link")),
            model_id=_text(meta.get("model_id")),
            tags=_values(os.path.join(folder, "tags"), problems),
            aliases=tuple(sorted(a for a, v in aliases.items() if v.strip() == number)),
        )

    # -- files ------------------------------------------------------------------------------

    def artifacts(self, root_uri: str) -> ArtifactRepository | None:
        """Local roots are found where they are, or else inside this store: MLflow leaves a
        deleted experiment's roots pointing outside .trash, and a moved `mlruns` folder
        keeps the old paths. An `mlflow-artifacts:` root lies on a server this source does
        not know (None)."""
        scheme = scheme_of(root_uri)
        if scheme == "mlflow-artifacts":
            return None
        if scheme != "file":
            try:
                return artifact_repository(root_uri)
            except CairnError:
                return None
        folder = self._local_folder(local_path_of(root_uri))
        return None if folder is None else artifact_repository(folder)

    def _local_folder(self, path: str) -> str | None:
        if os.path.isdir(path):
            return path
        parts = [part for part in os.path.normpath(path).split(os.sep) if part]
        for start, head in enumerate(parts):
            if head in (TRASH, MODELS):
                continue
            for parent in (self.root, self.trash):
                candidate = os.path.join(parent, *parts[start:])
                if os.path.isdir(os.path.join(parent, head)) and os.path.isdir(candidate):
                    return candidate
        return None

    def close(self) -> None:
        """Nothing is held open between calls."""

    # -- folders ----------------------------------------------------------------------------

    def _subfolders(self, folder: str) -> list[str]:
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            return []
        except OSError as error:
            self._problem(f"{folder} cannot be listed: {error.strerror}")
            return []
        return sorted(n for n in names if os.path.isdir(os.path.join(folder, n)))


# -- reading one entity's files -------------------------------------------------------------


def _meta(folder: str) -> dict[str, Any]:
    path = os.path.join(folder, META)
    try:
        with open(path, encoding="utf-8") as stream:
            data = yaml.load(stream, Loader=_LOADER)
    except FileNotFoundError:
        raise _UnreadableError(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise _UnreadableError(f"{path} cannot be read: {error}") from None
    if not isinstance(data, dict):
        raise _UnreadableError(f"{path} holds no mapping")
    return data


def _values(folder: str, problems: list[str]) -> dict[str, str]:
    """Params, tags or aliases: a file per key, its whole content the value."""
    values: dict[str, str] = {}
    for key, path in _files(folder):
        try:
            with open(path, encoding="utf-8") as stream:
                values[key] = stream.read()
        except (OSError, UnicodeDecodeError) as error:
            problems.append(f"{os.path.basename(folder)} {key!r} cannot be read: {error}")
    return values


def _entries(folder: str, problems: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, meta.yaml) of each folder in `folder` (a run's inputs or outputs)."""
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return
    for name in names:
        try:
            yield name, _meta(os.path.join(folder, name))
        except _UnreadableError as error:
            problems.append(f"{os.path.basename(folder)} {name}: {error}")


def _files(folder: str) -> Iterator[tuple[str, str]]:
    """(key, path) of every file below `folder`; a key holding "/" is a nested path."""
    for parent, folders, names in os.walk(folder):
        folders.sort()
        for name in sorted(names):
            path = os.path.join(parent, name)
            yield os.path.relpath(path, folder).replace(os.sep, "/"), path


def _experiment(folder: str, name: str, deleted: bool, problems: list[str]) -> Experiment:
    meta = _meta(folder)
    recorded = str(meta.get("experiment_id", ""))
    if recorded != name:
        raise _UnreadableError(f"its meta.yaml names experiment {recorded!r}")
    if not meta.get("name"):
        raise _UnreadableError("its meta.yaml has no name")
    # A deleted experiment's meta.yaml may hold its tags too; the tags folder wins.
    held = meta.get("tags")
    tags = {str(k): str(v) for k, v in held.items()} if isinstance(held, dict) else {}
    tags.update(_values(os.path.join(folder, "tags"), problems))
    stage = meta.get("lifecycle_stage")
    return Experiment(
        experiment_id=name,
        name=str(meta["name"]),
        artifact_location=str(meta.get("artifact_location") or ""),
        lifecycle_stage=LifecycleStage.DELETED if deleted or stage == "deleted" else "active",
        tags=tags,
        creation_time=_integer(meta.get("creation_time")),
        last_update_time=_integer(meta.get("last_update_time")),
    )


def _run_info(
    meta: dict[str, Any], run_id: str, experiment_id: str, tags: dict[str, str], problems: list[str]
) -> RunInfo:
    start = _integer(meta.get("start_time"))
    end = _integer(meta.get("end_time"))
    status = _run_status(meta.get("status", RunStatus.RUNNING.number), end, problems)
    if start is None:
        problems.append("no start time in meta.yaml; 0 used")
    if end is None and status.is_terminated:
        problems.append(f"{status.value} but no end time; imported without one")
    elif end is not None and start is not None and end < start:
        problems.append(f"ends ({end}) before it starts ({start})")
    stage = meta.get("lifecycle_stage") or LifecycleStage.ACTIVE
    if stage not in (LifecycleStage.ACTIVE, LifecycleStage.DELETED):
        problems.append(f"lifecycle stage {stage!r} read as deleted")
        stage = LifecycleStage.DELETED
    return RunInfo(
        run_id=run_id,
        experiment_id=experiment_id,
        run_name=str(meta.get("run_name") or tags.get("mlflow.runName") or ""),
        user_id=str(meta.get("user_id") or ""),
        status=status.value,
        start_time=start or 0,
        end_time=end,
        artifact_uri=str(meta.get("artifact_uri") or ""),
        lifecycle_stage=str(stage),
    )


def _run_status(value: object, end: int | None, problems: list[str]) -> RunStatus:
    if isinstance(value, (str, int)):
        try:
            return RunStatus.parse(value)
        except CairnError:
            pass
    guess = RunStatus.RUNNING if end is None else RunStatus.FINISHED
    problems.append(f"status {value!r} is not MLflow's; read as {guess.value}")
    return guess


def _model_status(value: object, problems: list[str]) -> LoggedModelStatus:
    if isinstance(value, int) and value in MODEL_STATUS_NUMBERS:
        return MODEL_STATUS_NUMBERS[value]
    try:
        return LoggedModelStatus.parse(str(value))
    except ValueError:
        problems.append(f"status {value!r} is not MLflow's; read as pending")
        return LoggedModelStatus.PENDING


def _stage(value: object, version: str, problems: list[str]) -> str:
    try:
        return ModelVersionStage.parse(str(value)).value
    except ValueError:
        problems.append(f"version {version}: stage {value!r} read as None")
        return ModelVersionStage.NONE.value


def _version_status(value: object, version: str, problems: list[str]) -> str:
    if value is None:
        return ModelVersionStatus.READY.value
    try:
        return ModelVersionStatus(str(value)).value
    except ValueError:
        problems.append(f"version {version}: status {value!r} read as READY")
        return ModelVersionStatus.READY.value


def _model_outputs(run: str, problems: list[str]) -> tuple[LoggedModelOutput, ...]:
    # MLflow writes the model's id as both source_id and destination_id (and names the
    # folder after it): the folder's name is the id.
    return tuple(
        LoggedModelOutput(name, _integer(meta.get("step")) or 0)
        for name, meta in _entries(os.path.join(run, "outputs"), problems)
    )


# -- metrics --------------------------------------------------------------------------------


def _lines(path: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of a metric file, read a line at a time; undecodable bytes make
    a bad line, not an error."""
    with open(path, encoding="utf-8", errors="replace") as stream:
        for number, line in enumerate(stream, 1):
            if line.strip():
                yield number, line


def _run_point(key: str, line: str) -> Metric:
    """A run's point: "timestamp value [step [dataset_name dataset_digest]]". MLflow's own
    reader drops the step of a dataset-linked line (reads 0); it is kept here."""
    parts = line.split()
    if len(parts) not in (2, 3, 5):
        raise ValueError(f"{len(parts)} fields, not 2, 3 or 5")
    step = int(parts[2]) if len(parts) > 2 else 0
    return Metric(key, float(parts[1]), int(parts[0]), step)


def _scan_metrics(
    folder: str, problems: list[str]
) -> tuple[tuple[Metric, ...], tuple[str, ...], int]:
    """Each history's latest point (MLflow's: the greatest (step, timestamp, value)), the
    keys with any point, and the count of all points: one pass over every file."""
    latest: list[Metric] = []
    keys: list[str] = []
    total = 0
    for key, path in _files(folder):
        best: Metric | None = None
        count = bad = 0
        first_bad = ""
        for number, line in _lines(path):
            try:
                point = _run_point(key, line)
            except ValueError as error:
                bad += 1
                first_bad = first_bad or f"line {number}: {error}"
                continue
            count += 1
            if best is None or (point.step, point.timestamp, point.value) > (
                best.step,
                best.timestamp,
                best.value,
            ):
                best = point
        if bad:
            problems.append(f"metric {key!r}: {bad} unreadable line(s) left out ({first_bad})")
        if best is None:
            problems.append(f"metric {key!r} has no points")
            continue
        latest.append(best)
        keys.append(key)
        total += count
    return tuple(latest), tuple(keys), total


def _model_metrics(folder: str, problems: list[str]) -> tuple[LoggedModelMetric, ...]:
    """Every point of a logged model's metrics: "timestamp value step run_id
    [dataset_name dataset_digest]" (a model's metrics are few: read whole)."""
    found: list[LoggedModelMetric] = []
    for key, path in _files(folder):
        for number, line in _lines(path):
            parts = line.split()
            try:
                if len(parts) not in (4, 6):
                    raise ValueError(f"{len(parts)} fields, not 4 or 6")
                timestamp, value, step = int(parts[0]), float(parts[1]), int(parts[2])
            except ValueError as error:
                problems.append(f"metric {key!r} line {number}: {error}")
                continue
            dataset = parts[4:6] if len(parts) == 6 else [None, None]
            found.append(
                LoggedModelMetric(key, value, timestamp, step, parts[3], dataset[0], dataset[1])
            )
    return tuple(found)


# -- small values ---------------------------------------------------------------------------


def _integer(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _is_folder_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and os.sep not in name


def _plain_name(name: str) -> str:
    """An id or name used as one folder name, never a path out of the store."""
    if not _is_folder_name(name):
        raise ResourceDoesNotExistError(f"{name!r} names no entity of an MLflow file store.")
    return name


def _inside(folder: str, key: str) -> str:
    """The file of metric `key` below `folder` (keys may hold "/", never "..")."""
    parts = key.split("/")
    if not key or any(part in ("", ".", "..") for part in parts):
        raise ResourceDoesNotExistError(f"No metric {key!r}.")
    return os.path.join(folder, *parts)


def _version_order(entry: str) -> tuple[int, str]:
    number = entry.rpartition("version-")[2]
    return (int(number) if number.isdigit() else -1, entry)

"""A running MLflow server as an export's target: `cairn export mlflow http://…` writes a
Cairn store through MLflow's REST API (which Cairn's REST stores speak), for a server whose
database the user cannot reach.

An MLflow server gives each run and logged model an id of its own and takes none from a
client. So every run is created anew and tagged `cairn.source_run_id` with its Cairn id
(every logged model `cairn.source_model_id`): the tag is how a later export finds it again,
so nothing is created twice, and how a user maps ids; `problems` says so once per
experiment. What names a run or a model is rewritten to the new ids: a nested run's
`mlflow.parentRunId`, version sources (`runs:/…`, `models:/m-…`), the run and model of a
version, run outputs, a model's metrics. Exporting into MLflow's database instead
(`cairn export mlflow sqlite:///…`, MLflowSqlTarget) keeps every id.

What MLflow's API cannot set stays the server's: the creation times of experiments,
registered models and versions, and where files go (files are always copied, under the
roots the server gives out). MLflow has no dataset outputs, and sets a logged model's
source run only when creating it, before that run is exported: both go to `problems`.

Version numbers are kept. Versions are created in number order (the source may list them
newest first: a version waits until the numbers below it are there); a number the source
skips (a deleted version) is taken by a placeholder deleted at once, as MLflow deletes a
version, never reusing its number. A deleted experiment is written while active (MLflow
takes no runs into a deleted one) and deleted again when the export closes.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial

from cairn.artifact_store.base import ArtifactRepository
from cairn.artifact_store.uri import artifact_repository
from cairn.entities import (
    DatasetInput,
    Experiment,
    ExperimentTag,
    LifecycleStage,
    LoggedModel,
    LoggedModelMetric,
    LoggedModelOutput,
    ModelVersion,
    Param,
    RegisteredModel,
    Run,
    RunStatus,
    RunTag,
    ViewType,
)
from cairn.exceptions import CairnError, InvalidParameterValueError, ResourceDoesNotExistError
from cairn.store.base import MetricPoint
from cairn.store.rest.registry import RestRegistryStore
from cairn.store.rest.tracking import RestTrackingStore

SOURCE_RUN_TAG = "cairn.source_run_id"
SOURCE_MODEL_TAG = "cairn.source_model_id"
PARENT_RUN_TAG = "mlflow.parentRunId"
#: The most params, and tags, one log-batch (or logged-model params call) carries in MLflow.
BATCH_ITEMS = 100
RUNS_PAGE = 1000
DELETED = LifecycleStage.DELETED

_Write = Callable[[str], None]


class MLflowRestTarget:
    """Writes into the MLflow server at `url` (credentials as for any client:
    MLFLOW_TRACKING_USERNAME/PASSWORD, MLFLOW_TRACKING_TOKEN, or user:password@ in `url`).

    `run_ids` and `model_ids` map Cairn ids to the server's, as far as the export has met
    them; `problems` holds what MLflow cannot hold, one line each."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.description = self.url
        self.problems: list[str] = []
        self.tracking = RestTrackingStore(self.url)
        self.registry = RestRegistryStore(self.url)
        self.tracking.search_experiments(max_results=1)  # a wrong URL fails here, once
        self.run_ids: dict[str, str] = {}
        self.model_ids: dict[str, str] = {}
        self._cairn_ids: dict[str, str] = {}  # the server's run ids → Cairn's
        self._experiments: dict[str, str] = {}  # target experiment id → name
        self._announced: set[str] = set()  # experiments whose new run ids are a problem
        self._listed: set[str] = set()
        self._found: dict[str, Run] = {}  # runs listed, by Cairn id, until runs_of asks
        self._dormant: set[str] = set()  # deleted in the target, and to stay so
        self._delete_at_close: set[str] = set()
        self._deleted_runs: set[str] = set()
        #: A model's metrics by the Cairn id of their run, until that run is there.
        self._model_metrics: defaultdict[str, list[tuple[str, LoggedModelMetric]]]
        self._model_metrics = defaultdict(list)
        self._children: defaultdict[str, list[str]] = defaultdict(list)  # by Cairn parent id
        self._versions = _VersionNumbers(self.registry, self.problems)

    def close(self) -> None:
        """Create the versions still waiting for lower numbers, name what waited in vain
        (model metrics and parents of runs not exported), then delete again the
        experiments deleted in the source. Failures become problems: the export is over."""
        try:
            self._versions.create_waiting()
        except OSError as error:  # the server went away: nothing else can be done
            self.problems.append(f"model versions left uncreated: {_message(error)}")
        for run_id, waiting in self._model_metrics.items():
            models = ", ".join(sorted({model_id for model_id, _ in waiting}))
            self.problems.append(f"metrics of {models} on run {run_id}: the run is not here")
        for parent, children in self._children.items():
            self.problems.append(
                f"{len(children)} run(s) name parent {parent}, which is not here, by that id"
            )
        for experiment_id in sorted(self._delete_at_close):
            try:
                self.tracking.delete_experiment(experiment_id)
            except (CairnError, OSError) as error:
                self.problems.append(f"experiment {experiment_id} left active: {_message(error)}")
        self._delete_at_close.clear()
        self.tracking.close()
        self.registry.close()

    # -- experiments ------------------------------------------------------------------------

    def put_experiment(self, experiment: Experiment) -> tuple[str, bool]:
        """By name, else created where the server puts artifacts, under MLflow's next id."""
        held = self.tracking.get_experiment_by_name(experiment.name)
        deleted = experiment.lifecycle_stage == DELETED
        if held is None:
            tags = [ExperimentTag(k, v) for k, v in experiment.tags.items()]
            location = experiment.artifact_location or None
            target_id = self.tracking.create_experiment(experiment.name, location, tags)
        else:
            target_id = held.experiment_id
            if held.lifecycle_stage == DELETED and deleted:
                self._dormant.add(target_id)
            elif held.lifecycle_stage == DELETED:
                self.tracking.restore_experiment(target_id)
            changed = {k: v for k, v in experiment.tags.items() if held.tags.get(k) != v}
            if changed:
                self._writable(target_id)
            for key, value in changed.items():
                self.tracking.set_experiment_tag(target_id, ExperimentTag(key, value))
        if deleted and target_id not in self._dormant:
            self._delete_at_close.add(target_id)
        self._experiments[target_id] = experiment.name
        return target_id, held is None

    def _writable(self, experiment_id: str) -> None:
        """Restore a deleted experiment before writing into it; it is deleted at close."""
        if experiment_id in self._dormant:
            self.tracking.restore_experiment(experiment_id)
            self._dormant.discard(experiment_id)
            self._delete_at_close.add(experiment_id)

    # -- finding runs -----------------------------------------------------------------------

    def runs_of(self, run_ids: Sequence[str]) -> dict[str, Run]:
        """The server's copies, found by their tag, under their Cairn ids (a nested run's
        parent too), so that they compare with the source's."""
        self._list_runs()
        found: dict[str, Run] = {}
        for run_id in run_ids:
            run = self._found.pop(run_id, None)
            if run is not None:
                found[run_id] = self._as_cairn(run_id, run)
        return found

    def _list_runs(self) -> None:
        """Every tagged run of the experiments put so far, read once per experiment:
        MLflow's search has no IN for tags, and a search per run costs a request each."""
        for experiment_id in sorted(self._experiments.keys() - self._listed):
            self._listed.add(experiment_id)
            token: str | None = None
            while True:
                page = self.tracking.search_runs(
                    [experiment_id],
                    f"tags.`{SOURCE_RUN_TAG}` IS NOT NULL",
                    ViewType.ALL,
                    RUNS_PAGE,
                    page_token=token,
                )
                for run in page:
                    self._listed_run(run)
                token = page.token
                if not token or not page:
                    break

    def _listed_run(self, run: Run) -> None:
        cairn_id = run.data.tags[SOURCE_RUN_TAG]
        if cairn_id in self.run_ids:
            return  # a second copy (made by hand, or by another tool): the first counts
        self._remember_run(cairn_id, run.info.run_id)
        self._found[cairn_id] = run
        if run.info.lifecycle_stage == DELETED:
            self._deleted_runs.add(run.info.run_id)

    def _as_cairn(self, cairn_id: str, run: Run) -> Run:
        tags = dict(run.data.tags)
        parent = tags.get(PARENT_RUN_TAG)
        if parent in self._cairn_ids:
            tags[PARENT_RUN_TAG] = self._cairn_ids[parent]
        info = replace(run.info, run_id=cairn_id)
        return replace(run, info=info, data=replace(run.data, tags=tags))

    def _remember_run(self, cairn_id: str, target_id: str) -> None:
        self.run_ids[cairn_id] = target_id
        self._cairn_ids[target_id] = cairn_id

    def _target_run(self, cairn_id: str) -> str | None:
        if cairn_id not in self.run_ids:
            self._list_runs()
        return self.run_ids.get(cairn_id)

    def _run(self, cairn_id: str) -> str:
        target_id = self._target_run(cairn_id)
        if target_id is None:
            raise ResourceDoesNotExistError(f"Run {cairn_id} is not in the target.")
        return target_id

    # -- writing runs -----------------------------------------------------------------------

    def put_run(
        self, run: Run, experiment_id: str, artifact_uri: str | None
    ) -> tuple[str, list[str]]:
        """Created (RUNNING, with its Cairn id as a tag) unless found; then the params and
        tags the server lacks. A param the server holds otherwise is kept and returned."""
        if artifact_uri is not None:
            raise InvalidParameterValueError(
                "An MLflow server decides where a run's files go: export with them copied."
            )
        target_id = self._target_run(run.info.run_id)
        if target_id is None:
            held = self._create_run(run, experiment_id)
        else:
            held = self._reopen(target_id, experiment_id)
        theirs = held.data.params
        conflicts = [k for k, v in run.data.params.items() if k in theirs and theirs[k] != v]
        params = [Param(k, v) for k, v in run.data.params.items() if k not in theirs]
        tags = self._tags_for(run, held)
        for start in range(0, max(len(params), len(tags)), BATCH_ITEMS):
            end = start + BATCH_ITEMS
            self.tracking.log_batch(
                held.info.run_id, params=params[start:end], tags=tags[start:end]
            )
        self._name_children(run.info.run_id, held.info.run_id)
        return held.info.artifact_uri, conflicts

    def _create_run(self, run: Run, experiment_id: str) -> Run:
        self._writable(experiment_id)
        info = run.info
        made = self.tracking.create_run(
            experiment_id,
            info.user_id,
            info.start_time,
            [RunTag(SOURCE_RUN_TAG, info.run_id)],
            info.run_name or None,
        )
        self._remember_run(info.run_id, made.info.run_id)
        if experiment_id not in self._announced:
            self._announced.add(experiment_id)
            name = self._experiments.get(experiment_id, experiment_id)
            self.problems.append(
                f"experiment {name!r}: the MLflow server gives its runs new ids; the tag "
                f"{SOURCE_RUN_TAG} holds each one's Cairn id"
            )
        return made

    def _reopen(self, target_id: str, experiment_id: str) -> Run:
        """A run an earlier export left unfinished, or that differs: writable again."""
        held = self.tracking.get_run(target_id)
        if held.info.experiment_id != experiment_id:
            raise InvalidParameterValueError(
                f"Run {self._cairn_ids[target_id]} is already in experiment "
                f"{held.info.experiment_id} of the target."
            )
        if experiment_id in self._dormant:
            self._writable(experiment_id)  # which restores its runs too
            held = self.tracking.get_run(target_id)
        if held.info.lifecycle_stage == DELETED:
            self.tracking.restore_run(target_id)
        self._deleted_runs.discard(target_id)
        return held

    def _tags_for(self, run: Run, held: Run) -> list[RunTag]:
        """The tags the server lacks, a parent named by its new id; a parent not exported
        yet is named when it is (`_name_children`)."""
        tags = dict(run.data.tags)
        parent = tags.get(PARENT_RUN_TAG)
        if parent:
            parent_id = self._target_run(parent)
            if parent_id is None:
                self._children[parent].append(held.info.run_id)
            else:
                tags[PARENT_RUN_TAG] = parent_id
        return [RunTag(k, v) for k, v in tags.items() if held.data.tags.get(k) != v]

    def _name_children(self, cairn_id: str, target_id: str) -> None:
        """Runs exported before this one, their parent, name it now."""
        tag = [RunTag(PARENT_RUN_TAG, target_id)]
        for child in self._children.pop(cairn_id, []):
            self._while_active(child, lambda run_id: self.tracking.log_batch(run_id, tags=tag))

    def _log_model_metrics(self, cairn_id: str, target_id: str) -> None:
        """MLflow links a model's metric to a run through log-batch, which also adds it to
        the run's history: where that history holds the point already, it is stored once."""
        by_model: defaultdict[str, list[LoggedModelMetric]] = defaultdict(list)
        for model_id, metric in self._model_metrics.pop(cairn_id, []):
            by_model[model_id].append(replace(metric, run_id=target_id))
        for model_id, metrics in by_model.items():
            self.tracking.log_model_metrics(model_id, metrics)

    def _while_active(self, run_id: str, write: _Write) -> None:
        """MLflow writes only to active runs: a deleted one is restored for the write and
        deleted again."""
        if run_id not in self._deleted_runs:
            write(run_id)
            return
        self.tracking.restore_run(run_id)
        try:
            write(run_id)
        finally:
            self.tracking.delete_run(run_id)

    def put_metric_points(self, points: Sequence[MetricPoint]) -> None:
        """In log-batch calls of at most 1,000 points; MLflow stores an exact repeat once."""
        ids = {run_id: self._run(run_id) for run_id in {p[0] for p in points}}
        self.tracking.log_metric_points([(ids[p[0]], p[1], p[2], p[3], p[4]) for p in points])
        for run_id in ids.keys() & self._model_metrics.keys():
            self._restore_nan(run_id, points)

    def _restore_nan(self, run_id: str, points: Sequence[MetricPoint]) -> None:
        """A model's metric that was NaN is 0 in MLflow's (and so in Cairn's imported)
        model metrics; logged as 0 it would add a 0 to the run's history beside the NaN.
        Where the history has NaN at that key, time and step, the metric is NaN again."""
        nan = {(p[1], p[3], p[4]) for p in points if p[0] == run_id and math.isnan(p[2])}
        self._model_metrics[run_id] = [
            (model_id, replace(m, value=math.nan) if (m.key, m.timestamp, m.step) in nan else m)
            for model_id, m in self._model_metrics[run_id]
        ]

    def put_datasets(
        self, run_id: str, inputs: Sequence[DatasetInput], outputs: Sequence[DatasetInput]
    ) -> None:
        """Inputs as MLflow links them (once per name and digest); outputs it has not."""
        if inputs:
            self.tracking.log_inputs(self._run(run_id), inputs)
        if outputs:
            self.problems.append(
                f"run {run_id}: {len(outputs)} dataset output(s) left out (MLflow has none)"
            )

    def put_model_outputs(self, run_id: str, outputs: Sequence[LoggedModelOutput]) -> None:
        """Under the models' new ids; outputs the server holds already are not repeated
        (MLflow would store them twice)."""
        target_id = self._run(run_id)
        there = self.tracking.get_run(target_id).outputs.model_outputs
        held = {(o.model_id, o.step) for o in there}
        new: list[LoggedModelOutput] = []
        for output in outputs:
            model_id = self.model_ids.get(output.model_id)
            if model_id is None:
                self.problems.append(f"run {run_id}: its output {output.model_id} is not here")
            elif (model_id, output.step) not in held:
                new.append(LoggedModelOutput(model_id, output.step))
        if new:
            self.tracking.log_outputs(target_id, new)

    def finish_run(self, run: Run, deleted_time: int | None) -> None:
        """Its models' metrics, status and end time, then the deletion (at MLflow's own
        deletion time)."""
        info = run.info
        target_id = self._run(info.run_id)
        self._log_model_metrics(info.run_id, target_id)  # after its history (_restore_nan)
        self.tracking.update_run_info(target_id, RunStatus.parse(info.status), info.end_time)
        if info.lifecycle_stage == DELETED:
            self.tracking.delete_run(target_id)
            self._deleted_runs.add(target_id)

    # -- logged models ----------------------------------------------------------------------

    def put_logged_model(
        self, model: LoggedModel, experiment_id: str, artifact_uri: str | None
    ) -> tuple[str, bool]:
        """Found by its tag, else created (a new id); then the params, tags, status and
        metrics the server lacks. Metrics wait for their run to be exported."""
        if artifact_uri is not None:
            raise InvalidParameterValueError(
                "An MLflow server decides where a model's files go: export with them copied."
            )
        held = self._find_model(model.model_id, experiment_id)
        created = held is None
        if held is None:
            held = self._create_model(model, experiment_id)
        self.model_ids[model.model_id] = held.model_id
        params = [(k, v) for k, v in model.params.items() if k not in held.params]
        tags = {k: v for k, v in model.tags.items() if held.tags.get(k) != v}
        if params or tags or held.status != model.status:
            self._writable(experiment_id)
        for start in range(0, len(params), BATCH_ITEMS):
            batch = dict(params[start : start + BATCH_ITEMS])
            self.tracking.log_logged_model_params(held.model_id, batch)
        if tags:
            self.tracking.set_logged_model_tags(held.model_id, tags)
        if held.status != model.status:
            self.tracking.finalize_logged_model(held.model_id, model.status)
        self._measure(model, held)
        return held.artifact_uri, created

    def _find_model(self, model_id: str, experiment_id: str) -> LoggedModel | None:
        quote = '"' if "'" in model_id else "'"
        found = self.tracking.search_logged_models(
            [experiment_id], f"tags.`{SOURCE_MODEL_TAG}` = {quote}{model_id}{quote}", 1
        )
        return found[0] if found else None

    def _create_model(self, model: LoggedModel, experiment_id: str) -> LoggedModel:
        """With its params and tags (all at once: MLflow's server takes any number); its
        status and metrics follow as for a model found."""
        self._writable(experiment_id)
        source_run = model.source_run_id
        run_id = self._target_run(source_run) if source_run else None
        if source_run and run_id is None:
            self.problems.append(
                f"logged model {model.model_id}: MLflow sets a model's source run only when "
                f"creating it, before run {source_run} is exported; the run's outputs link them"
            )
        return self.tracking.create_logged_model(
            experiment_id,
            name=model.name,
            source_run_id=run_id,
            tags={**model.tags, SOURCE_MODEL_TAG: model.model_id},
            params=model.params,
            model_type=model.model_type,
        )

    def _measure(self, model: LoggedModel, held: LoggedModel) -> None:
        """The model's metrics the server lacks, logged (as MLflow logs them) on their run:
        now where it is there, else when it is finished."""
        if held.metrics:
            self._list_runs()  # the server's run ids → Cairn's
        have = {
            (m.key, m.timestamp, m.step, self._cairn_ids.get(m.run_id or "")) for m in held.metrics
        }
        runs: set[str] = set()
        for metric in model.metrics:
            if metric.run_id is None:
                self.problems.append(
                    f"logged model {model.model_id}: metric {metric.key!r} names no run, and "
                    "MLflow logs a model's metrics on a run"
                )
            elif (metric.key, metric.timestamp, metric.step, metric.run_id) not in have:
                self._model_metrics[metric.run_id].append((held.model_id, metric))
                runs.add(metric.run_id)
        for cairn_id in sorted(runs):
            target_id = self._target_run(cairn_id)
            if target_id is not None:
                self._while_active(target_id, partial(self._log_model_metrics, cairn_id))

    # -- the registry -----------------------------------------------------------------------

    def put_registered_model(self, model: RegisteredModel) -> bool:
        return self._versions.put_model(model)

    def put_model_version(self, version: ModelVersion) -> bool:
        """Under its number, its run, model and source named by their new ids. A `runs:/`
        or `models:/m-…` source names its run or model too, as MLflow's server demands."""
        run_id = version.run_id or _named_in(version.source, "runs:/")
        if run_id:
            run_id = self._target_run(run_id) or run_id
        model_id = version.model_id or _named_in(version.source, "models:/")
        if model_id:
            model_id = self.model_ids.get(model_id)
        moved = replace(version, run_id=run_id, model_id=model_id, source=self._source(version))
        return self._versions.put_version(moved)

    def _source(self, version: ModelVersion) -> str:
        """`runs:/<id>/…` and `models:/<model id>/…` under the new ids."""
        source = version.source
        for scheme in ("runs:/", "models:/"):
            head = _named_in(source, scheme)
            if head:
                new = self._target_run(head) if scheme == "runs:/" else self.model_ids.get(head)
                return source.replace(head, new, 1) if new else source
        return source

    # -- files ------------------------------------------------------------------------------

    def artifacts(self, root_uri: str) -> ArtifactRepository:
        """`mlflow-artifacts:/` roots through the server's artifact proxy, others directly."""
        return artifact_repository(root_uri, tracking_uri=self.url)


class _VersionNumbers:
    """Registered models, and their versions under the source's numbers, on a server that
    numbers versions itself (one past the highest it ever gave, deleted ones included)."""

    def __init__(self, registry: RestRegistryStore, problems: list[str]) -> None:
        self.registry = registry
        self.problems = problems
        self._next: dict[str, int] = {}
        self._waiting: defaultdict[str, dict[int, ModelVersion]] = defaultdict(dict)
        self._aliases: dict[str, dict[str, str]] = {}

    def put_model(self, model: RegisteredModel) -> bool:
        """The model by name, else created; the tags and description it lacks."""
        self.create_waiting()  # the previous model's versions are all known by now
        name = model.name
        try:
            held = self.registry.get_registered_model(name)
        except ResourceDoesNotExistError:
            self.registry.create_registered_model(name, model.tags, model.description or None)
            self._next[name] = 1
            self._aliases[name] = {}
            return True
        for key, value in model.tags.items():
            if held.tags.get(key) != value:
                self.registry.set_registered_model_tag(name, key, value)
        if (held.description or "") != (model.description or ""):
            self.registry.update_registered_model(name, model.description or "")
        self._aliases[name] = dict(held.aliases)
        return False

    def put_version(self, version: ModelVersion) -> bool:
        """A version the server lacks waits until every lower number is there (or the
        next model comes, or the export closes: then the gaps are placeholders)."""
        try:
            held = self.registry.get_model_version(version.name, version.version)
        except ResourceDoesNotExistError:
            number = int(version.version)
            self._waiting[version.name][number] = version
            self._create_in_order(version.name, number)
            return True
        self._settle(held, version)
        return False

    def create_waiting(self) -> None:
        for name, waiting in self._waiting.items():
            for number in sorted(waiting):
                try:
                    self._create(waiting[number])
                except CairnError as error:
                    self.problems.append(f"model {name!r} version {number}: {_message(error)}")
            waiting.clear()

    def _create_in_order(self, name: str, current: int) -> None:
        waiting = self._waiting[name]
        while (number := self._next_number(name)) in waiting:
            version = waiting.pop(number)
            try:
                self._create(version)
            except CairnError as error:
                if number == current:
                    raise
                self.problems.append(f"model {name!r} version {number}: {_message(error)}")

    def _next_number(self, name: str) -> int:
        """As far as the server shows: deleted versions, which it hides, may hold more."""
        if name not in self._next:
            quote = '"' if "'" in name else "'"
            highest = self.registry.search_model_versions(
                f"name = {quote}{name}{quote}", max_results=1, order_by=["version_number DESC"]
            )
            self._next[name] = int(highest[0].version) + 1 if highest else 1
        return self._next[name]

    def _create(self, version: ModelVersion) -> None:
        name, number = version.name, int(version.version)
        while self._next_number(name) < number:
            placeholder = self._new(version, placeholder=True)
            self.registry.delete_model_version(name, placeholder.version)
        made = self._new(version, placeholder=False)
        if int(made.version) != number:
            self.registry.delete_model_version(name, made.version)
            raise InvalidParameterValueError(
                f"Version {number} of {name!r} cannot keep its number: the server gave "
                f"{made.version} (a deleted version holds {number}; MLflow never reuses one)."
            )
        self._settle(made, version)

    def _new(self, version: ModelVersion, placeholder: bool) -> ModelVersion:
        made = self.registry.create_model_version(
            version.name,
            version.source,
            version.run_id,
            tags=None if placeholder else version.tags,
            run_link=version.run_link,
            description=None if placeholder else (version.description or None),
            model_id=version.model_id,
        )
        self._next[version.name] = int(made.version) + 1
        return made

    def _settle(self, held: ModelVersion, version: ModelVersion) -> None:
        """The tags, description, stage and aliases `held` lacks of `version`."""
        name, number = held.name, held.version
        for key, value in version.tags.items():
            if held.tags.get(key) != value:
                self.registry.set_model_version_tag(name, number, key, value)
        if (held.description or "") != (version.description or ""):
            self.registry.update_model_version(name, number, version.description or "")
        if held.current_stage.lower() != version.current_stage.lower():
            self.registry.transition_model_version_stage(name, number, version.current_stage)
        aliases = self._aliases.setdefault(name, {})
        for alias in version.aliases:
            if aliases.get(alias) != number:
                self.registry.set_registered_model_alias(name, alias, number)
                aliases[alias] = number


def _named_in(source: str, scheme: str) -> str | None:
    """The id a `runs:/<id>/…` or `models:/<id>/…` source begins with."""
    if not source.startswith(scheme):
        return None
    return source.removeprefix(scheme).partition("/")[0] or None


def _message(error: Exception) -> str:
    text = error.message if isinstance(error, CairnError) else str(error)
    return " ".join(text.split())

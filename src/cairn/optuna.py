"""Optuna: each trial of a study as a Cairn run, like MLflow's `MLflowCallback`.

    callback = cairn.optuna.CairnCallback(metric_name="rmse")
    study.optimize(objective, n_trials=20, callbacks=[callback])

Where a trial's run goes:

- with a run active in the thread that optimizes, under it (in its experiment): a run
  cannot start beside an active one, so the trials always nest there;
- else with `nest_trials=True`, under a run the callback makes for the study (named after
  it), whose end time moves to each trial's end;
- else as a run of its own, in the experiment `create_experiment` says: the study's name
  (True, MLflow's default), the name given (a string), or the current experiment (False).

The run, named after the trial's number, holds the trial's params, its value as the
metric `metric_name` (one name per objective of a multi-objective study), and MLflow's tags
(`number`, `state`, `direction`, `datetime_start`, `datetime_complete`,
`<param>_distribution`, the user attrs) and `study_name`. It starts and ends when the trial
did: FINISHED when it completed, KILLED when it was pruned, FAILED when it failed.

`track_in_cairn()` makes the objective run inside its trial's run, so that what it logs
(`cairn.log_metric`, a model) lands there. Importing this module does not import optuna.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cairn.entities import Metric, Param, RunStatus, RunTag
from cairn.exceptions import InvalidParameterValueError, ResourceAlreadyExistsError
from cairn.store.validation import MAX_PARAM_VALUE_LENGTH, MAX_TAG_VALUE_LENGTH
from cairn.tracking import fluent
from cairn.tracking.client import now_ms

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial, Trial

log = logging.getLogger("cairn.optuna")

PARENT_RUN_TAG = fluent.PARENT_RUN_TAG
STUDY_NAME_TAG = "study_name"
# A trial's state (optuna.trial.TrialState names) → its run's status.
RUN_STATUS = {
    "COMPLETE": RunStatus.FINISHED.value,
    "PRUNED": RunStatus.KILLED.value,
    "FAIL": RunStatus.FAILED.value,
}
_REFUSED_IN_KEYS = re.compile(r"[^/\w.\- :]")
_CUT_MARK = "..."

Objective = Callable[["Trial"], Any]


class CairnCallback:
    """A callback for `study.optimize(..., callbacks=[...])` that logs each trial as a run
    (see the module's description for where the runs go)."""

    def __init__(
        self,
        metric_name: str | Sequence[str] = "value",
        create_experiment: bool | str = True,
        nest_trials: bool = False,
        tag_study_user_attrs: bool = False,
        tag_trial_user_attrs: bool = True,
    ) -> None:
        if not isinstance(metric_name, str) and not (
            isinstance(metric_name, Sequence)
            and metric_name
            and all(isinstance(name, str) for name in metric_name)
        ):
            raise InvalidParameterValueError(
                f"metric_name must be a name or a list of names, got {metric_name!r}."
            )
        self.metric_name = metric_name if isinstance(metric_name, str) else list(metric_name)
        self.create_experiment = create_experiment
        self.nest_trials = nest_trials
        self.tag_study_user_attrs = tag_study_user_attrs
        self.tag_trial_user_attrs = tag_trial_user_attrs
        self._lock = threading.Lock()
        self._tracked: dict[tuple[str, int], str] = {}  # runs track_in_cairn started
        self._study_runs: dict[str, tuple[str, str]] = {}  # study → (run id, experiment id)
        self._source_tags: dict[str, str] | None = None

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Log a finished trial (optuna calls this after each one)."""
        names = self.metric_names(len(study.directions))
        try:
            self._log_trial(study, trial, names)
        except Exception as error:  # the optimization goes on without its record
            log.warning(
                "Cairn could not log trial %d of study %r: %s: %s",
                trial.number,
                study.study_name,
                type(error).__name__,
                error,
            )

    def metric_names(self, objectives: int) -> list[str]:
        """The metric of each objective: `metric_name`, or `metric_name_0`, `_1`, … for
        several objectives when one name was given."""
        if isinstance(self.metric_name, str):
            if objectives == 1:
                return [self.metric_name]
            return [f"{self.metric_name}_{i}" for i in range(objectives)]
        if len(self.metric_name) != objectives:
            raise InvalidParameterValueError(
                f"metric_name has {len(self.metric_name)} names but the study has "
                f"{objectives} objectives: give one name per objective."
            )
        return list(self.metric_name)

    def track_in_cairn(self) -> Callable[[Objective], Objective]:
        """A decorator for the objective: each trial runs inside its run (the active run
        while it runs), so that the objective can log into it; the callback then adds the
        trial's params, value and tags to that same run."""

        def decorator(objective: Objective) -> Objective:
            @functools.wraps(objective)
            def tracked(trial: Trial) -> Any:
                return self._run_tracked(objective, trial)

            return tracked

        return decorator

    # -- runs --------------------------------------------------------------------------------

    def _run_tracked(self, objective: Objective, trial: Trial) -> Any:
        import optuna

        study = trial.study
        active = fluent.active_run()
        with self._lock:
            experiment_id, parent_id = self._placement(study)
        tags = {STUDY_NAME_TAG: study.study_name}
        if parent_id is not None and active is None:  # the study's run, not on the stack
            tags[PARENT_RUN_TAG] = parent_id
        run = fluent.start_run(
            experiment_id=experiment_id,
            run_name=str(trial.number),
            nested=active is not None,
            tags=tags,
        )
        with self._lock:
            self._tracked[(study.study_name, trial.number)] = run.info.run_id
        status = RunStatus.FINISHED.value
        try:
            return objective(trial)
        except optuna.TrialPruned:
            status = RunStatus.KILLED.value
            raise
        except BaseException:
            status = RunStatus.FAILED.value
            raise
        finally:
            # The params, even of a failure that stops the study (the callback never sees it).
            try:
                fluent.log_params(_params(trial.params))
            except Exception as error:
                log.warning("Cairn could not log the params of trial %d: %s", trial.number, error)
            fluent.end_run(status)

    def _log_trial(self, study: optuna.Study, trial: FrozenTrial, names: list[str]) -> None:
        client = fluent.current_client()
        with self._lock:
            run_id = self._tracked.pop((study.study_name, trial.number), None)
            if run_id is None:
                experiment_id, parent_id = self._placement(study)
                tags = {**self._source(), STUDY_NAME_TAG: study.study_name}
                if parent_id is not None:
                    tags[PARENT_RUN_TAG] = parent_id
                run = client.create_run(
                    experiment_id,
                    start_time=_ms(trial.datetime_start),
                    tags=tags,
                    run_name=str(trial.number),
                )
                run_id = run.info.run_id
        end_time = _ms(trial.datetime_complete) or now_ms()
        client.log_batch(
            run_id,
            metrics=_metrics(names, trial.values, end_time),
            params=[Param(k, v) for k, v in _params(trial.params).items()],
            tags=[RunTag(k, v) for k, v in self._tags(study, trial).items()],
        )
        client.set_terminated(
            run_id, RUN_STATUS.get(trial.state.name, RunStatus.FINISHED.value), end_time
        )
        study_run = self._study_runs.get(study.study_name)
        if study_run is not None:
            client.set_terminated(study_run[0], RunStatus.FINISHED.value, end_time)

    def _placement(self, study: optuna.Study) -> tuple[str, str | None]:
        """(experiment id, parent run id or None) of a trial's run; the caller holds the
        lock, so that a study run is made once."""
        active = fluent.active_run()
        if active is not None:
            return active.info.experiment_id, active.info.run_id
        if not self.nest_trials:
            return self._experiment_id(study), None
        known = self._study_runs.get(study.study_name)
        if known is None:
            experiment_id = self._experiment_id(study)
            tags = {**self._source(), STUDY_NAME_TAG: study.study_name}
            made = fluent.current_client().create_run(
                experiment_id, tags=tags, run_name=study.study_name
            )
            known = self._study_runs[study.study_name] = (made.info.run_id, experiment_id)
        return known[1], known[0]

    def _experiment_id(self, study: optuna.Study) -> str:
        if self.create_experiment is False:
            return fluent._current_experiment_id()
        name = study.study_name if self.create_experiment is True else self.create_experiment
        client = fluent.current_client()
        found = client.get_experiment_by_name(name)
        if found is None:
            try:
                return client.create_experiment(name)
            except ResourceAlreadyExistsError:  # another process made it meanwhile
                found = client.get_experiment_by_name(name)
                assert found is not None
        if found.lifecycle_stage != "active":
            raise InvalidParameterValueError(
                f"The experiment {name!r} is deleted: restore it or name another."
            )
        return found.experiment_id

    def _source(self) -> dict[str, str]:
        """Who runs which code, as a run the fluent API starts is tagged (found once)."""
        if self._source_tags is None:
            from cairn.provenance.source import source_tags

            self._source_tags = source_tags()
        return self._source_tags

    def _tags(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, str]:
        directions = [d.name for d in study.directions]
        tags: dict[str, Any] = {
            "number": trial.number,
            "datetime_start": trial.datetime_start,
            "datetime_complete": trial.datetime_complete,
            "direction": directions[0] if len(directions) == 1 else directions,
            STUDY_NAME_TAG: study.study_name,
        }
        if trial.state.is_finished():
            tags["state"] = trial.state.name
        tags.update({f"{k}_distribution": v for k, v in trial.distributions.items()})
        if self.tag_trial_user_attrs:
            tags.update(trial.user_attrs)
        if self.tag_study_user_attrs:
            tags.update(study.user_attrs)
        return {_key(k): _cut(str(v), MAX_TAG_VALUE_LENGTH) for k, v in tags.items()}


def _params(params: Mapping[str, Any]) -> dict[str, str]:
    return {_key(k): _cut(str(v), MAX_PARAM_VALUE_LENGTH) for k, v in params.items()}


def _metrics(names: list[str], values: Sequence[float] | None, timestamp: int) -> list[Metric]:
    if values is None:  # a pruned or failed trial has no value
        return []
    return [Metric(name, float(v), timestamp, 0) for name, v in zip(names, values, strict=True)]


def _key(name: str) -> str:
    """A param or tag name with the characters Cairn refuses in keys replaced by "_"."""
    return _REFUSED_IN_KEYS.sub("_", str(name))


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(_CUT_MARK)] + _CUT_MARK


def _ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)

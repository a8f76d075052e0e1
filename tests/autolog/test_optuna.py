"""cairn.optuna.CairnCallback: a study's trials as runs, read back from a real store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest

import cairn
from cairn.entities import Run
from cairn.exceptions import InvalidParameterValueError
from cairn.optuna import CairnCallback

SUBPROCESS_SECONDS = 60


def quadratic(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -10, 10)
    shape = trial.suggest_categorical("shape", ["flat", "steep"])
    return (x - 2) ** 2 * (3 if shape == "steep" else 1)


def new_study(name: str = "quad", **options: object) -> optuna.Study:
    return optuna.create_study(
        study_name=name, sampler=optuna.samplers.RandomSampler(seed=0), **options
    )


def runs_in(experiment_name: str) -> list[Run]:
    experiment = cairn.get_experiment_by_name(experiment_name)
    assert experiment is not None
    found = cairn.search_runs([experiment.experiment_id], output_format="list")
    assert isinstance(found, list)
    return sorted(found, key=lambda run: int(run.info.run_name))


def ms(trial: optuna.trial.FrozenTrial) -> tuple[int | None, int | None]:
    start, end = trial.datetime_start, trial.datetime_complete
    return (
        None if start is None else int(start.timestamp() * 1000),
        None if end is None else int(end.timestamp() * 1000),
    )


def test_each_trial_is_a_run_with_params_value_and_tags(workdir: Path) -> None:
    study = new_study()
    study.optimize(quadratic, n_trials=5, callbacks=[CairnCallback()])

    runs = runs_in("quad")  # the experiment is named after the study
    assert len(runs) == 5
    for run, trial in zip(runs, study.trials, strict=True):
        assert run.info.run_name == str(trial.number)
        assert run.info.status == "FINISHED"
        assert (run.info.start_time, run.info.end_time) == ms(trial)
        assert run.data.params == {"x": str(trial.params["x"]), "shape": trial.params["shape"]}
        assert run.data.metrics == {"value": trial.value}
        tags = run.data.tags
        assert tags["number"] == str(trial.number)
        assert tags["state"] == "COMPLETE"
        assert tags["direction"] == "MINIMIZE"
        assert tags["study_name"] == "quad"
        assert tags["x_distribution"] == str(trial.distributions["x"])
        assert "mlflow.parentRunId" not in tags
        assert "mlflow.user" in tags and "mlflow.source.name" in tags


def test_trials_nest_under_the_active_run_in_its_experiment(workdir: Path) -> None:
    study = new_study()
    with cairn.start_run(run_name="search") as parent:
        study.optimize(quadratic, n_trials=3, callbacks=[CairnCallback()])
        assert cairn.active_run() is not None
    children = cairn.search_runs(
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'", output_format="list"
    )
    assert isinstance(children, list)
    assert sorted(int(r.info.run_name) for r in children) == [0, 1, 2]
    assert {r.info.experiment_id for r in children} == {parent.info.experiment_id}
    assert cairn.get_experiment_by_name("quad") is None


def test_nest_trials_groups_the_study_under_a_run_of_its_own(workdir: Path) -> None:
    study = new_study()
    callback = CairnCallback(nest_trials=True)
    study.optimize(quadratic, n_trials=2, callbacks=[callback])
    study.optimize(quadratic, n_trials=1, callbacks=[callback])

    runs = cairn.search_runs(
        [cairn.get_experiment_by_name("quad").experiment_id],  # type: ignore[union-attr]
        output_format="list",
    )
    assert isinstance(runs, list)
    (parent,) = [r for r in runs if r.info.run_name == "quad"]
    children = [r for r in runs if r is not parent]
    assert len(children) == 3
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parent.info.run_id}
    assert parent.info.status == "FINISHED"
    assert parent.info.end_time == ms(study.trials[-1])[1]
    assert cairn.active_run() is None


def test_create_experiment_names_the_experiment_or_keeps_the_current_one(workdir: Path) -> None:
    new_study("a").optimize(
        quadratic, n_trials=2, callbacks=[CairnCallback(create_experiment="tuning")]
    )
    assert len(runs_in("tuning")) == 2
    assert cairn.get_experiment_by_name("a") is None

    cairn.set_experiment("mine")
    new_study("b").optimize(
        quadratic, n_trials=2, callbacks=[CairnCallback(create_experiment=False)]
    )
    assert len(runs_in("mine")) == 2
    assert cairn.get_experiment_by_name("b") is None


def test_multi_objective_values_get_one_metric_each(workdir: Path) -> None:
    def two(trial: optuna.Trial) -> tuple[float, float]:
        x = trial.suggest_float("x", 0, 1)
        return x, 1 - x

    study = new_study(directions=["minimize", "maximize"])
    study.optimize(two, n_trials=2, callbacks=[CairnCallback()])
    named = new_study("named", directions=["minimize", "maximize"])
    named.optimize(two, n_trials=2, callbacks=[CairnCallback(metric_name=["cost", "gain"])])

    for run, trial in zip(runs_in("quad"), study.trials, strict=True):
        assert run.data.metrics == {"value_0": trial.values[0], "value_1": trial.values[1]}
        assert run.data.tags["direction"] == "['MINIMIZE', 'MAXIMIZE']"
    for run, trial in zip(runs_in("named"), named.trials, strict=True):
        assert run.data.metrics == {"cost": trial.values[0], "gain": trial.values[1]}

    with pytest.raises(InvalidParameterValueError, match="one name per objective"):
        new_study("wrong", directions=["minimize", "maximize"]).optimize(
            two, n_trials=1, callbacks=[CairnCallback(metric_name=["only"])]
        )


def test_metric_name_must_be_names(workdir: Path) -> None:
    with pytest.raises(InvalidParameterValueError, match="metric_name"):
        CairnCallback(metric_name=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterValueError, match="metric_name"):
        CairnCallback(metric_name=[])


def test_pruned_and_failed_trials_end_killed_and_failed(workdir: Path) -> None:
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -1, 1)
        if trial.number == 1:
            trial.report(0.5, step=0)
            raise optuna.TrialPruned()
        if trial.number == 2:
            raise ValueError("diverged")
        return x

    study = new_study()
    study.optimize(objective, n_trials=3, callbacks=[CairnCallback()], catch=(ValueError,))

    complete, pruned, failed = runs_in("quad")
    assert (complete.info.status, complete.data.tags["state"]) == ("FINISHED", "COMPLETE")
    assert (pruned.info.status, pruned.data.tags["state"]) == ("KILLED", "PRUNED")
    assert (failed.info.status, failed.data.tags["state"]) == ("FAILED", "FAIL")
    assert complete.data.metrics == {"value": study.trials[0].value}
    # Optuna gives a pruned trial its last reported value; a failed one has none.
    assert pruned.data.metrics == {"value": 0.5} == {"value": study.trials[1].value}
    assert failed.data.metrics == {}
    assert pruned.data.params == {"x": str(study.trials[1].params["x"])}


def test_user_attrs_become_tags_as_asked(workdir: Path) -> None:
    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr("note", "tried")
        return trial.suggest_float("x", 0, 1)

    study = new_study()
    study.set_user_attr("owner", "ana")
    study.optimize(objective, n_trials=1, callbacks=[CairnCallback()])
    other = new_study("other")
    other.set_user_attr("owner", "ana")
    other.optimize(
        objective,
        n_trials=1,
        callbacks=[CairnCallback(tag_study_user_attrs=True, tag_trial_user_attrs=False)],
    )

    (run,) = runs_in("quad")
    assert run.data.tags["note"] == "tried" and "owner" not in run.data.tags
    (run,) = runs_in("other")
    assert run.data.tags["owner"] == "ana" and "note" not in run.data.tags


def test_track_in_cairn_logs_the_objectives_metrics_into_the_trial_run(workdir: Path) -> None:
    callback = CairnCallback()
    seen: dict[int, str] = {}

    @callback.track_in_cairn()
    def objective(trial: optuna.Trial) -> float:
        active = cairn.active_run()
        assert active is not None
        seen[trial.number] = active.info.run_id
        x = trial.suggest_float("x", -10, 10)
        for step in range(3):
            cairn.log_metric("partial", x * step, step=step)
        return (x - 2) ** 2

    study = new_study()
    study.optimize(objective, n_trials=3, callbacks=[callback])

    runs = runs_in("quad")
    assert [r.info.run_id for r in runs] == [seen[0], seen[1], seen[2]]
    for run, trial in zip(runs, study.trials, strict=True):
        assert run.info.status == "FINISHED"
        assert run.data.metrics["value"] == trial.value
        assert run.data.params == {"x": str(trial.params["x"])}
        history = cairn.Client().get_metric_history(run.info.run_id, "partial")
        assert [(m.step, m.value) for m in history] == [
            (s, trial.params["x"] * s) for s in range(3)
        ]
        assert run.data.tags["state"] == "COMPLETE"
    assert cairn.active_run() is None


def test_track_in_cairn_under_a_study_run(workdir: Path) -> None:
    callback = CairnCallback(nest_trials=True)
    study = new_study()
    study.optimize(callback.track_in_cairn()(quadratic), n_trials=2, callbacks=[callback])
    runs = cairn.search_runs(output_format="list", experiment_names=["quad"])
    assert isinstance(runs, list)
    (parent,) = [r for r in runs if r.info.run_name == "quad"]
    children = [r for r in runs if r is not parent]
    assert {r.data.tags.get("mlflow.parentRunId") for r in children} == {parent.info.run_id}
    assert {r.info.run_name for r in children} == {"0", "1"}


def test_a_tracked_trial_that_stops_the_study_ends_failed(workdir: Path) -> None:
    callback = CairnCallback()

    @callback.track_in_cairn()
    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("x", 0, 1)
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        new_study().optimize(objective, n_trials=1, callbacks=[callback])
    (run,) = runs_in("quad")
    assert run.info.status == "FAILED"
    assert "x" in run.data.params
    assert cairn.active_run() is None


def test_importing_the_module_does_not_import_optuna(tmp_path: Path) -> None:
    script = "import sys, cairn.optuna; print('optuna' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_SECONDS,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_parallel_trials_each_get_their_run(workdir: Path) -> None:
    callback = CairnCallback()
    study = new_study()
    study.optimize(callback.track_in_cairn()(quadratic), n_trials=4, n_jobs=2, callbacks=[callback])
    runs = runs_in("quad")
    assert [r.info.run_name for r in runs] == ["0", "1", "2", "3"]
    values = {t.number: t.value for t in study.trials}
    assert {int(r.info.run_name): r.data.metrics["value"] for r in runs} == values
    assert {r.info.status for r in runs} == {"FINISHED"}

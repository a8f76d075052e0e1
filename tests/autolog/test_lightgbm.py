"""cairn.lightgbm: the flavor (both tools load each other's models) and autolog, on tiny data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boosting_support as support
import lightgbm
import numpy as np
import pandas as pd
import pytest

import cairn
import cairn.lightgbm
from cairn.entities import RunStatus
from cairn.exceptions import InvalidParameterValueError, PermissionDeniedError
from cairn.lightgbm import autologging
from cairn.models import trust
from cairn.tracking.artifact_download import load_dict

ROUNDS = 4
PARAMS: dict[str, Any] = {
    "objective": "binary",
    "num_leaves": 4,
    "min_data_in_leaf": 5,
    "verbose": -1,
    "num_threads": 1,
}


@pytest.fixture(autouse=True)
def no_patches_left(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The unpickling notice (shown once a process) starts each test unshown, too."""
    trust._reset_notice()
    with support.autolog_left_clean(autologging.INTEGRATION, caplog):
        yield
        trust._reset_notice()


@pytest.fixture
def frame() -> pd.DataFrame:
    return support.tiny_frame(80)


@pytest.fixture
def labels(frame: pd.DataFrame) -> np.ndarray:
    return support.tiny_labels(frame)


def dataset(frame: pd.DataFrame, labels: np.ndarray) -> lightgbm.Dataset:
    return lightgbm.Dataset(frame, label=labels)


def test_train_logs_params_and_metrics_of_every_iteration(
    workdir: Path, frame: pd.DataFrame, labels: np.ndarray
) -> None:
    cairn.lightgbm.autolog()
    train_set = dataset(frame, labels)
    evals: dict[str, Any] = {}
    lightgbm.train(
        PARAMS,
        train_set,
        num_boost_round=ROUNDS,
        valid_sets=[train_set],
        valid_names=["train"],
        callbacks=[lightgbm.record_evaluation(evals)],
    )
    run = support.the_run()
    assert run.info.status == RunStatus.FINISHED.value
    assert run.data.tags["mlflow.autologging"] == "lightgbm"
    assert run.data.params["num_leaves"] == "4"
    assert run.data.params["num_boost_round"] == str(ROUNDS)
    assert run.data.params["keep_training_booster"] == "False"
    assert "train_set" not in run.data.params and "callbacks" not in run.data.params
    expected = dict(enumerate(evals["train"]["binary_logloss"]))
    assert support.history(run.info.run_id, "train-binary_logloss") == pytest.approx(expected)
    assert "best_iteration" not in run.data.metrics
    assert sorted(support.dataset_contexts(run)) == ["eval", "train"]


def test_early_stopping_logs_best_and_stopped_iterations(
    workdir: Path, frame: pd.DataFrame, labels: np.ndarray
) -> None:
    cairn.lightgbm.autolog()
    noise = np.random.default_rng(1).integers(0, 2, len(labels))  # nothing to learn
    booster = lightgbm.train(
        {**PARAMS, "learning_rate": 0.5},
        dataset(frame, labels),
        num_boost_round=50,
        valid_sets=[dataset(frame, noise)],
        callbacks=[lightgbm.early_stopping(2, verbose=False)],
    )
    run = support.the_run()
    steps = support.history(run.info.run_id, "valid_0-binary_logloss")
    recorded = len(steps) - 1  # every iteration, plus the best one's again
    assert 0 < booster.best_iteration < recorded < 50
    assert run.data.metrics["best_iteration"] == booster.best_iteration
    assert run.data.metrics["stopped_iteration"] == recorded
    assert sorted(steps) == list(range(recorded + 1))
    # LightGBM counts iterations from 1: the best one is at step best_iteration - 1.
    assert steps[recorded] == pytest.approx(steps[booster.best_iteration - 1])


def test_feature_importance_is_logged_as_json_and_plot(
    workdir: Path, frame: pd.DataFrame, labels: np.ndarray
) -> None:
    cairn.lightgbm.autolog()
    booster = lightgbm.train(PARAMS, dataset(frame, labels), num_boost_round=ROUNDS)
    run_id = support.the_run().info.run_id
    names = support.artifact_names(run_id)
    for kind in ("split", "gain"):
        assert {f"feature_importance_{kind}.json", f"feature_importance_{kind}.png"} <= names
        logged = load_dict(f"runs:/{run_id}/feature_importance_{kind}.json")
        expected = booster.feature_importance(importance_type=kind).tolist()
        assert logged == pytest.approx(dict(zip(["a", "b", "c"], expected, strict=True)))


def test_logged_booster_loads_back_and_predicts_the_same(
    workdir: Path, frame: pd.DataFrame, labels: np.ndarray
) -> None:
    cairn.lightgbm.autolog(log_input_examples=True)
    booster = lightgbm.train(PARAMS, dataset(frame, labels), num_boost_round=ROUNDS)
    uri = f"runs:/{support.the_run().info.run_id}/model"
    loaded = cairn.lightgbm.load_model(uri)
    assert isinstance(loaded, lightgbm.Booster)
    np.testing.assert_allclose(loaded.predict(frame), booster.predict(frame))
    model = cairn.pyfunc.load_model(uri)
    np.testing.assert_allclose(model.predict(frame), booster.predict(frame))
    assert model.metadata.signature.inputs.input_names() == ["a", "b", "c"]
    assert model.metadata.flavors["lightgbm"]["data"] == "model.lgb"


def test_estimator_fit_logs_one_run_with_metrics_and_its_own_class(
    workdir: Path, frame: pd.DataFrame, labels: np.ndarray
) -> None:
    cairn.lightgbm.autolog()
    classifier = lightgbm.LGBMClassifier(n_estimators=ROUNDS, num_leaves=4, verbose=-1)
    classifier.fit(frame, labels, eval_X=(frame,), eval_y=(labels,), eval_names=["holdout"])
    run = support.the_run()  # fit calls lightgbm.train inside: still one run
    assert run.data.params["num_leaves"] == "4"
    assert run.data.params["num_boost_round"] == str(ROUNDS)
    expected = dict(enumerate(classifier.evals_result_["holdout"]["binary_logloss"]))
    assert support.history(run.info.run_id, "holdout-binary_logloss") == pytest.approx(expected)
    assert "feature_importance_gain.png" in support.artifact_names(run.info.run_id)
    uri = f"runs:/{run.info.run_id}/model"
    loaded = cairn.lightgbm.load_model(uri)
    assert type(loaded) is lightgbm.LGBMClassifier
    np.testing.assert_array_equal(loaded.predict(frame), classifier.predict(frame))
    model = cairn.pyfunc.load_model(uri)
    assert model.metadata.flavors["lightgbm"]["data"] == "model.pkl"
    np.testing.assert_array_equal(model.predict(frame), classifier.predict(frame))


def test_disable_logs_nothing(workdir: Path, frame: pd.DataFrame, labels: np.ndarray) -> None:
    cairn.lightgbm.autolog()
    cairn.lightgbm.autolog(disable=True)
    lightgbm.train(PARAMS, dataset(frame, labels), num_boost_round=2)
    lightgbm.LGBMRegressor(n_estimators=2, verbose=-1).fit(frame, labels)
    assert cairn.search_runs(output_format="list") == []


def test_a_failing_training_ends_its_run_failed(
    workdir: Path, frame: pd.DataFrame, labels: np.ndarray
) -> None:
    cairn.lightgbm.autolog()
    with pytest.raises(lightgbm.basic.LightGBMError, match="no_such_objective"):
        lightgbm.train({"objective": "no_such_objective"}, dataset(frame, labels), 2)
    assert support.the_run().info.status == RunStatus.FAILED.value


def test_pickled_estimators_obey_the_pickle_switch(
    tmp_path: Path, frame: pd.DataFrame, labels: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    regressor = lightgbm.LGBMRegressor(n_estimators=2, verbose=-1).fit(frame, labels)
    cairn.lightgbm.save_model(regressor, tmp_path / "m")
    monkeypatch.setenv("CAIRN_ALLOW_PICKLE", "false")
    with pytest.raises(PermissionDeniedError):
        cairn.lightgbm.load_model(tmp_path / "m")


def test_skops_estimators_load_without_pickle(
    tmp_path: Path, frame: pd.DataFrame, labels: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    classifier = lightgbm.LGBMClassifier(n_estimators=2, verbose=-1).fit(frame, labels)
    cairn.lightgbm.save_model(classifier, tmp_path / "m", serialization_format="skops")
    monkeypatch.setenv("CAIRN_ALLOW_PICKLE", "false")
    loaded = cairn.lightgbm.load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(frame), classifier.predict(frame))
    with pytest.raises(InvalidParameterValueError, match="serialization_format"):
        cairn.lightgbm.save_model(classifier, tmp_path / "n", serialization_format="joblib")


# -- interop with the real mlflow package ----------------------------------------------------


@pytest.fixture
def mlflow() -> Any:
    return support.real_mlflow("lightgbm")


def test_mlflow_loads_models_cairn_saved(
    tmp_path: Path, mlflow: Any, frame: pd.DataFrame, labels: np.ndarray
) -> None:
    booster = lightgbm.train(PARAMS, dataset(frame, labels), num_boost_round=ROUNDS)
    cairn.lightgbm.save_model(booster, tmp_path / "booster")
    by_mlflow = mlflow.lightgbm.load_model(str(tmp_path / "booster"))
    np.testing.assert_allclose(by_mlflow.predict(frame), booster.predict(frame))
    pyfunc = mlflow.pyfunc.load_model(str(tmp_path / "booster"))
    np.testing.assert_allclose(pyfunc.predict(frame), booster.predict(frame))

    classifier = lightgbm.LGBMClassifier(n_estimators=ROUNDS, verbose=-1).fit(frame, labels)
    for serialization_format in ("cloudpickle", "skops"):
        target = tmp_path / serialization_format
        cairn.lightgbm.save_model(classifier, target, serialization_format=serialization_format)
        estimator = mlflow.lightgbm.load_model(str(target))
        assert type(estimator) is lightgbm.LGBMClassifier
        np.testing.assert_array_equal(estimator.predict(frame), classifier.predict(frame))


def test_cairn_loads_models_mlflow_saved(
    tmp_path: Path, mlflow: Any, frame: pd.DataFrame, labels: np.ndarray
) -> None:
    booster = lightgbm.train(PARAMS, dataset(frame, labels), num_boost_round=ROUNDS)
    # pip_requirements given: MLflow would otherwise infer them in a subprocess.
    mlflow.lightgbm.save_model(booster, str(tmp_path / "booster"), pip_requirements=["lightgbm"])
    loaded = cairn.lightgbm.load_model(tmp_path / "booster")
    np.testing.assert_allclose(loaded.predict(frame), booster.predict(frame))
    model = cairn.pyfunc.load_model(tmp_path / "booster")
    assert model.loader_module == "mlflow.lightgbm"
    np.testing.assert_allclose(model.predict(frame), booster.predict(frame))

    regressor = lightgbm.LGBMRegressor(n_estimators=ROUNDS, verbose=-1).fit(frame, labels)
    for serialization_format in ("cloudpickle", "skops"):  # skops: MLflow 3.17's default
        target = tmp_path / serialization_format
        mlflow.lightgbm.save_model(
            regressor,
            str(target),
            serialization_format=serialization_format,
            pip_requirements=["lightgbm"],
        )
        estimator = cairn.lightgbm.load_model(target)
        assert type(estimator) is lightgbm.LGBMRegressor
        np.testing.assert_allclose(estimator.predict(frame), regressor.predict(frame))


def test_registered_model_name_and_extra_tags(
    workdir: Path, frame: pd.DataFrame, labels: np.ndarray
) -> None:
    cairn.lightgbm.autolog(registered_model_name="boosted", extra_tags={"team": "trees"})
    booster = lightgbm.train(PARAMS, dataset(frame, labels), num_boost_round=2)
    run = support.the_run()
    assert run.data.tags["team"] == "trees"
    version = cairn.Client().get_model_version("boosted", 1)
    assert version.run_id == run.info.run_id
    loaded = cairn.lightgbm.load_model("models:/boosted/1")
    np.testing.assert_allclose(loaded.predict(frame), booster.predict(frame))

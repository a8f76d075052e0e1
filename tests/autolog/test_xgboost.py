"""cairn.xgboost: the flavor (both tools load each other's models) and autolog, on tiny data."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boosting_support as support
import numpy as np
import pandas as pd
import pytest
import xgboost

import cairn
import cairn.xgboost
from cairn.autologging import boosting
from cairn.entities import RunStatus
from cairn.tracking.artifact_download import load_dict
from cairn.xgboost import autologging

ROUNDS = 4


@pytest.fixture(autouse=True)
def no_patches_left(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    with support.autolog_left_clean(autologging.INTEGRATION, caplog):
        yield


@pytest.fixture
def frame() -> pd.DataFrame:
    return support.tiny_frame(60)


@pytest.fixture
def labels(frame: pd.DataFrame) -> np.ndarray:
    return support.tiny_labels(frame)


@pytest.fixture
def dtrain(frame: pd.DataFrame, labels: np.ndarray) -> xgboost.DMatrix:
    return xgboost.DMatrix(frame, label=labels)


PARAMS = {"objective": "binary:logistic", "max_depth": 2, "eval_metric": "logloss"}


def test_train_logs_params_and_metrics_of_every_iteration(
    workdir: Path, dtrain: xgboost.DMatrix
) -> None:
    cairn.xgboost.autolog()
    evals_result: dict[str, dict[str, list[float]]] = {}
    booster = xgboost.train(
        PARAMS,
        dtrain,
        num_boost_round=ROUNDS,
        evals=[(dtrain, "train")],
        evals_result=evals_result,
        verbose_eval=False,
    )
    run = support.the_run()
    assert run.info.status == RunStatus.FINISHED.value
    assert run.data.tags["mlflow.autologging"] == "xgboost"
    assert run.data.params["max_depth"] == "2"
    assert run.data.params["objective"] == "binary:logistic"
    assert run.data.params["num_boost_round"] == str(ROUNDS)
    assert run.data.params["early_stopping_rounds"] == "None"
    assert "dtrain" not in run.data.params and "callbacks" not in run.data.params
    expected = dict(enumerate(evals_result["train"]["logloss"]))
    assert support.history(run.info.run_id, "train-logloss") == pytest.approx(expected)
    assert booster.num_boosted_rounds() == ROUNDS
    assert "best_iteration" not in run.data.metrics


def test_early_stopping_logs_best_and_stopped_iterations(
    workdir: Path, frame: pd.DataFrame, labels: np.ndarray, dtrain: xgboost.DMatrix
) -> None:
    cairn.xgboost.autolog()
    rng = np.random.default_rng(1)
    noise = xgboost.DMatrix(frame, label=rng.integers(0, 2, len(labels)))  # nothing to learn
    booster = xgboost.train(
        {**PARAMS, "eta": 0.5},
        dtrain,
        num_boost_round=50,
        evals=[(noise, "valid")],
        early_stopping_rounds=2,
        verbose_eval=False,
    )
    run = support.the_run()
    steps = support.history(run.info.run_id, "valid-logloss")
    iterations = booster.num_boosted_rounds()
    assert iterations < 50  # it did stop early
    assert run.data.metrics["stopped_iteration"] == iterations - 1
    assert run.data.metrics["best_iteration"] == booster.best_iteration
    # Every iteration, then the best one's value again at the step after the last.
    assert sorted(steps) == [*range(iterations), iterations]
    assert steps[iterations] == pytest.approx(steps[booster.best_iteration])


def test_feature_importance_is_logged_as_json_and_plot(
    workdir: Path, dtrain: xgboost.DMatrix
) -> None:
    cairn.xgboost.autolog(importance_types=["weight", "gain"])
    booster = xgboost.train(PARAMS, dtrain, num_boost_round=ROUNDS)
    run_id = support.the_run().info.run_id
    names = support.artifact_names(run_id)
    for kind in ("weight", "gain"):
        assert {f"feature_importance_{kind}.json", f"feature_importance_{kind}.png"} <= names
        logged = load_dict(f"runs:/{run_id}/feature_importance_{kind}.json")
        assert logged == pytest.approx(booster.get_score(importance_type=kind))
    png = cairn.Client().download_artifacts(run_id, "feature_importance_weight.png")
    assert Path(png).read_bytes()[:4] == b"\x89PNG"


def test_per_class_importance_of_a_linear_booster_is_plotted(
    workdir: Path, frame: pd.DataFrame, labels: np.ndarray
) -> None:
    cairn.xgboost.autolog(log_models=False)
    three_classes = xgboost.DMatrix(frame, label=(frame["a"] * 3).astype(int))
    params = {"booster": "gblinear", "objective": "multi:softprob", "num_class": 3}
    booster = xgboost.train(params, three_classes, num_boost_round=2)
    run_id = support.the_run().info.run_id
    logged = load_dict(f"runs:/{run_id}/feature_importance_weight.json")
    assert logged == booster.get_score(importance_type="weight")
    assert all(len(values) == 3 for values in logged.values())
    assert "feature_importance_weight.png" in support.artifact_names(run_id)


def test_logged_booster_loads_back_and_predicts_the_same(
    workdir: Path, frame: pd.DataFrame, dtrain: xgboost.DMatrix
) -> None:
    cairn.xgboost.autolog(log_input_examples=True)
    booster = xgboost.train(PARAMS, dtrain, num_boost_round=ROUNDS)
    run = support.the_run()
    uri = f"runs:/{run.info.run_id}/model"
    expected = booster.predict(xgboost.DMatrix(frame))
    loaded = cairn.xgboost.load_model(uri)
    assert isinstance(loaded, xgboost.Booster)
    np.testing.assert_allclose(loaded.predict(xgboost.DMatrix(frame)), expected)
    model = cairn.pyfunc.load_model(uri)
    np.testing.assert_allclose(model.predict(frame), expected)
    assert model.metadata.signature.inputs.input_names() == ["a", "b", "c"]
    assert model.metadata.flavors["xgboost"]["model_format"] == "ubj"
    assert support.dataset_contexts(run) == ["train"]  # the training data is an input of the run


def test_log_models_false_logs_no_model(workdir: Path, dtrain: xgboost.DMatrix) -> None:
    cairn.xgboost.autolog(log_models=False, log_datasets=False)
    xgboost.train(PARAMS, dtrain, num_boost_round=2)
    run = support.the_run()
    assert run.outputs is None or not run.outputs.model_outputs
    assert not run.inputs.dataset_inputs
    with pytest.raises(cairn.exceptions.CairnError):
        cairn.xgboost.load_model(f"runs:/{run.info.run_id}/model")


def test_estimator_fit_logs_one_run_with_metrics_and_its_own_class(
    workdir: Path, frame: pd.DataFrame, labels: np.ndarray
) -> None:
    cairn.xgboost.autolog(model_format="json")
    classifier = xgboost.XGBClassifier(n_estimators=ROUNDS, max_depth=2)
    classifier.fit(frame, labels, eval_set=[(frame, labels)], verbose=False)
    run = support.the_run()  # fit calls xgboost.train inside: still one run
    assert run.data.params["max_depth"] == "2"
    assert run.data.params["num_boost_round"] == str(ROUNDS)
    expected = dict(enumerate(classifier.evals_result()["validation_0"]["logloss"]))
    assert support.history(run.info.run_id, "validation_0-logloss") == pytest.approx(expected)
    assert "feature_importance_weight.json" in support.artifact_names(run.info.run_id)
    loaded = cairn.xgboost.load_model(f"runs:/{run.info.run_id}/model")
    assert type(loaded) is xgboost.XGBClassifier
    np.testing.assert_array_equal(loaded.predict(frame), classifier.predict(frame))
    model = cairn.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    assert model.metadata.flavors["xgboost"]["model_format"] == "json"
    np.testing.assert_array_equal(model.predict(frame), classifier.predict(frame))


def test_disable_logs_nothing(workdir: Path, dtrain: xgboost.DMatrix) -> None:
    cairn.xgboost.autolog()
    cairn.xgboost.autolog(disable=True)
    xgboost.train(PARAMS, dtrain, num_boost_round=2)
    assert cairn.search_runs(output_format="list") == []
    assert not hasattr(xgboost.train, "__cairn_original__")


def test_a_failing_training_ends_its_run_failed(workdir: Path, dtrain: xgboost.DMatrix) -> None:
    cairn.xgboost.autolog()
    with pytest.raises(xgboost.core.XGBoostError, match="no_such_objective"):
        xgboost.train({"objective": "no_such_objective"}, dtrain, num_boost_round=2)
    assert support.the_run().info.status == RunStatus.FAILED.value


def test_exclusive_leaves_the_users_run_alone(workdir: Path, dtrain: xgboost.DMatrix) -> None:
    cairn.xgboost.autolog(exclusive=True)
    with cairn.start_run() as run:
        xgboost.train(PARAMS, dtrain, num_boost_round=2)
    logged = cairn.get_run(run.info.run_id)
    assert logged.data.params == {} and logged.data.metrics == {}


# -- interop with the real mlflow package ----------------------------------------------------


@pytest.fixture
def mlflow() -> Any:
    return support.real_mlflow("xgboost")


def test_mlflow_loads_models_cairn_saved(
    tmp_path: Path, mlflow: Any, frame: pd.DataFrame, labels: np.ndarray, dtrain: xgboost.DMatrix
) -> None:
    booster = xgboost.train(PARAMS, dtrain, num_boost_round=ROUNDS)
    cairn.xgboost.save_model(booster, tmp_path / "booster")
    by_mlflow = mlflow.xgboost.load_model(str(tmp_path / "booster"))
    dmatrix = xgboost.DMatrix(frame)
    np.testing.assert_allclose(by_mlflow.predict(dmatrix), booster.predict(dmatrix))
    pyfunc = mlflow.pyfunc.load_model(str(tmp_path / "booster"))
    np.testing.assert_allclose(pyfunc.predict(frame), booster.predict(dmatrix))

    regressor = xgboost.XGBRegressor(n_estimators=ROUNDS).fit(frame, labels)
    cairn.xgboost.save_model(regressor, tmp_path / "regressor")
    estimator = mlflow.xgboost.load_model(str(tmp_path / "regressor"))
    assert type(estimator) is xgboost.XGBRegressor
    np.testing.assert_allclose(estimator.predict(frame), regressor.predict(frame))


def test_cairn_loads_models_mlflow_saved(
    tmp_path: Path, mlflow: Any, frame: pd.DataFrame, labels: np.ndarray, dtrain: xgboost.DMatrix
) -> None:
    booster = xgboost.train(PARAMS, dtrain, num_boost_round=ROUNDS)
    # pip_requirements given: MLflow would otherwise infer them in a subprocess.
    mlflow.xgboost.save_model(booster, str(tmp_path / "booster"), pip_requirements=["xgboost"])
    loaded = cairn.xgboost.load_model(tmp_path / "booster")
    dmatrix = xgboost.DMatrix(frame)
    np.testing.assert_allclose(loaded.predict(dmatrix), booster.predict(dmatrix))
    model = cairn.pyfunc.load_model(tmp_path / "booster")
    assert model.loader_module == "mlflow.xgboost"
    np.testing.assert_allclose(model.predict(frame), booster.predict(dmatrix))

    classifier = xgboost.XGBClassifier(n_estimators=ROUNDS).fit(frame, labels)
    mlflow.xgboost.save_model(
        classifier, str(tmp_path / "classifier"), pip_requirements=["xgboost"]
    )
    estimator = cairn.xgboost.load_model(tmp_path / "classifier")
    assert type(estimator) is xgboost.XGBClassifier
    np.testing.assert_array_equal(estimator.predict(frame), classifier.predict(frame))


def test_a_model_class_outside_xgboost_is_refused(tmp_path: Path, dtrain: xgboost.DMatrix) -> None:
    import yaml

    booster = xgboost.train(PARAMS, dtrain, num_boost_round=2)
    cairn.xgboost.save_model(booster, tmp_path / "m")
    mlmodel = tmp_path / "m" / "MLmodel"
    document = yaml.safe_load(mlmodel.read_text())
    document["flavors"]["xgboost"]["model_class"] = "collections.OrderedDict"
    mlmodel.write_text(yaml.safe_dump(document))
    with pytest.raises(cairn.exceptions.InvalidParameterValueError, match="not an XGBoost"):
        cairn.xgboost.load_model(tmp_path / "m")


def test_autolog_before_xgboost_is_imported_patches_it_on_import(tmp_path: Path) -> None:
    code = (
        "import sys, cairn.xgboost\n"
        "cairn.xgboost.autolog()\n"
        "assert 'xgboost' not in sys.modules\n"
        "import xgboost\n"
        "assert hasattr(xgboost.train, '__cairn_original__')\n"
        "assert hasattr(xgboost.XGBClassifier.fit, '__cairn_original__')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_tested_versions() -> None:
    assert boosting.version_supported("3.2.1", "2.1.2", "3.2.0")  # a newer patch release
    assert boosting.version_supported("2.1.2", "2.1.2", "3.2.0")
    assert not boosting.version_supported("3.3.0", "2.1.2", "3.2.0")
    assert not boosting.version_supported("2.0.3", "2.1.2", "3.2.0")
    assert boosting.version_supported("3.1.0rc1", "2.1.2", "3.2.0")

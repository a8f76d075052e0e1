"""`cairn.sklearn.autolog()` with real scikit-learn: what a fit, a parameter search and the
metrics computed after training log, with MLflow's names, and what the switches turn off."""

from __future__ import annotations

import logging
import math
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import fbeta_score, get_scorer, make_scorer
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

import cairn
import cairn.sklearn
from cairn.autologging import patching, settings
from cairn.entities import Run
from cairn.exceptions import InvalidParameterValueError
from cairn.sklearn import autologging, training

PARENT_RUN_TAG = "mlflow.parentRunId"


@pytest.fixture
def autolog(workdir: Path) -> Iterator[None]:
    """A fresh store; autologging off and scikit-learn unpatched afterwards."""
    yield
    settings.reset()
    patching.revert("sklearn")


@pytest.fixture
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    features = rng.normal(size=(60, 3))
    labels = (features[:, 0] + 0.5 * features[:, 1] > 0).astype(int)
    targets = features @ np.array([1.5, -2.0, 0.5]) + 0.1 * rng.normal(size=60)
    return {
        "X_train": features[:40],
        "X_test": features[40:],
        "y_train": labels[:40],
        "y_test": labels[40:],
        "t_train": targets[:40],
    }


def all_runs() -> list[Run]:
    client = cairn.Client()
    ids = [e.experiment_id for e in client.search_experiments()]
    return list(client.search_runs(ids, max_results=1000))


def only_run() -> Run:
    runs = all_runs()
    assert len(runs) == 1, [r.info.run_id for r in runs]
    return cairn.get_run(runs[0].info.run_id)


def model_id_of(run: Run, name: str = "model") -> str:
    client = cairn.Client()
    for output in run.outputs.model_outputs:
        if client.get_logged_model(output.model_id).name == name:
            return output.model_id
    raise AssertionError(f"no model {name!r} among the run's outputs")


def test_classifier_fit_logs_params_tags_metrics_model_and_dataset(
    autolog: None, data: dict[str, np.ndarray]
) -> None:
    cairn.sklearn.autolog()
    X_train, y_train, X_test = data["X_train"], data["y_train"], data["X_test"]
    model = LogisticRegression(C=0.5, max_iter=200)

    assert model.fit(X_train, y_train) is model

    run = only_run()
    assert run.info.status == "FINISHED"
    assert run.data.params["C"] == "0.5" and run.data.params["max_iter"] == "200"
    assert run.data.tags["estimator_name"] == "LogisticRegression"
    assert run.data.tags["estimator_class"] == "sklearn.linear_model._logistic.LogisticRegression"
    assert run.data.tags["mlflow.autologging"] == "sklearn"
    metrics = run.data.metrics
    from sklearn.metrics import f1_score, log_loss, roc_auc_score

    predicted = model.predict(X_train)
    assert metrics["training_accuracy_score"] == pytest.approx(np.mean(predicted == y_train))
    assert metrics["training_f1_score"] == pytest.approx(
        f1_score(y_train, predicted, average="weighted")
    )
    probabilities = model.predict_proba(X_train)
    assert metrics["training_log_loss"] == pytest.approx(log_loss(y_train, probabilities))
    assert metrics["training_roc_auc"] == pytest.approx(roc_auc_score(y_train, probabilities[:, 1]))
    assert metrics["training_score"] == pytest.approx(model.score(X_train, y_train))
    assert 0.8 <= metrics["training_accuracy_score"] <= 1.0
    for key in ("training_precision_score", "training_recall_score"):
        assert 0.8 <= metrics[key] <= 1.0

    loaded = cairn.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_array_equal(loaded.predict(X_test), model.predict(X_test))
    inputs = run.inputs.dataset_inputs
    contexts = [
        tag.value for used in inputs for tag in used.tags if tag.key == "mlflow.data.context"
    ]
    assert "train" in contexts
    artifacts = {f.path for f in cairn.Client().list_artifacts(run.info.run_id)}
    assert "estimator.html" in artifacts
    page = cairn.artifacts.load_text(f"runs:/{run.info.run_id}/estimator.html")
    assert type(model).__name__ in page and "<!DOCTYPE html>" in page


def test_a_pipeline_logs_its_steps_params_in_one_run(
    autolog: None, data: dict[str, np.ndarray]
) -> None:
    cairn.sklearn.autolog()
    pipeline = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(C=2.0))])
    pipeline.fit(data["X_train"], data["y_train"])

    run = only_run()  # the steps' fits are not runs of their own
    params = run.data.params
    assert params["clf__C"] == "2.0"
    assert params["scale__with_mean"] == "True"
    assert "steps" in params and "clf" in params
    assert run.data.tags["estimator_name"] == "Pipeline"
    assert "training_accuracy_score" in run.data.metrics
    loaded = cairn.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_array_equal(loaded.predict(data["X_test"]), pipeline.predict(data["X_test"]))


def test_a_regressor_logs_regression_metrics(autolog: None, data: dict[str, np.ndarray]) -> None:
    cairn.sklearn.autolog()
    model = LinearRegression().fit(data["X_train"], data["t_train"])

    metrics = only_run().data.metrics
    errors = model.predict(data["X_train"]) - data["t_train"]
    assert metrics["training_mean_squared_error"] == pytest.approx(np.mean(errors**2))
    assert metrics["training_root_mean_squared_error"] == pytest.approx(
        math.sqrt(np.mean(errors**2))
    )
    assert metrics["training_mean_absolute_error"] == pytest.approx(np.mean(np.abs(errors)))
    assert 0.9 < metrics["training_r2_score"] <= 1.0
    assert metrics["training_score"] == pytest.approx(metrics["training_r2_score"])
    assert "training_accuracy_score" not in metrics


@pytest.mark.parametrize(("max_tuning_runs", "children"), [(2, 2), (5, 3), (None, 3)])
def test_a_grid_search_logs_a_parent_and_its_best_candidates(
    autolog: None, data: dict[str, np.ndarray], max_tuning_runs: int | None, children: int
) -> None:
    cairn.sklearn.autolog(max_tuning_runs=max_tuning_runs)
    search = GridSearchCV(LogisticRegression(), {"C": [0.01, 1.0, 100.0]}, cv=2)
    search.fit(data["X_train"], data["y_train"])

    runs = all_runs()
    parents = [r for r in runs if PARENT_RUN_TAG not in r.data.tags]
    assert len(parents) == 1
    parent = cairn.get_run(parents[0].info.run_id)
    kids = [r for r in runs if r.data.tags.get(PARENT_RUN_TAG) == parent.info.run_id]
    assert len(kids) == len(runs) - 1 == children
    assert parent.data.params["best_C"] == str(search.best_params_["C"])
    assert parent.data.params["cv"] == "2"  # the search's own params
    assert "estimator__C" not in parent.data.params  # not the seed's untuned ones
    assert parent.data.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    assert parent.data.tags["estimator_name"] == "GridSearchCV"

    ranks = sorted(int(kid.data.metrics["rank_test_score"]) for kid in kids)
    assert ranks == sorted(search.cv_results_["rank_test_score"])[:children]
    for kid in kids:
        assert kid.info.status == "FINISHED"
        assert kid.data.tags["mlflow.autologging"] == "sklearn"
        assert kid.data.tags["estimator_name"] == "LogisticRegression"
        assert kid.data.params["C"] in {"0.01", "1.0", "100.0"}
        assert {"mean_test_score", "std_test_score", "mean_fit_time"} <= set(kid.data.metrics)
    best = cairn.sklearn.load_model(f"models:/{model_id_of(parent, 'best_estimator')}")
    np.testing.assert_array_equal(
        best.predict(data["X_test"]), search.best_estimator_.predict(data["X_test"])
    )
    files = {f.path for f in cairn.Client().list_artifacts(parent.info.run_id)}
    assert "cv_results.csv" in files


def test_metrics_after_training_go_to_the_run_that_fit_the_model(
    autolog: None, data: dict[str, np.ndarray]
) -> None:
    cairn.sklearn.autolog()
    from sklearn.metrics import accuracy_score, f1_score  # imported after autolog, as MLflow says

    X_train, y_train = data["X_train"], data["y_train"]
    X_test, y_test = data["X_test"], data["y_test"]
    model = LogisticRegression().fit(X_train, y_train)
    run_id = only_run().info.run_id

    accuracy = accuracy_score(y_test, model.predict(X_test))
    score = model.score(X_test, y_test)
    again = accuracy_score(y_test, model.predict(X_test), normalize=False)
    unnamed = f1_score(y_test[:10], model.predict(X_test[:10]))

    metrics = cairn.get_run(run_id).data.metrics
    assert metrics["accuracy_score_X_test"] == pytest.approx(accuracy)
    assert metrics["LogisticRegression_score_X_test"] == pytest.approx(score)
    assert metrics["accuracy_score-2_X_test"] == pytest.approx(again)
    assert metrics["f1_score_unknown_dataset"] == pytest.approx(unnamed)
    info = cairn.artifacts.load_dict(f"runs:/{run_id}/metric_info.json")
    assert info["accuracy_score_X_test"].startswith("accuracy_score(y_true=y_test, y_pred=")
    assert len(all_runs()) == 1


def test_metrics_of_other_data_are_not_logged(autolog: None, data: dict[str, np.ndarray]) -> None:
    cairn.sklearn.autolog(log_post_training_metrics=False)
    from sklearn.metrics import accuracy_score

    X_test, y_test = data["X_test"], data["y_test"]
    model = LogisticRegression().fit(data["X_train"], data["y_train"])
    accuracy_score(y_test, model.predict(X_test))
    accuracy_score(y_test, y_test)  # no prediction of a logged model

    metrics = only_run().data.metrics
    assert not [key for key in metrics if key.endswith("X_test") or "y_test" in key]
    assert "training_accuracy_score" in metrics


def test_disable_logs_nothing_and_removes_the_patches(
    autolog: None, data: dict[str, np.ndarray]
) -> None:
    cairn.sklearn.autolog()
    cairn.sklearn.autolog(disable=True)
    LogisticRegression().fit(data["X_train"], data["y_train"])

    assert all_runs() == []
    assert not hasattr(LogisticRegression.fit, "__cairn_original__")


def test_exclusive_keeps_out_of_the_users_run(autolog: None, data: dict[str, np.ndarray]) -> None:
    cairn.sklearn.autolog(exclusive=True)
    with cairn.start_run() as run:
        LogisticRegression().fit(data["X_train"], data["y_train"])

    logged = only_run()
    assert logged.info.run_id == run.info.run_id
    assert logged.data.params == {} and logged.data.metrics == {}
    assert logged.outputs.model_outputs == ()


def test_a_fit_in_the_users_run_logs_there_and_leaves_it_open(
    autolog: None, data: dict[str, np.ndarray]
) -> None:
    cairn.sklearn.autolog()
    with cairn.start_run() as run:
        LogisticRegression().fit(data["X_train"], data["y_train"])
        active = cairn.active_run()
        assert active is not None and active.info.run_id == run.info.run_id

    logged = only_run()
    assert logged.info.run_id == run.info.run_id
    assert logged.data.params["C"] == "1.0"
    assert "training_accuracy_score" in logged.data.metrics
    assert "mlflow.autologging" not in logged.data.tags


def test_a_failing_fit_ends_its_run_failed_and_raises_the_original_error(
    autolog: None, data: dict[str, np.ndarray]
) -> None:
    cairn.sklearn.autolog()
    with pytest.raises(InvalidParameterError, match="'C' parameter") as raised:
        LogisticRegression(C=-1.0).fit(data["X_train"], data["y_train"])

    assert type(raised.value) is InvalidParameterError
    assert only_run().info.status == "FAILED"
    assert cairn.active_run() is None


def test_a_failure_of_the_logging_leaves_the_fit_alone(
    autolog: None,
    data: dict[str, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the model store is on fire")

    monkeypatch.setattr(cairn.sklearn, "log_model", broken)
    cairn.sklearn.autolog()
    model = LogisticRegression()

    with caplog.at_level(logging.WARNING, logger="cairn.autolog"):
        fitted = model.fit(data["X_train"], data["y_train"])

    assert fitted is model and hasattr(model, "coef_")
    assert "the model store is on fire" in caplog.text
    run = only_run()
    assert run.info.status == "FINISHED"
    assert run.data.params["C"] == "1.0" and "training_score" in run.data.metrics
    assert run.outputs.model_outputs == ()


def test_a_failure_before_training_still_trains(
    autolog: None, data: dict[str, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("no reading of the fit's arguments today")

    monkeypatch.setattr(training, "fit_data", broken)
    cairn.sklearn.autolog()
    model = LogisticRegression()

    assert model.fit(data["X_train"], data["y_train"]) is model
    assert hasattr(model, "coef_")


def test_switches_leave_out_models_datasets_and_cross_validation_fits(
    autolog: None, data: dict[str, np.ndarray]
) -> None:
    cairn.sklearn.autolog(log_models=False, log_datasets=False)
    LogisticRegression().fit(data["X_train"], data["y_train"])
    run = only_run()
    assert run.outputs.model_outputs == ()
    assert run.inputs.dataset_inputs == ()
    assert "training_score" in run.data.metrics

    cross_val_score(LogisticRegression(), data["X_train"], data["y_train"], cv=2)
    assert len(all_runs()) == 1  # cross-validation's fits are not runs


def test_registered_model_name_registers_each_trained_model(
    autolog: None, data: dict[str, np.ndarray]
) -> None:
    cairn.sklearn.autolog(registered_model_name="churn", extra_tags={"team": "ml"})
    model = LogisticRegression().fit(data["X_train"], data["y_train"])

    run = only_run()
    assert run.data.tags["team"] == "ml"
    versions = cairn.Client().search_model_versions("name = 'churn'")
    assert [v.run_id for v in versions] == [run.info.run_id]
    loaded = cairn.sklearn.load_model("models:/churn/1")
    np.testing.assert_array_equal(loaded.predict(data["X_test"]), model.predict(data["X_test"]))


def test_invalid_arguments_are_refused(autolog: None) -> None:
    with pytest.raises(InvalidParameterValueError, match="max_tuning_runs"):
        cairn.sklearn.autolog(max_tuning_runs=-1)
    with pytest.raises(InvalidParameterValueError, match="serialization_format"):
        cairn.sklearn.autolog(serialization_format="json")


def test_the_stock_mlflow_loads_the_autologged_model(
    autolog: None, data: dict[str, np.ndarray]
) -> None:
    cairn.sklearn.autolog(log_input_examples=True)
    model = LogisticRegression().fit(data["X_train"], data["y_train"])
    run = only_run()
    local = cairn.artifacts.download_artifacts(artifact_uri=f"models:/{model_id_of(run)}")

    pytest.importorskip("mlflow")
    with warnings.catch_warnings():
        # Importing mlflow.pyfunc warns about MLflow's own type hints, not about Cairn's.
        warnings.filterwarnings("ignore", ".*Any type hint is inferred", UserWarning)
        warnings.filterwarnings("ignore", ".*Add type hints to the `predict` method", UserWarning)
        import mlflow.pyfunc
        import mlflow.sklearn

    loaded = mlflow.sklearn.load_model(local)
    np.testing.assert_array_equal(loaded.predict(data["X_test"]), model.predict(data["X_test"]))
    signature = mlflow.models.Model.load(local).signature
    assert signature is not None and signature.inputs is not None
    assert (Path(local) / "input_example.json").is_file()


def test_autolog_before_scikit_learn_is_imported_patches_it_on_import(workdir: Path) -> None:
    code = (
        "import sys, cairn, cairn.sklearn\n"
        "cairn.sklearn.autolog(log_models=False)\n"
        "assert 'sklearn' not in sys.modules\n"
        "from sklearn.linear_model import LinearRegression, LogisticRegression\n"
        "LinearRegression().fit([[0.0], [1.0], [2.0]], [0.0, 1.0, 2.0])\n"
        "run = cairn.last_active_run()\n"
        "print(run.data.tags['estimator_name'], sorted(run.data.metrics)[0])\n"
        "LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])\n"
        "run = cairn.last_active_run()\n"
        "files = [f.path for f in cairn.Client().list_artifacts(run.info.run_id)]\n"
        "print('training_roc_curve.png' in files, 'matplotlib.pyplot' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    # The plots were drawn without pyplot (which would pick a backend for the user).
    assert result.stdout.split() == [
        "LinearRegression",
        "training_mean_absolute_error",
        "True",
        "False",
    ]


PLOTS = (
    "training_confusion_matrix.png",
    "training_roc_curve.png",
    "training_precision_recall_curve.png",
)


def artifact_bytes(run_id: str, path: str) -> bytes:
    local = cairn.artifacts.download_artifacts(run_id=run_id, artifact_path=path)
    return Path(local).read_bytes()


def png_size(content: bytes) -> tuple[int, int]:
    import io

    with Image.open(io.BytesIO(content)) as image:
        assert image.format == "PNG"
        return image.size


def test_a_binary_classifier_logs_its_three_training_plots(
    autolog: None, data: dict[str, np.ndarray]
) -> None:
    cairn.sklearn.autolog(log_models=False)
    first = LogisticRegression().fit(data["X_train"], data["y_train"])
    first_id = only_run().info.run_id
    flipped = 1 - data["y_train"]
    LogisticRegression(C=0.01).fit(data["X_train"], flipped)
    LogisticRegression().fit(data["X_train"], data["y_train"])

    runs = sorted(all_runs(), key=lambda r: r.info.start_time)
    assert [r.info.run_id for r in runs][0] == first_id and len(runs) == 3
    pictures = []
    for run in runs:
        files = {f.path for f in cairn.Client().list_artifacts(run.info.run_id)}
        assert set(PLOTS) <= files
        pictures.append({name: artifact_bytes(run.info.run_id, name) for name in PLOTS})
    for content in pictures[0].values():
        assert png_size(content) == (600, 400)
    # Each plot is drawn on a reused figure: the same fit draws the same picture, with
    # nothing left over from the other model's plots in between.
    assert pictures[2] == pictures[0]
    assert all(pictures[1][name] != pictures[0][name] for name in PLOTS)
    assert first.classes_.tolist() == [0, 1]


def test_a_multiclass_classifier_logs_only_its_confusion_matrix(
    autolog: None, data: dict[str, np.ndarray]
) -> None:
    cairn.sklearn.autolog(log_models=False)
    three_classes = np.digitize(data["X_train"][:, 0], [-0.5, 0.5])
    LogisticRegression().fit(data["X_train"], three_classes)
    run_id = only_run().info.run_id
    LinearRegression().fit(data["X_train"], data["t_train"])

    files = {f.path for f in cairn.Client().list_artifacts(run_id)}
    assert "training_confusion_matrix.png" in files
    assert not files & set(PLOTS[1:])
    regression = next(r for r in all_runs() if r.info.run_id != run_id)
    regression_files = {f.path for f in cairn.Client().list_artifacts(regression.info.run_id)}
    assert not regression_files & set(PLOTS)


class CountingLogisticRegression(LogisticRegression):
    """A user's classifier that counts how often it is asked to predict."""

    calls: dict[str, int] = {}

    def predict(self, X: Any) -> Any:
        CountingLogisticRegression.calls["predict"] += 1
        return super().predict(X)

    def predict_proba(self, X: Any) -> Any:
        CountingLogisticRegression.calls["predict_proba"] += 1
        return super().predict_proba(X)


class CountingForest(RandomForestClassifier):
    """A forest whose `predict` (scikit-learn's) calls this `predict_proba`."""

    calls: dict[str, int] = {}

    def predict_proba(self, X: Any) -> Any:
        CountingForest.calls["predict_proba"] += 1
        return super().predict_proba(X)


def test_metrics_plots_and_signature_share_one_prediction_of_each_kind(
    autolog: None, data: dict[str, np.ndarray]
) -> None:
    cairn.sklearn.autolog()
    X_train, y_train = data["X_train"], data["y_train"]
    CountingLogisticRegression.calls = {"predict": 0, "predict_proba": 0}
    model = CountingLogisticRegression().fit(X_train, y_train)

    assert CountingLogisticRegression.calls == {"predict": 1, "predict_proba": 1}
    run = only_run()
    assert set(PLOTS) <= {f.path for f in cairn.Client().list_artifacts(run.info.run_id)}
    accuracy = float(np.mean(model.predict(X_train) == y_train))
    assert run.data.metrics["training_accuracy_score"] == pytest.approx(accuracy)
    assert run.data.metrics["training_score"] == pytest.approx(model.score(X_train, y_train))
    local = cairn.artifacts.download_artifacts(artifact_uri=f"models:/{model_id_of(run)}")
    signature = cairn.models.Model.load(local).signature
    assert signature is not None and signature.outputs is not None

    CountingForest.calls = {"predict_proba": 0}
    forest = CountingForest(n_estimators=3, random_state=0).fit(X_train, y_train)
    assert CountingForest.calls == {"predict_proba": 1}  # its predict is that arg-max
    forest_run = next(r for r in all_runs() if r.info.run_id != run.info.run_id)
    forest_accuracy = float(np.mean(forest.predict(X_train) == y_train))
    assert forest_run.data.metrics["training_accuracy_score"] == pytest.approx(forest_accuracy)


def test_a_regressors_training_score_is_its_r2_score(
    autolog: None, data: dict[str, np.ndarray]
) -> None:
    cairn.sklearn.autolog(log_models=False)
    pipeline = Pipeline([("scale", StandardScaler()), ("fit", LinearRegression())])
    weights = np.linspace(0.5, 1.5, len(data["t_train"]))
    pipeline.fit(data["X_train"], data["t_train"], fit__sample_weight=weights)

    metrics = only_run().data.metrics
    assert metrics["training_score"] == pytest.approx(
        pipeline.score(data["X_train"], data["t_train"])
    )
    assert metrics["training_score"] == metrics["training_r2_score"]


def test_scorers_called_on_a_logged_model_log_their_metric(
    autolog: None, data: dict[str, np.ndarray]
) -> None:
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    X_train, y_train = data["X_train"], data["y_train"]
    X_test, y_test = data["X_test"], data["y_test"]
    made_before_autolog = make_scorer(fbeta_score, beta=2)
    not_logged = LogisticRegression().fit(X_test, y_test)
    cairn.sklearn.autolog()
    model = LogisticRegression().fit(X_train, y_train)
    run_id = only_run().info.run_id

    accuracy = get_scorer("accuracy")(model, X_test, y_test)
    negative_loss = get_scorer("neg_log_loss")(model, X_test, y_test)
    area = get_scorer("roc_auc")(model, X_test, y_test)
    beta = made_before_autolog(model, X_test, y_test)
    get_scorer("accuracy")(not_logged, X_test, y_test)

    metrics = cairn.get_run(run_id).data.metrics
    assert metrics["accuracy_score_X_test"] == pytest.approx(accuracy)
    assert accuracy == pytest.approx(accuracy_score(y_test, model.predict(X_test)))
    # MLflow logs the metric function's value: the loss, not the scorer's negative of it.
    assert metrics["log_loss_X_test"] == pytest.approx(-negative_loss)
    assert -negative_loss == pytest.approx(log_loss(y_test, model.predict_proba(X_test)))
    assert metrics["roc_auc_score_X_test"] == pytest.approx(area)
    assert area == pytest.approx(roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]))
    assert metrics["fbeta_score_X_test"] == pytest.approx(beta)
    assert not [key for key in metrics if key.endswith("-2") or "-2_" in key]
    info = cairn.artifacts.load_dict(f"runs:/{run_id}/metric_info.json")
    assert info["fbeta_score_X_test"] == (
        "fbeta_score(y_true=y_test, y_pred=<prediction of X_test>, beta=2)"
    )
    assert len(all_runs()) == 1  # the model fit before autolog() was scored, not logged


def test_the_logged_models_carry_the_estimators_params(
    autolog: None, data: dict[str, np.ndarray]
) -> None:
    cairn.sklearn.autolog()
    search = GridSearchCV(LogisticRegression(max_iter=150), {"C": [0.1, 10.0]}, cv=2)
    search.fit(data["X_train"], data["y_train"])

    client = cairn.Client()
    parent = next(r for r in all_runs() if PARENT_RUN_TAG not in r.data.tags)
    parent = cairn.get_run(parent.info.run_id)
    model = client.get_logged_model(model_id_of(parent))
    assert model.params["cv"] == "2" and model.params["refit"] == "True"
    assert model.params["best_C"] == str(search.best_params_["C"])
    best = client.get_logged_model(model_id_of(parent, "best_estimator"))
    assert best.params["C"] == str(search.best_params_["C"])
    assert best.params["max_iter"] == "150"


def test_versions_outside_the_tested_range_are_left_unpatched_when_asked(
    autolog: None,
    data: dict[str, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(autologging, "SUPPORTED_VERSIONS", ((0, 1), (0, 2)))
    with caplog.at_level(logging.WARNING, logger="cairn.autolog"):
        cairn.sklearn.autolog(disable_for_unsupported_versions=True)
        LogisticRegression().fit(data["X_train"], data["y_train"])
        LogisticRegression().fit(data["X_train"], data["y_train"])

    assert all_runs() == []
    assert not hasattr(LogisticRegression.fit, "__cairn_original__")
    messages = [record.getMessage() for record in caplog.records]
    assert (
        len(messages) == 1
        and "outside the versions it is tested with (0.1 to 0.2.x)" in (messages[0])
    )

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="cairn.autolog"):
        cairn.sklearn.autolog(disable_for_unsupported_versions=True, silent=True)
    assert caplog.records == []

    cairn.sklearn.autolog()  # the switch off: patched whatever the version
    LogisticRegression().fit(data["X_train"], data["y_train"])
    assert len(all_runs()) == 1


@pytest.mark.parametrize(
    ("version", "supported"),
    [
        ("1.3.0", True),
        ("1.9.7", True),
        ("1.5", True),
        ("1.2.2", False),
        ("1.10.0", False),
        ("2.0.0", False),
        ("1.9.0rc1", False),
        ("1.10.dev0", False),
    ],
)
def test_the_supported_range_is_scikit_learn_1_3_to_1_9(version: str, supported: bool) -> None:
    assert autologging.supported(version) is supported

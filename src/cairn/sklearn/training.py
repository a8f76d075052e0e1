"""What one autologged `fit` (`fit_transform`, `fit_predict`) logs, in MLflow's order.

Before training: the params (`get_params(deep=True)`, so a pipeline's steps' params too; a
parameter search's own params only, its seed estimator's are not what it found), the tags
`estimator_name` and `estimator_class`, and the training data as a `train` input. After:
the model (`model`, with input example and signature as the switches ask, and the run's
params, plus `best_<param>` for a search, as the LoggedModel's params), the training
metrics, a classifier's plots, `estimator.html`, and for a parameter search its best
candidate and child runs. The metrics, the plots and the signature share one `predict` and
one `predict_proba` of the training data (`training_predictions`).
Each of these is logged on its own: one that fails is named in a warning and the others are
still logged. The fitted estimator is then registered for post-training metrics.

Candidates that a search fits on other threads (joblib's threading backend) are not fits of
their own: while one autologged fit runs, fits on other threads are not logged (MLflow's
rule); on the same thread the patching core already sends them to the original.
"""

from __future__ import annotations

import copy
import inspect
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from cairn.autologging import patching, training_data
from cairn.autologging.settings import AutologSettings
from cairn.sklearn import post_training, search_runs, training_metrics, training_plots
from cairn.sklearn.autologging import INTEGRATION
from cairn.sklearn.estimator_info import estimator_tags, param_values
from cairn.sklearn.training_predictions import TrainingPredictions
from cairn.tracking import fluent

MODEL_NAME = "model"
BEST_MODEL_NAME = "best_estimator"

_active_lock = threading.Lock()
_active_fits = 0


def patched_fit(call: patching.PatchedCall, estimator: Any, *args: Any, **kwargs: Any) -> Any:
    with _one_fit() as first:
        if not first:
            return call.original(estimator, *args, **kwargs)
        return _fit_and_log(call, estimator, args, kwargs)


@contextmanager
def _one_fit() -> Iterator[bool]:
    global _active_fits
    with _active_lock:
        first = _active_fits == 0
        _active_fits += 1
    try:
        yield first
    finally:
        with _active_lock:
            _active_fits -= 1


def _fit_and_log(
    call: patching.PatchedCall, estimator: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    settings = call.settings
    features, labels, sample_weight = fit_data(estimator, args, kwargs)
    # Taken before training, which may change the data in place.
    head = _attempt(settings, lambda: copy.deepcopy(training_data.example(features)))
    with call.run() as run_id:
        if run_id is None:  # `exclusive`, in a run of the user's
            return call.original(estimator, *args, **kwargs)
        search = search_runs.is_parameter_search(estimator)
        params = _attempt(settings, lambda: param_values(estimator.get_params(deep=not search)))
        _attempt(settings, lambda: fluent.log_params(params or {}))
        _attempt(settings, lambda: fluent.set_tags(estimator_tags(estimator)))
        _attempt(settings, lambda: training_data.log_dataset(settings, features, labels, "train"))
        result = call.original(estimator, *args, **kwargs)
        predictions = TrainingPredictions(estimator, features)
        arguments = (
            _attempt(settings, lambda: _model_arguments(settings, predictions, head, labels)) or {}
        )
        registered_name = settings.option("registered_model_name")
        model_params = {**(params or {}), **search_runs.best_params(estimator)}
        model_id = _attempt(
            settings,
            lambda: _log_model(
                settings, estimator, MODEL_NAME, arguments, registered_name, model_params
            ),
        )
        _attempt(
            settings,
            lambda: _log_training_metrics(settings, predictions, labels, sample_weight, model_id),
        )
        if _is_classifier(estimator):
            _attempt(settings, lambda: training_plots.log_plots(predictions, labels, sample_weight))
        _attempt(settings, lambda: _log_html(estimator))
        if search:
            _log_search(settings, estimator, features, labels, arguments, model_id)
        if settings.option("log_post_training_metrics", True):
            post_training.register_model(estimator, run_id, model_id)
        return result


def fit_data(estimator: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(X, y, sample_weight) as `fit` names them (some estimators call them otherwise:
    `Y`, `X_train`), wherever they were passed."""
    try:
        names = list(inspect.signature(type(estimator).fit).parameters)[1:]
    except (TypeError, ValueError, AttributeError):
        names = ["X", "y"]
    while len(names) < 2:
        names.append(f"_unnamed{len(names)}")

    def argument(name: str) -> Any:
        if name in names and names.index(name) < len(args):
            return args[names.index(name)]
        return kwargs.get(name)

    return argument(names[0]), argument(names[1]), argument("sample_weight")


def _attempt(settings: AutologSettings, log: Callable[[], Any]) -> Any:
    """Run one logging step; a failure is a warning, not the end of the other steps."""
    try:
        return log()
    except Exception as error:
        patching.warn(INTEGRATION, settings, error)
        return None


def _is_classifier(estimator: Any) -> bool:
    from sklearn.base import is_classifier

    return bool(is_classifier(estimator))


def _model_arguments(
    settings: AutologSettings, predictions: TrainingPredictions, head: Any, labels: Any
) -> dict[str, Any]:
    """Input example and signature: from `predict`, or `transform` for a transformer. A
    classifier or regressor trained on labels is about to predict its training data for the
    metrics: the signature's output is read from those first rows, not from a call of its
    own."""
    if not settings.log_models or head is None:
        return {}
    from sklearn.base import is_regressor

    estimator = predictions.estimator
    predict = getattr(estimator, "predict", None) or getattr(estimator, "transform", None)
    metrics_predict = labels is not None and (_is_classifier(estimator) or is_regressor(estimator))
    if metrics_predict and getattr(estimator, "predict", None) is not None:
        predict = _first_rows_of(predictions, predict)
    return training_data.model_arguments(settings, head, predict)


def _first_rows_of(predictions: TrainingPredictions, predict: Any) -> Callable[[Any], Any]:
    def shared(sample: Any) -> Any:
        try:
            made = predictions.labels
        except Exception:
            return predict(sample)  # a failure of the whole-data prediction
        rows, made_rows = _rows(sample), _rows(made)
        if rows is None or made_rows is None or made_rows < rows:
            return predict(sample)
        return made[:rows]

    return shared


def _rows(value: Any) -> int | None:
    shape = getattr(value, "shape", None)
    if shape:
        return int(shape[0])
    return len(value) if isinstance(value, (list, tuple)) else None


def _log_model(
    settings: AutologSettings,
    estimator: Any,
    name: str,
    arguments: dict[str, Any],
    registered_name: str | None = None,
    params: dict[str, str] | None = None,
) -> str | None:
    """Log the model; its params (MLflow gives `log_model` the estimator's) are attached
    to the LoggedModel through the client, as `log_model` takes none."""
    if not settings.log_models:
        return None
    from cairn.sklearn import log_model

    info = log_model(
        estimator,
        name=name,
        serialization_format=str(settings.option("serialization_format", "cloudpickle")),
        registered_model_name=registered_name,
        **arguments,
    )
    if params and info.model_id:
        fluent.current_client().log_model_params(info.model_id, params)
    return info.model_id


def _log_training_metrics(
    settings: AutologSettings,
    predictions: TrainingPredictions,
    labels: Any,
    sample_weight: Any,
    model_id: str | None,
) -> None:
    pos_label = settings.option("pos_label")
    metrics = training_metrics.compute(predictions, labels, sample_weight, pos_label)
    if metrics:
        fluent.log_metrics(metrics, model_id=model_id)


def _log_html(estimator: Any) -> None:
    """`estimator.html`: scikit-learn's diagram of the estimator and its params, as MLflow
    logs it. Drawn from an unfitted clone: for a fitted estimator, scikit-learn 1.9 adds a
    table of fitted attributes that evaluates every property (a forest's
    `estimators_samples_` redraws its bootstrap samples): 55 ms of a 10,000-row forest's
    fit, against 3 ms for the diagram."""
    from sklearn.base import clone
    from sklearn.utils import estimator_html_repr

    from cairn.tracking.fluent_artifacts import log_text

    try:
        shown = clone(estimator)
    except Exception:  # an estimator scikit-learn cannot clone: drawn as it is
        shown = estimator
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="UTF-8"/></head>\n'
        f"<body>\n{estimator_html_repr(shown)}\n</body>\n</html>\n"
    )
    log_text(page, "estimator.html")


def _log_search(
    settings: AutologSettings,
    search: Any,
    features: Any,
    labels: Any,
    arguments: dict[str, Any],
    model_id: str | None,
) -> None:
    best = getattr(search, "best_estimator_", None)
    if best is not None:
        best_params = param_values(best.get_params(deep=True))
        _attempt(
            settings,
            lambda: _log_model(settings, best, BEST_MODEL_NAME, arguments, params=best_params),
        )
    _attempt(settings, lambda: search_runs.log_best(search, model_id))
    _attempt(settings, lambda: search_runs.log_child_runs(settings, search, features, labels))
    _attempt(settings, lambda: search_runs.log_results_file(search))

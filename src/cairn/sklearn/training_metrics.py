"""The metrics of a fitted estimator on its own training data, with MLflow's names.

Classifiers: `training_precision_score`, `training_recall_score`, `training_f1_score`
(weighted over classes, or of `pos_label` alone when it is given), `training_accuracy_score`,
and with `predict_proba` `training_log_loss` and `training_roc_auc` (weighted one-vs-one).
Regressors: `training_mean_squared_error`, `training_root_mean_squared_error`,
`training_mean_absolute_error`, `training_r2_score`. Any estimator with `score` and labels:
`training_score`. A metric that cannot be computed (one class only, say) is left out with a
log line; the others are still logged.

The predictions come from a `TrainingPredictions` the classifier plots share: one `predict`
and one `predict_proba` per fit. `training_score` is `estimator.score`, except where that is
scikit-learn's own accuracy or R² of `predict`: then it is the value already computed.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Callable
from typing import Any

from cairn.sklearn.training_predictions import (
    TrainingPredictions,
    score_is_accuracy,
    score_is_r2,
)

log = logging.getLogger("cairn.autolog")

PREFIX = "training_"


def compute(
    predictions: TrainingPredictions, labels: Any, sample_weight: Any, pos_label: Any = None
) -> dict[str, float]:
    """Every training metric that applies to the estimator; none without labels."""
    if labels is None:
        return {}
    from sklearn.base import is_classifier, is_regressor

    estimator = predictions.estimator
    metrics: dict[str, float] = {}
    same_as_score = None
    if is_classifier(estimator):
        metrics.update(_classifier(predictions, labels, sample_weight, pos_label))
        same_as_score = "accuracy_score" if score_is_accuracy(estimator) else None
    elif is_regressor(estimator):
        metrics.update(_regressor(predictions, labels, sample_weight))
        same_as_score = "r2_score" if score_is_r2(estimator) else None
    if same_as_score is not None and PREFIX + same_as_score in metrics:
        metrics[PREFIX + "score"] = metrics[PREFIX + same_as_score]
        return metrics
    score = _score(estimator, predictions.features, labels, sample_weight)
    if score is not None:
        metrics[PREFIX + "score"] = score
    return metrics


def _classifier(
    predictions: TrainingPredictions, labels: Any, sample_weight: Any, pos_label: Any
) -> dict[str, float]:
    import sklearn.metrics as m

    predicted = predictions.labels
    average = "weighted" if pos_label is None else "binary"
    by_class = {"pos_label": pos_label, "average": average, "sample_weight": sample_weight}
    if pos_label is None:
        by_class.pop("pos_label")  # scikit-learn warns that it is ignored otherwise
    found: dict[str, float] = {}
    _add_all(
        found,
        ("precision_score", "recall_score", "f1_score"),
        lambda: m.precision_recall_fscore_support(labels, predicted, **by_class)[:3],
    )
    _add(
        found,
        "accuracy_score",
        lambda: m.accuracy_score(labels, predicted, normalize=True, sample_weight=sample_weight),
    )
    probabilities = _probabilities(predictions)
    if probabilities is None:
        return found
    _add(
        found,
        "log_loss",
        lambda: m.log_loss(labels, probabilities, sample_weight=sample_weight),
    )
    _add(
        found,
        "roc_auc",
        lambda: m.roc_auc_score(
            labels,
            _greater_class(probabilities),
            average="weighted",
            sample_weight=sample_weight,
            multi_class="ovo",
        ),
    )
    return found


def _greater_class(probabilities: Any) -> Any:
    """For two classes, roc_auc_score takes the score of the greater label alone."""
    return probabilities[:, 1] if probabilities.shape[1] == 2 else probabilities


def _probabilities(predictions: TrainingPredictions) -> Any:
    try:
        return predictions.probabilities
    except Exception as error:
        log.info("The metrics %slog_loss and %sroc_auc were not logged: %s", PREFIX, PREFIX, error)
        return None


def _regressor(
    predictions: TrainingPredictions, labels: Any, sample_weight: Any
) -> dict[str, float]:
    import sklearn.metrics as m

    predicted = predictions.labels
    common = {"sample_weight": sample_weight, "multioutput": "uniform_average"}
    found: dict[str, float] = {}
    _add(found, "mean_squared_error", lambda: m.mean_squared_error(labels, predicted, **common))
    _add(found, "mean_absolute_error", lambda: m.mean_absolute_error(labels, predicted, **common))
    _add(found, "r2_score", lambda: m.r2_score(labels, predicted, **common))
    if PREFIX + "mean_squared_error" in found:
        found[PREFIX + "root_mean_squared_error"] = math.sqrt(found[PREFIX + "mean_squared_error"])
    return found


def _add_all(
    found: dict[str, float], names: tuple[str, ...], compute_values: Callable[[], Any]
) -> None:
    """Several metrics from one call: `precision_score`, `recall_score` and `f1_score` are
    each `precision_recall_fscore_support` with the same arguments, which validates the
    labels and counts the classes once instead of three times."""
    try:
        values = [float(value) for value in compute_values()]
    except Exception as error:
        log.info("The metrics %s were not logged: %s", ", ".join(PREFIX + n for n in names), error)
        return
    for name, value in zip(names, values, strict=True):
        found[PREFIX + name] = value


def _add(found: dict[str, float], name: str, compute_value: Callable[[], Any]) -> None:
    try:
        found[PREFIX + name] = float(compute_value())
    except Exception as error:  # one metric that does not apply must not lose the others
        log.info("The metric %s%s was not logged: %s", PREFIX, name, error)


def _score(estimator: Any, features: Any, labels: Any, sample_weight: Any) -> float | None:
    score = getattr(estimator, "score", None)
    if not callable(score):
        return None
    try:
        takes_weight = "sample_weight" in inspect.signature(score).parameters
        if takes_weight:
            return float(score(features, labels, sample_weight=sample_weight))
        return float(score(features, labels))
    except Exception as error:
        log.info("The metric %sscore was not logged: %s", PREFIX, error)
        return None

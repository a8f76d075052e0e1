"""The plots MLflow logs for a fitted classifier, on its training data.

Every classifier: `training_confusion_matrix.png` (normalized over the true labels). Two
classes: also `training_roc_curve.png` and `training_precision_recall_curve.png`, for the
greater class (`classes_[1]`) scored by `predict_proba`, else `decision_function`; MLflow
draws no curves for more classes. Their titles are MLflow's.

They are computed from the predictions the training metrics already made (no model call of
their own) and drawn on reused figures (`plot_templates`); the precision-recall curve keeps
only the points where it turns. Without matplotlib (not a dependency of Cairn) no plot is
logged, with one warning per process. A plot that fails does not keep the others from
being logged. Models of several outputs (a 2-D `y`) get none.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from typing import Any

from cairn.sklearn import plot_templates
from cairn.sklearn.training_predictions import TrainingPredictions

log = logging.getLogger("cairn.autolog")

PREFIX = "training_"
CONFUSION_MATRIX = PREFIX + "confusion_matrix"
ROC_CURVE = PREFIX + "roc_curve"
PRECISION_RECALL_CURVE = PREFIX + "precision_recall_curve"

_warned_no_matplotlib = False

Plot = Callable[[str], None]  # writes one PNG to the path given


def log_plots(predictions: TrainingPredictions, labels: Any, sample_weight: Any) -> list[str]:
    """Draw and log the classifier's plots into the active run; returns the files logged."""
    import numpy as np

    if labels is None or np.ndim(labels) != 1:  # no plots of multi-output models
        return []
    if not _matplotlib_found():
        return []

    plots: dict[str, Plot] = {
        CONFUSION_MATRIX: lambda path: _confusion_matrix(path, predictions, labels, sample_weight)
    }
    if len(np.unique(np.asarray(labels))) == 2:  # MLflow's rule: curves for two classes
        plots[ROC_CURVE] = lambda path: _roc_curve(path, predictions, labels, sample_weight)
        plots[PRECISION_RECALL_CURVE] = lambda path: _precision_recall_curve(
            path, predictions, labels, sample_weight
        )
    return _save_and_log(plots)


def _matplotlib_found() -> bool:
    global _warned_no_matplotlib
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        if not _warned_no_matplotlib:
            _warned_no_matplotlib = True
            log.warning("matplotlib is not installed: the classifier plots are not logged.")
        return False
    return True


def _save_and_log(plots: dict[str, Plot]) -> list[str]:
    from cairn.tracking.fluent_artifacts import log_artifacts

    failures: list[Exception] = []
    saved = []
    with tempfile.TemporaryDirectory() as folder:
        for name, plot in plots.items():
            file_name = f"{name}.png"
            try:
                plot(os.path.join(folder, file_name))
                saved.append(file_name)
            except Exception as error:
                failures.append(error)
        if saved:
            log_artifacts(folder)
    if failures:
        raise failures[0]
    return saved


def _confusion_matrix(
    path: str, predictions: TrainingPredictions, labels: Any, sample_weight: Any
) -> None:
    from sklearn.metrics import confusion_matrix
    from sklearn.utils.multiclass import unique_labels

    predicted = predictions.labels
    classes = unique_labels(labels, predicted)
    values = confusion_matrix(
        labels, predicted, labels=classes, sample_weight=sample_weight, normalize="true"
    )
    names = [str(label) for label in classes]
    plot_templates.matrix(path, values, names, title="Normalized confusion matrix")


def _positive_label(predictions: TrainingPredictions, labels: Any) -> Any:
    """`classes_[1]`, as scikit-learn's curve plots take it."""
    classes = getattr(predictions.estimator, "classes_", None)
    if classes is not None and len(classes) == 2:
        return classes[1]
    import numpy as np

    return np.unique(np.asarray(labels))[1]


def _roc_curve(
    path: str, predictions: TrainingPredictions, labels: Any, sample_weight: Any
) -> None:
    from sklearn.metrics import auc, roc_curve

    positive = _positive_label(predictions, labels)
    scores = predictions.positive_scores()
    false_rate, true_rate, _ = roc_curve(
        labels, scores, pos_label=positive, sample_weight=sample_weight
    )
    name = type(predictions.estimator).__name__
    suffix = f" (Positive label: {positive})"
    plot_templates.curve(
        path,
        false_rate,
        true_rate,
        f"{name} (AUC = {auc(false_rate, true_rate):.2f})",
        title="ROC curve",
        x_label="False Positive Rate" + suffix,
        y_label="True Positive Rate" + suffix,
        legend_at="lower right",
    )


def _precision_recall_curve(
    path: str, predictions: TrainingPredictions, labels: Any, sample_weight: Any
) -> None:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    positive = _positive_label(predictions, labels)
    scores = predictions.positive_scores()
    precision, recall, _ = precision_recall_curve(
        labels, scores, pos_label=positive, sample_weight=sample_weight, drop_intermediate=True
    )
    average = average_precision_score(
        labels, scores, pos_label=positive, sample_weight=sample_weight
    )
    name = type(predictions.estimator).__name__
    suffix = f" (Positive label: {positive})"
    plot_templates.curve(
        path,
        recall,
        precision,
        f"{name} (AP = {average:.2f})",
        title="Precision recall curve",
        x_label="Recall" + suffix,
        y_label="Precision" + suffix,
        legend_at="lower left",
        steps=True,
    )

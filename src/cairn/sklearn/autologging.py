"""`cairn.sklearn.autolog()`: MLflow's `mlflow.sklearn.autolog`, same arguments and defaults.

Turning it on records the switches and patches scikit-learn when it is imported (now, if it
already is); the patches read the switches at every call, so `autolog(disable=True)` or new
switches take effect at once. What a fit logs is described in `cairn.sklearn.training`,
parameter searches in `search_runs`, metrics on held-out data in `post_training`.

`disable_for_unsupported_versions=True` leaves scikit-learn unpatched, with one warning,
when its version is outside `SUPPORTED_VERSIONS`, the range Cairn's tests cover (MLflow
keeps such ranges in its `ml-package-versions.yml`). Pre-releases and development builds
count as outside, as in MLflow.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from cairn.autologging import patching, settings, switch
from cairn.exceptions import InvalidParameterValueError

INTEGRATION = "sklearn"
_FORMATS = ("cloudpickle", "pickle", "skops")
# (major, minor) of the oldest and newest scikit-learn tested; every patch release of both.
SUPPORTED_VERSIONS = ((1, 3), (1, 9))
_RELEASE = re.compile(r"(\d+)\.(\d+)(?:\.\d+)?")
log = logging.getLogger("cairn.autolog")


def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    max_tuning_runs: int | None = 5,
    log_post_training_metrics: bool = True,
    serialization_format: str = "cloudpickle",
    registered_model_name: str | None = None,
    pos_label: Any = None,
    extra_tags: Mapping[str, Any] | None = None,
) -> None:
    """Log every `fit`, `fit_transform` and `fit_predict` of scikit-learn estimators.

    A fit logs its estimator's params (`get_params(deep=True)`), the tags `estimator_name`
    and `estimator_class`, training metrics (`training_accuracy_score`, …,
    `training_r2_score`, `training_score`), a classifier's plots
    (`training_confusion_matrix.png`, and for two classes `training_roc_curve.png` and
    `training_precision_recall_curve.png`), the training dataset and the model (`model`,
    with the params as the LoggedModel's).
    `GridSearchCV`/`RandomizedSearchCV` also log `best_<param>` params, `best_cv_score`, the
    best estimator (`best_estimator`) and their best `max_tuning_runs` candidates as child
    runs (`None`: all of them). With `log_post_training_metrics`, `model.score(X_test, …)`
    `sklearn.metrics` functions called on a logged model's predictions and scorers
    (`get_scorer`, `make_scorer`) called on the model log `<metric>_<variable name of the
    data>` into the run that fit it.

    Example:
        >>> cairn.sklearn.autolog()
        >>> model = LogisticRegression().fit(X_train, y_train)  # a run with it all
        >>> accuracy_score(y_test, model.predict(X_test))  # logs accuracy_score_X_test
    """
    if max_tuning_runs is not None and (
        isinstance(max_tuning_runs, bool)
        or not isinstance(max_tuning_runs, int)
        or max_tuning_runs < 0
    ):
        raise InvalidParameterValueError(
            f"`max_tuning_runs` must be a non-negative integer or None, got {max_tuning_runs!r}."
        )
    if serialization_format not in _FORMATS:
        raise InvalidParameterValueError(
            f"Unknown serialization_format {serialization_format!r}; use one of {list(_FORMATS)}."
        )
    switch.turn_on(
        INTEGRATION,
        ("sklearn",),
        _install,
        locals(),
        max_tuning_runs=max_tuning_runs,
        log_post_training_metrics=log_post_training_metrics,
        serialization_format=serialization_format,
        registered_model_name=registered_model_name,
        pos_label=pos_label,
    )


def _install(module: ModuleType) -> None:
    current = settings.get(INTEGRATION)
    version = str(getattr(module, "__version__", ""))
    if current is not None and current.disable_for_unsupported_versions:
        if not supported(version):
            patching.revert(INTEGRATION)
            if not current.silent:
                (low, high) = SUPPORTED_VERSIONS
                log.warning(
                    "Cairn scikit-learn autologging is off: scikit-learn %s is outside the "
                    "versions it is tested with (%d.%d to %d.%d.x), and "
                    "disable_for_unsupported_versions=True.",
                    version,
                    *low,
                    *high,
                )
            return
    from cairn.sklearn.patches import install

    install()


def supported(version: str) -> bool:
    """A release (not a pre-release or a development build) in `SUPPORTED_VERSIONS`."""
    release = _RELEASE.fullmatch(version)
    if release is None:
        return False
    found = (int(release.group(1)), int(release.group(2)))
    low, high = SUPPORTED_VERSIONS
    return low <= found <= high

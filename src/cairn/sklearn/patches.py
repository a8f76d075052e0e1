"""Which scikit-learn methods and functions autologging wraps, and with what.

The estimators are MLflow's: every class `sklearn.utils.all_estimators()` lists, the
pipeline and the parameter searches, and the public scikit-learn subclasses of
`BaseEstimator` (abstract bases that user classes extend), less the data preparation steps
(scalers, imputers, encoders, feature selection, `ColumnTransformer`): fitting those alone
is no model training. The walk costs seconds (it imports all of scikit-learn), so it runs
once per process.
"""

from __future__ import annotations

import functools
import inspect
import sys
from typing import Any

from cairn.autologging import patching
from cairn.sklearn.autologging import INTEGRATION

FIT_METHODS = ("fit", "fit_transform", "fit_predict")
PREDICT_METHODS = ("predict", "predict_proba", "predict_log_proba", "transform")
# MLflow's: data preparation, not model training.
EXCLUDED_MODULES = (
    "sklearn.preprocessing",
    "sklearn.impute",
    "sklearn.feature_extraction",
    "sklearn.feature_selection",
)
EXCLUDED_CLASSES = ("sklearn.compose._column_transformer.ColumnTransformer",)
# Not metrics of a prediction: helpers that build or look up scorers.
NOT_METRICS = ("check_scoring", "get_scorer", "make_scorer", "get_scorer_names")
# Cross-validation helpers fit many clones: their fits are not runs of their own.
CROSS_VALIDATION = (
    "cross_validate",
    "cross_val_predict",
    "cross_val_score",
    "learning_curve",
    "permutation_test_score",
    "validation_curve",
)


def install() -> None:
    """Wrap every target once (patching skips what is already wrapped)."""
    import sklearn.metrics
    import sklearn.model_selection

    from cairn.sklearn import post_training, training

    for owner in estimator_classes():
        for name in FIT_METHODS:
            _patch_method(owner, name, training.patched_fit)
        for name in PREDICT_METHODS:
            _patch_method(owner, name, post_training.patched_predict)
        _patch_method(owner, "score", post_training.patched_score)
    for name in metric_names():
        function = getattr(sklearn.metrics, name)
        patching.patch(
            INTEGRATION, sklearn.metrics, name, post_training.metric_patch(name, function)
        )
    scorer_class = _scorer_class()
    if scorer_class is not None:
        patching.patch(INTEGRATION, scorer_class, "__call__", post_training.patched_scorer)
    for name in CROSS_VALIDATION:
        helper = getattr(sklearn.model_selection, name, None)
        if not inspect.isfunction(helper):
            continue
        # Also where it is defined: `cross_val_score` imported before autolog() calls the
        # module's `cross_validate`.
        for namespace in (sklearn.model_selection, sys.modules.get(helper.__module__)):
            if namespace is not None and getattr(namespace, name, None) is helper:
                patching.patch(INTEGRATION, namespace, name, _without_logging)


def _scorer_class() -> type | None:
    """The base of `get_scorer`'s and `make_scorer`'s scorers (private in scikit-learn, but
    every scorer made before or after `autolog()` is one; MLflow's patch of each named
    scorer's function misses `make_scorer` and, since `get_scorer` returns copies, the rest)."""
    import sklearn.metrics._scorer as scorers

    found = getattr(scorers, "_BaseScorer", None)
    return found if isinstance(found, type) and "__call__" in vars(found) else None


def _without_logging(call: patching.PatchedCall, *args: Any, **kwargs: Any) -> Any:
    """The fits a cross-validation makes run inside this patched call: none is logged."""
    return call.original(*args, **kwargs)


def _patch_method(owner: type, name: str, logic: patching.Patch) -> None:
    """A plain method is wrapped on the class; one that scikit-learn makes available only
    when its step has it (`available_if`, a pipeline's `predict`) is wrapped inside that
    descriptor, so `hasattr(pipeline, "predict_proba")` still answers as before."""
    raw = inspect.getattr_static(owner, name, None)
    if inspect.isfunction(raw):
        patching.patch(INTEGRATION, owner, name, logic)
    elif inspect.isfunction(getattr(raw, "fn", None)) and callable(getattr(raw, "check", None)):
        patching.patch(INTEGRATION, raw, "fn", logic)


@functools.cache
def estimator_classes() -> tuple[type, ...]:
    """The classes to patch, subclasses before their bases: a class patched first wraps
    the original it inherits, not its base's wrapper."""
    from sklearn.base import BaseEstimator
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.utils import all_estimators

    found: set[type] = {cls for _, cls in all_estimators()}
    found |= {GridSearchCV, RandomizedSearchCV, Pipeline}
    found |= {
        cls
        for cls in _subclasses(BaseEstimator)
        if cls.__module__.startswith("sklearn.") and not cls.__name__.startswith("_")
    }
    chosen = [cls for cls in found if not _excluded(cls)]
    chosen.sort(key=lambda cls: (-len(cls.__mro__), cls.__module__, cls.__qualname__))
    return tuple(chosen)


def _subclasses(base: type) -> set[type]:
    seen: set[type] = set()
    waiting = [base]
    while waiting:
        sub: type
        for sub in waiting.pop().__subclasses__():
            if sub not in seen:
                seen.add(sub)
                waiting.append(sub)
    return seen


def _excluded(cls: type) -> bool:
    full_name = f"{cls.__module__}.{cls.__qualname__}"
    return cls.__module__.startswith(EXCLUDED_MODULES) or full_name in EXCLUDED_CLASSES


@functools.cache
def metric_names() -> tuple[str, ...]:
    """The metric functions of `sklearn.metrics` (not its display classes or plots)."""
    import sklearn.metrics

    names = []
    for name in sklearn.metrics.__all__:
        value = getattr(sklearn.metrics, name, None)
        if name not in NOT_METRICS and not name.startswith("plot_") and inspect.isfunction(value):
            names.append(name)
    return tuple(names)

"""A fitted estimator's predictions on its training data, each made at most once per fit.

The training metrics, the classifier plots and the model's signature all need them; on a
forest of 100 trees over 10,000 rows each `predict` or `predict_proba` takes about as long
as 2-3% of the fit, so they are shared. A forest's `predict` is the arg-max of its own
`predict_proba` (scikit-learn's code says so), so for forests only `predict_proba` runs.
A prediction that raised raises again for the next reader, without being retried.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

# Methods whose results another method's give exactly: (module, qualified name).
_FOREST_PREDICT = ("sklearn.ensemble._forest", "ForestClassifier.predict")
_CLASSIFIER_SCORE = ("sklearn.base", "ClassifierMixin.score")
_REGRESSOR_SCORE = ("sklearn.base", "RegressorMixin.score")


class TrainingPredictions:
    """`predict`, `predict_proba` and `decision_function` of `estimator` on `features`,
    computed when first asked for."""

    def __init__(self, estimator: Any, features: Any) -> None:
        self.estimator = estimator
        self.features = features
        self._made: dict[str, tuple[bool, Any]] = {}

    def _once(self, name: str, make: Callable[[], Any]) -> Any:
        if name not in self._made:
            try:
                self._made[name] = (True, make())
            except Exception as error:
                self._made[name] = (False, error)
        ok, value = self._made[name]
        if not ok:
            raise value
        return value

    @property
    def labels(self) -> Any:
        """What `predict` returns."""
        return self._once("predict", self._predict)

    @property
    def probabilities(self) -> Any:
        """What `predict_proba` returns; None for an estimator without it."""
        if not hasattr(self.estimator, "predict_proba"):
            return None
        return self._once("predict_proba", lambda: self.estimator.predict_proba(self.features))

    def positive_scores(self) -> Any:
        """One score per row for the greater of two classes, as scikit-learn's curve plots
        take it: the probability of `classes_[1]`, else the decision function."""
        probabilities = self.probabilities
        if probabilities is not None:
            return probabilities[:, 1]
        return self._once(
            "decision_function",
            lambda: self.estimator.decision_function(self.features).ravel(),
        )

    def _predict(self) -> Any:
        estimator = self.estimator
        if (
            _is(type(estimator).predict, _FOREST_PREDICT)
            and getattr(estimator, "n_outputs_", 0) == 1
        ):
            import numpy as np

            probabilities = self.probabilities
            return estimator.classes_.take(np.argmax(probabilities, axis=1), axis=0)
        return estimator.predict(self.features)


def score_is_accuracy(estimator: Any) -> bool:
    """`estimator.score(X, y, sample_weight)` is `accuracy_score` of its `predict`."""
    return _score_is(estimator, _CLASSIFIER_SCORE)


def score_is_r2(estimator: Any) -> bool:
    """`estimator.score(X, y, sample_weight)` is `r2_score` of its `predict`."""
    return _score_is(estimator, _REGRESSOR_SCORE)


def _score_is(estimator: Any, method: tuple[str, str]) -> bool:
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, Pipeline):
        # Without metadata routing, a pipeline scores with its last step's `score` on the
        # transformed data, which is that step's metric of the pipeline's `predict`.
        import sklearn

        if sklearn.get_config().get("enable_metadata_routing", False):
            return False
        if not _is(getattr(type(estimator), "score", None), ("sklearn.pipeline", "Pipeline.score")):
            return False
        return _score_is(estimator.steps[-1][1], method)
    return _is(getattr(type(estimator), "score", None), method)


def _is(function: Any, method: tuple[str, str]) -> bool:
    """`function` is scikit-learn's `method` itself (autologging's wrappers looked through)."""
    if function is None:
        return False
    original = inspect.unwrap(function)
    return (
        getattr(original, "__module__", None),
        getattr(original, "__qualname__", None),
    ) == method

"""`cairn.lightgbm.autolog()`: LightGBM trainings logged as MLflow logs them.

`lightgbm.train` and the scikit-learn estimators' `fit` (`LGBMClassifier`,
`LGBMRegressor`, `LGBMRanker`) are patched. Each training logs, into the active run or one
started for it:

- params: the booster's params and `train`'s `num_boost_round` and
  `keep_training_booster` (an estimator's: the params its booster was built with);
- the metrics of every iteration on each validation set, `<valid name>-<metric>` at step
  = iteration (`valid_0-binary_logloss`), as `train` runs;
- with early stopping (a `best_iteration` above 0), `stopped_iteration`,
  `best_iteration`, and the best iteration's metrics again at the step after the last;
- feature importance (`importance_types`, default `["split", "gain"]` as MLflow) as
  `feature_importance_<type>.json` and `.png`;
- the training data (and validation sets) as run inputs, when Cairn can describe them;
- the model (`log_models`): a Booster as `model.lgb`, an estimator as its class.

An estimator's `fit` calls `lightgbm.train` inside; that inner call is not logged again
(the patching core sends nested calls straight to the original), so `fit` logs from the
fitted estimator itself: one run per training either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

from cairn.autologging import boosting
from cairn.autologging.patching import PatchedCall
from cairn.autologging.settings import AutologSettings

INTEGRATION = "lightgbm"
# MLflow's supported range, which is also what Cairn was tested with.
TESTED_VERSIONS = ("4.6.0", "4.7.0")
DEFAULT_IMPORTANCE_TYPES = ("split", "gain")
# `train`'s arguments that are not params (MLflow's list): data, callables, a model.
UNLOGGED = (
    "params",
    "train_set",
    "valid_sets",
    "valid_names",
    "fobj",
    "feval",
    "init_model",
    "learning_rates",
    "callbacks",
)


def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    registered_model_name: str | None = None,
    extra_tags: Mapping[str, str] | None = None,
    importance_types: Sequence[str] | None = None,
) -> None:
    """Turn LightGBM autologging on (or off with `disable=True`); MLflow's arguments and
    defaults, plus `importance_types` (MLflow always logs `split` and `gain`). Takes effect
    for trainings started from now on, also when lightgbm is imported later.

    Example:
        >>> cairn.lightgbm.autolog()
        >>> booster = lightgbm.train(params, train_set, valid_sets=[valid_set])
    """
    boosting.turn_on(INTEGRATION, _install, locals(), DEFAULT_IMPORTANCE_TYPES)


def _install(lightgbm: ModuleType) -> None:
    boosting.install(INTEGRATION, lightgbm, TESTED_VERSIONS, "LGBMModel", _train, _fit)


def _train(call: PatchedCall, *args: Any, **kwargs: Any) -> Any:
    """`lightgbm.train`: params and datasets first, metrics as training runs, then the rest."""
    from lightgbm import engine

    with call.run() as run_id:
        if run_id is None:
            return call.original(*args, **kwargs)
        current = call.settings
        arguments = boosting.call_arguments(engine.train, args, kwargs)
        boosting.log_train_params(arguments, UNLOGGED)
        train_set = arguments["train_set"]
        # Read before training: a Dataset frees its raw data once constructed.
        features = _features(train_set)
        if current.log_datasets:
            _log_datasets(
                train_set, arguments.get("valid_sets") or (), arguments.get("valid_names")
            )
        booster, history = boosting.train_recording(call, engine.train, args, kwargs, _Recorder)
        _log_early_stopping(history, booster.best_iteration)
        _log_importances(current, booster)
        if current.log_models:
            _log_model(current, booster, features, booster.predict)
        return booster


def _fit(call: PatchedCall, estimator: Any, *args: Any, **kwargs: Any) -> Any:
    """An estimator's `fit`: logged from the fitted estimator (see the module's docstring)."""
    with call.run() as run_id:
        if run_id is None:
            return call.original(estimator, *args, **kwargs)
        current = call.settings
        arguments = boosting.call_arguments(estimator.fit, args, kwargs)
        features, targets = arguments.get("X"), arguments.get("y")
        eval_sets = _eval_sets(arguments)
        if current.log_datasets:
            names = arguments.get("eval_names") or [f"valid_{i}" for i in range(len(eval_sets))]
            boosting.log_fit_data(features, targets, eval_sets, names)
        fitted = call.original(estimator, *args, **kwargs)
        booster = estimator.booster_
        boosting.log_training_params(
            booster.params,
            {"num_boost_round": estimator.n_estimators, "keep_training_booster": False},
        )
        history = boosting.fit_history(estimator, eval_sets)
        _log_early_stopping(history, booster.best_iteration)
        _log_importances(current, booster)
        if current.log_models:
            _log_model(current, estimator, features, estimator.predict)
        return fitted


def _eval_sets(arguments: Mapping[str, Any]) -> list[tuple[Any, Any]]:
    """`fit`'s validation sets: `eval_set` pairs, or LightGBM 4.7's `eval_X` and `eval_y`
    (one of each, or tuples of them)."""
    if arguments.get("eval_set"):
        return list(arguments["eval_set"])
    features, targets = arguments.get("eval_X"), arguments.get("eval_y")
    if features is None:
        return []
    if isinstance(features, tuple):
        labels = targets if isinstance(targets, tuple) else (targets,) * len(features)
        return list(zip(features, labels, strict=False))
    return [(features, targets)]


class _Recorder:
    """A LightGBM callback that records each iteration's evaluations."""

    def __init__(self, history: boosting.MetricHistory) -> None:
        self.history = history

    def __call__(self, env: Any) -> None:
        try:
            latest = {
                f"{entry[0]}-{entry[1]}": entry[2] for entry in env.evaluation_result_list or ()
            }
        except Exception:  # a log Cairn cannot read never stops the training
            latest = {}
        self.history.record(latest, env.iteration)


def _log_early_stopping(history: boosting.MetricHistory, best_iteration: int) -> None:
    """LightGBM counts iterations from 1 and leaves `best_iteration` at 0 without early
    stopping; as MLflow, the stopped iteration is the number of iterations recorded."""
    if best_iteration > 0:
        history.log_early_stopping(best_iteration, len(history), best_iteration - 1)


def _log_importances(current: AutologSettings, booster: Any) -> None:
    types = current.option("importance_types", DEFAULT_IMPORTANCE_TYPES)
    names = booster.feature_name()

    def scores(kind: str) -> dict[str, Any]:
        return dict(zip(names, booster.feature_importance(importance_type=kind), strict=True))

    boosting.log_feature_importances(types, scores)


def _log_model(current: AutologSettings, model: Any, features: Any, predict: Any) -> None:
    from cairn.lightgbm import log_model

    boosting.log_model(current, log_model, model, features, predict)


def _features(dataset: Any) -> Any:
    """A Dataset's raw features when they are a DataFrame or an array (not a file path or
    a sparse matrix)."""
    import numpy as np
    import pandas as pd

    data = getattr(dataset, "data", None)
    return data if isinstance(data, (pd.DataFrame, np.ndarray)) else None


def _log_datasets(train_set: Any, valid_sets: Sequence[Any], valid_names: Any) -> None:
    """The training Dataset (context `train`) and each validation set (`eval`, by name)."""
    boosting.log_data(_features(train_set), getattr(train_set, "label", None), "train")
    names = list(valid_names or [])
    for index, valid_set in enumerate(valid_sets):
        name = str(names[index]) if index < len(names) else None
        boosting.log_data(_features(valid_set), getattr(valid_set, "label", None), "eval", name)

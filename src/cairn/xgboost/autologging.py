"""`cairn.xgboost.autolog()`: XGBoost trainings logged as MLflow logs them.

`xgboost.train` and the scikit-learn estimators' `fit` (`XGBClassifier`, `XGBRegressor`,
`XGBRanker`, …) are patched. Each training logs, into the active run or one started for it:

- params: the booster's params and `train`'s other arguments (`num_boost_round`,
  `early_stopping_rounds`, `maximize`, `verbose_eval`, `custom_metric`);
- the metrics of every iteration on each eval set, `<eval name>-<metric>` at step =
  iteration (`validation_0-logloss` for an estimator's `eval_set`), as training runs;
- with early stopping, `stopped_iteration`, `best_iteration`, and the best iteration's
  metrics again at the step after the last;
- feature importance (`importance_types`, default `["weight"]`) as
  `feature_importance_<type>.json` and `.png`;
- the training data (and eval sets) as run inputs, when Cairn can describe them;
- the model (`log_models`) in XGBoost's format (`model_format`), as the class trained.

An estimator's `fit` calls `xgboost.train` inside; that inner call is not logged again
(the patching core sends nested calls straight to the original), so `fit` logs from the
fitted estimator itself: one run per training either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

from cairn.autologging import boosting, training_data
from cairn.autologging.patching import PatchedCall
from cairn.autologging.settings import AutologSettings

INTEGRATION = "xgboost"
# MLflow's oldest supported version, and the newest Cairn was tested with.
TESTED_VERSIONS = ("2.1.2", "3.2.0")
DEFAULT_IMPORTANCE_TYPES = ("weight",)
# `train`'s arguments that are not params (MLflow's list): data, callables, a model.
UNLOGGED = (
    "params",
    "dtrain",
    "evals",
    "obj",
    "feval",
    "evals_result",
    "xgb_model",
    "callbacks",
    "learning_rates",
)
# A DMatrix is logged as a dataset by densifying it; past this many cells it is not.
MAX_DENSE_CELLS = 10_000_000


def autolog(
    importance_types: Sequence[str] | None = None,
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    registered_model_name: str | None = None,
    model_format: str = "ubj",
    extra_tags: Mapping[str, str] | None = None,
) -> None:
    """Turn XGBoost autologging on (or off with `disable=True`); MLflow's arguments and
    defaults. Takes effect for trainings started from now on, also when xgboost is
    imported later.

    Example:
        >>> cairn.xgboost.autolog(importance_types=["weight", "gain"])
        >>> booster = xgboost.train(params, dtrain, evals=[(dvalid, "valid")])
    """
    from cairn.xgboost import check_format

    check_format(model_format)
    boosting.turn_on(
        INTEGRATION, _install, locals(), DEFAULT_IMPORTANCE_TYPES, model_format=model_format
    )


def _install(xgboost: ModuleType) -> None:
    boosting.install(INTEGRATION, xgboost, TESTED_VERSIONS, "XGBModel", _train, _fit)


def _train(call: PatchedCall, *args: Any, **kwargs: Any) -> Any:
    """`xgboost.train`: params and datasets first, metrics as training runs, then the rest."""
    import xgboost
    from xgboost import training

    with call.run() as run_id:
        if run_id is None:
            return call.original(*args, **kwargs)
        current = call.settings
        arguments = boosting.call_arguments(training.train, args, kwargs)
        boosting.log_train_params(arguments, UNLOGGED)
        dtrain = arguments["dtrain"]
        if current.log_datasets:
            _log_dmatrices(dtrain, arguments.get("evals") or ())
        sample = (
            _dmatrix_features(dtrain, training_data.EXAMPLE_ROWS) if current.log_models else None
        )
        booster, history = boosting.train_recording(call, training.train, args, kwargs, _recorder)
        if arguments.get("early_stopping_rounds"):
            _log_early_stopping(history, booster.best_iteration)
        _log_importances(current, booster)
        if current.log_models:
            _log_model(current, booster, sample, lambda x: booster.predict(xgboost.DMatrix(x)))
        return booster


def _fit(call: PatchedCall, estimator: Any, *args: Any, **kwargs: Any) -> Any:
    """An estimator's `fit`: logged from the estimator (see the module's docstring)."""
    with call.run() as run_id:
        if run_id is None:
            return call.original(estimator, *args, **kwargs)
        current = call.settings
        arguments = boosting.call_arguments(estimator.fit, args, kwargs)
        features, targets = arguments.get("X"), arguments.get("y")
        eval_sets = list(arguments.get("eval_set") or ())
        boosting.log_training_params(
            estimator.get_xgb_params(), _fit_arguments(estimator, arguments)
        )
        if current.log_datasets:
            names = [f"validation_{i}" for i in range(len(eval_sets))]
            boosting.log_fit_data(features, targets, eval_sets, names)
        fitted = call.original(estimator, *args, **kwargs)
        history = boosting.fit_history(estimator, eval_sets)
        if estimator.early_stopping_rounds and eval_sets:
            _log_early_stopping(history, estimator.best_iteration)
        _log_importances(current, estimator.get_booster())
        if current.log_models:
            _log_model(current, estimator, features, estimator.predict)
        return fitted


def _fit_arguments(estimator: Any, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments `fit` passes to `train`, as `train`'s own params name them."""
    metric = estimator.eval_metric
    return {
        "num_boost_round": estimator.get_num_boosting_rounds(),
        "maximize": None,
        "early_stopping_rounds": estimator.early_stopping_rounds,
        "verbose_eval": arguments.get("verbose", True),
        "custom_metric": metric if callable(metric) else None,
    }


def _recorder(history: boosting.MetricHistory) -> Any:
    """An XGBoost callback that records each iteration's last evaluation."""
    from xgboost.callback import TrainingCallback

    class _Recorder(TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            try:
                latest = {
                    f"{data}-{metric}": _value(values[-1])
                    for data, metrics in evals_log.items()
                    for metric, values in metrics.items()
                }
            except Exception:  # a log Cairn cannot read never stops the training
                latest = {}
            history.record(latest, epoch)
            return False

    return _Recorder()


def _value(value: Any) -> Any:
    """An evaluation value: `(mean, std)` pairs (cross-validation) give their mean."""
    return value[0] if isinstance(value, tuple) else value


def _log_early_stopping(history: boosting.MetricHistory, best_iteration: int) -> None:
    """XGBoost counts iterations from 0: the last recorded one is where it stopped."""
    history.log_early_stopping(best_iteration, len(history) - 1, best_iteration)


def _log_importances(current: AutologSettings, booster: Any) -> None:
    types = current.option("importance_types", DEFAULT_IMPORTANCE_TYPES)
    boosting.log_feature_importances(types, lambda kind: booster.get_score(importance_type=kind))


def _log_model(current: AutologSettings, model: Any, features: Any, predict: Any) -> None:
    from cairn.xgboost import log_model

    model_format = current.option("model_format", "ubj")
    boosting.log_model(current, log_model, model, features, predict, model_format=model_format)


def _log_dmatrices(dtrain: Any, evals: Sequence[Any]) -> None:
    """The training DMatrix (context `train`) and each eval set (`eval`, by its name)."""
    boosting.log_data(*_dmatrix_data(dtrain), "train")
    for matrix, name in evals:
        boosting.log_data(*_dmatrix_data(matrix), "eval", str(name))


def _dmatrix_data(matrix: Any) -> tuple[Any, Any]:
    """(features, labels) of a DMatrix, or (None, None) when it cannot be read back (an
    external-memory or quantile matrix) or is too big to densify."""
    try:
        if matrix.num_row() * matrix.num_col() > MAX_DENSE_CELLS:
            return None, None
        features = _dmatrix_features(matrix, None)
        labels = matrix.get_label()
    except Exception:
        return None, None
    return features, (labels if len(labels) == matrix.num_row() else None)


def _dmatrix_features(matrix: Any, rows: int | None) -> Any:
    """The first `rows` rows (all with None) of a DMatrix, dense, missing values as NaN; a
    DataFrame when the matrix has feature names."""
    import numpy as np

    try:
        if rows is not None and matrix.num_row() > rows:
            matrix = matrix.slice(list(range(rows)))  # not a copy of all the data
        sparse = matrix.get_data()
    except Exception:  # a matrix that cannot be read back (external memory, quantile)
        return None
    dense = np.full(sparse.shape, np.nan, dtype=np.float64)
    entries = sparse.tocoo()
    dense[entries.row, entries.col] = entries.data
    names = matrix.feature_names
    if not names:
        return dense
    import pandas as pd

    return pd.DataFrame(dense, columns=list(names))

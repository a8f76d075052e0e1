"""Metrics computed after training, on held-out data, logged into the run that fit the model.

MLflow's way: a fit registers its estimator (by `id`, forgotten when it is collected); the
predictions of a registered estimator are registered with the run and the name of the data
they came from; a `sklearn.metrics` function given such predictions, or `score` of a
registered estimator, logs its value as `<function>_<data>`, e.g. `accuracy_score_X_test` or
`LogisticRegression_score_X_test`. A metric called again in the same run becomes
`<function>-2_<data>`, `-3`, …; other data of the same variable name `X_test-2`. The calls
are kept in the run's `metric_info.json` (`{metric key: "accuracy_score(y_true=y_test, …)"}`).
Only the objects the predict call returned are known: a copy or a slice of them is not.

A scorer (`get_scorer("f1")`, `make_scorer(fbeta_score, beta=2)`, made before or after
`autolog()`) called on a registered model logs its metric function's value as
`<function>_<data of X>`, as MLflow names it: `f1_score_X_test`, and for
`neg_mean_squared_error` the error itself, `mean_squared_error_X_test`, not its negative.
The scorer's own column choice (the positive class's probabilities) does not hide it.
"""

from __future__ import annotations

import inspect
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cairn.autologging import patching, training_data
from cairn.sklearn.variable_names import variable_name
from cairn.tracking import fluent

METRIC_INFO_FILE = "metric_info.json"


@dataclass(frozen=True)
class _Source:
    run_id: str
    model_id: str | None
    dataset_name: str = ""


@dataclass
class _RunCalls:
    datasets: dict[str, list[int]] = field(default_factory=dict)  # name → ids named so
    metrics: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # → (key, call)


_lock = threading.Lock()
_models: dict[int, _Source] = {}
_predictions: dict[int, _Source] = {}
_runs: dict[str, _RunCalls] = {}


def register_model(model: Any, run_id: str, model_id: str | None) -> None:
    """Metrics of `model` from now on go to `run_id` (and to the logged model)."""
    _remember(_models, model, _Source(run_id, model_id))


def run_of(model: Any) -> str | None:
    """The run that fit `model`, while autologging knows it."""
    source = _models.get(id(model))
    return None if source is None else source.run_id


def _remember(table: dict[int, _Source], value: Any, source: _Source) -> None:
    key = id(value)
    try:
        weakref.finalize(value, _forget, table, key, source)
    except TypeError:  # no weak references (a list): its id could name another object later
        return
    with _lock:
        table[key] = source


def _forget(table: dict[int, _Source], key: int, source: _Source) -> None:
    with _lock:
        if table.get(key) is source:
            del table[key]


def _enabled(call: patching.PatchedCall) -> bool:
    return bool(call.settings.option("log_post_training_metrics", True))


def _first_argument(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if args:
        return args[0]
    return kwargs.get("X", next(iter(kwargs.values()), None))


def patched_predict(call: patching.PatchedCall, model: Any, *args: Any, **kwargs: Any) -> Any:
    """`predict`, `predict_proba`, `predict_log_proba`, `transform`: the result of a
    registered model is remembered with the run and the name of its input."""
    result = call.original(model, *args, **kwargs)
    source = _models.get(id(model))
    if source is None or not _enabled(call):
        return result
    data = _first_argument(args, kwargs)
    name = _dataset_name(source.run_id, data)
    _remember(_predictions, result, _Source(source.run_id, source.model_id, name))
    _log_eval_input(call, source, data)
    return result


def _log_eval_input(call: patching.PatchedCall, source: _Source, data: Any) -> None:
    """The data a registered model predicted, as an `eval` input of its run."""
    if call.settings.log_datasets:
        found = training_data.dataset(data)
        if found is not None:
            fluent.current_client().log_input(source.run_id, found, context="eval")


def patched_score(call: patching.PatchedCall, model: Any, *args: Any, **kwargs: Any) -> Any:
    """`model.score(X, y)` of a registered model logs `<Class>_score_<X's name>`."""
    value = call.original(model, *args, **kwargs)
    source = _models.get(id(model))
    if source is None or not _enabled(call) or not _loggable(value):
        return value
    name = _dataset_name(source.run_id, _first_argument(args, kwargs))
    command = _command(f"{type(model).__name__}.score", type(model).score, args, kwargs, True)
    _log(source, f"{type(model).__name__}_score", name, command, value)
    return value


def patched_scorer(call: patching.PatchedCall, scorer: Any, *args: Any, **kwargs: Any) -> Any:
    """`scorer(model, X, y)` of a registered model logs `<score function>_<X's name>`; the
    predictions and metric calls the scorer makes inside are nested calls, not logged."""
    value = call.original(scorer, *args, **kwargs)
    named = dict(zip(("estimator", "X", "y_true"), args, strict=False)) | kwargs
    source = _models.get(id(named.get("estimator")))
    if source is None or not _enabled(call) or not _loggable(value):
        return value
    function = getattr(scorer, "_score_func", None)
    function_name = getattr(function, "__name__", None) or type(function).__name__
    data = named.get("X")
    name = _dataset_name(source.run_id, data)
    _log_eval_input(call, source, data)
    options = {**getattr(scorer, "_kwargs", {}), **kwargs}
    pairs = [
        f"y_true={_shown(named.get('y_true'))}",
        f"y_pred=<prediction of {name}>",
        *(f"{key}={_shown(option)}" for key, option in options.items()),
    ]
    command = f"{function_name}({', '.join(pairs)})"
    # The scorer returns sign × the function's value; MLflow logs the function's value.
    sign = getattr(scorer, "_sign", 1)
    _log(source, function_name, name, command, float(value) * (1 if sign >= 0 else -1))
    return value


def metric_patch(function_name: str, function: Callable[..., Any]) -> patching.Patch:
    """The patch of one `sklearn.metrics` function: given predictions a registered model
    made, its value is logged as `<function_name>_<data>`."""

    def patched_metric(call: patching.PatchedCall, *args: Any, **kwargs: Any) -> Any:
        value = call.original(*args, **kwargs)
        if not _enabled(call) or not _loggable(value):
            return value
        source = _prediction_among([*args, *kwargs.values()])
        if source is None:
            return value
        command = _command(function_name, function, args, kwargs, skip_self=False)
        _log(source, function_name, source.dataset_name, command, value)
        return value

    return patched_metric


def _prediction_among(values: list[Any]) -> _Source | None:
    for value in values:
        if value is not None:
            source = _predictions.get(id(value))
            if source is not None:
                return source
    return None


def _loggable(value: Any) -> bool:
    import numpy as np

    return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))


def _dataset_name(run_id: str, data: Any) -> str:
    """The variable name of `data`; `<name>-2`, … for other data of the same name."""
    name = variable_name(data)
    with _lock:
        seen = _runs.setdefault(run_id, _RunCalls()).datasets.setdefault(name, [])
        if id(data) not in seen:
            seen.append(id(data))
        index = seen.index(id(data))
    return name if index == 0 else f"{name}-{index + 1}"


def _command(
    shown: str,
    function: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    skip_self: bool,
) -> str:
    """The call as the user wrote it, for `metric_info.json`: `f1_score(y_true=y_test, …)`."""
    try:
        names = list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        names = []
    if skip_self:
        names = names[1:]
    pairs = [*zip(names, args, strict=False), *kwargs.items()]
    return f"{shown}({', '.join(f'{name}={_shown(value)}' for name, value in pairs)})"


def _shown(value: Any) -> str:
    import numpy as np

    if value is None or np.isscalar(value):
        text = repr(value)
        return repr(value[:32] + "...") if isinstance(value, str) and len(value) > 32 else text
    return variable_name(value, fallback=f"<{type(value).__name__}>")


def _log(source: _Source, metric_name: str, dataset_name: str, command: str, value: Any) -> None:
    with _lock:
        calls = _runs.setdefault(source.run_id, _RunCalls()).metrics.setdefault(metric_name, [])
        index = len(calls)
        named = metric_name if index == 0 else f"{metric_name}-{index + 1}"
        key = f"{named}_{dataset_name}"
        calls.append((key, command))
        commands = dict(
            sorted(pair for made in _runs[source.run_id].metrics.values() for pair in made)
        )
    client = fluent.current_client()
    client.log_metric(source.run_id, key, float(value), model_id=source.model_id)
    client.log_dict(source.run_id, commands, METRIC_INFO_FILE)

"""What XGBoost's and LightGBM's autologging share, under MLflow's names.

- The training call's arguments as params: the booster's params, and the other arguments
  of `train` with their defaults (`num_boost_round`, `early_stopping_rounds`, …), minus the
  data and callables; the booster's params win where both name the same key.
- The evaluation metrics of every iteration, `<eval name>-<metric>` at step = iteration,
  logged as they come through the fluent `log_metrics` (buffered, so training never waits
  for the store), and kept for the early-stopping summary: `stopped_iteration`,
  `best_iteration`, and the best iteration's metrics again at the step after the last.
- Feature importance per type: `feature_importance_<type>.json` and a bar plot
  `feature_importance_<type>.png`.
- Whether the installed library is a version Cairn's autologging was tested with.
- The shared steps of `autolog()` (`turn_on`: the switches, with `importance_types` and
  `registered_model_name`) and of the patches: `train` and the scikit-learn estimators'
  own `fit` patched (`install`), `train` run with a metric-recording callback added
  (`train_recording`), the training and evaluation data as run inputs (`log_fit_data`),
  the model (`log_model`).
"""

from __future__ import annotations

import importlib
import inspect
import logging
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cairn.autologging import patching, settings, switch, training_data
from cairn.autologging.settings import AutologSettings
from cairn.tracking import fluent

if TYPE_CHECKING:
    from types import ModuleType

    from matplotlib.figure import Figure

    from cairn.autologging.patching import Patch, PatchedCall

log = logging.getLogger("cairn.autolog")

STOPPED_ITERATION = "stopped_iteration"
BEST_ITERATION = "best_iteration"


def turn_on(
    integration: str,
    install: Callable[[ModuleType], None],
    arguments: Mapping[str, Any],
    default_importance_types: tuple[str, ...],
    **options: Any,
) -> None:
    """`switch.turn_on` for the library named as its integration, from its `autolog()`'s
    `arguments`: the options both take, `importance_types` (checked; None: the default) and
    `registered_model_name`, and the integration's own `options`."""
    from cairn.exceptions import InvalidParameterValueError

    given = arguments["importance_types"]
    types = default_importance_types if given is None else given
    if isinstance(types, str):
        raise InvalidParameterValueError("importance_types must be a list of type names.")
    switch.turn_on(
        integration,
        (integration,),
        install,
        arguments,
        importance_types=tuple(types),
        registered_model_name=arguments["registered_model_name"],
        **options,
    )


def install(
    integration: str,
    library: ModuleType,
    tested_versions: tuple[str, str],
    estimator_base: str,
    train: Patch,
    fit: Patch,
) -> None:
    """Patch `library.train`, and the `fit` of each scikit-learn estimator class in
    `library.sklearn` that defines its own; not when the integration is off, or the
    library's version is untested and to be skipped."""
    current = settings.get(integration)
    if current is None or skip_unsupported(
        integration, current, library.__version__, *tested_versions
    ):
        return
    estimators = importlib.import_module(f"{library.__name__}.sklearn")
    patching.patch(integration, library, "train", train)
    base = getattr(estimators, estimator_base)
    for cls in vars(estimators).values():
        if (
            isinstance(cls, type)
            and issubclass(cls, base)
            and cls.__module__ == estimators.__name__
            and "fit" in vars(cls)
        ):
            patching.patch(integration, cls, "fit", fit)


def call_arguments(
    function: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    """Every argument of a call by name, defaults included (as `train` sees them)."""
    bound = inspect.signature(function).bind(*args, **kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


def with_argument(
    function: Callable[..., Any],
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    name: str,
    value: Any,
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The call's (args, kwargs) with one argument replaced, wherever the caller put it."""
    bound = inspect.signature(function).bind(*args, **kwargs)
    bound.arguments[name] = value
    return tuple(bound.args), dict(bound.kwargs)


def log_train_params(arguments: Mapping[str, Any], unlogged: Collection[str]) -> None:
    """`train`'s params: its arguments but `unlogged` (data, callables, a model), and the
    booster's params over them."""
    log_training_params(
        arguments["params"], {k: v for k, v in arguments.items() if k not in unlogged}
    )


def log_training_params(booster_params: Any, arguments: Mapping[str, Any]) -> None:
    """One batch of params: the call's arguments, then the booster's (a dict or the list of
    pairs XGBoost also accepts) over them."""
    params = dict(arguments)
    params.update(dict(booster_params or {}))
    fluent.log_params(params)


def train_recording(
    call: PatchedCall,
    train: Callable[..., Any],
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    recorder: Callable[[MetricHistory], Any],
) -> tuple[Any, MetricHistory]:
    """Run the original `train(*args, **kwargs)` with one more callback, `recorder(history)`,
    which records each iteration's metrics; (the booster, the history)."""
    history = MetricHistory()
    callbacks = [*(call_arguments(train, args, kwargs).get("callbacks") or ()), recorder(history)]
    args, kwargs = with_argument(train, args, kwargs, "callbacks", callbacks)
    return call.original(*args, **kwargs), history


def fit_history(estimator: Any, eval_sets: Sequence[Any]) -> MetricHistory:
    """A fitted estimator's evaluation metrics (`evals_result_`), when it had eval sets."""
    history = MetricHistory()
    if eval_sets:
        history.record_log(getattr(estimator, "evals_result_", None) or {})
    return history


def metric_name(name: str) -> str:
    """A metric key MLflow accepts: `ndcg@3` becomes `ndcg_at_3`, as MLflow names it."""
    return name.replace("@", "_at_")


class MetricHistory:
    """Evaluation metrics per iteration: logged at once (buffered) and kept in order.

    A failure to log stops the logging, never the training: the libraries call `record`
    from inside their training loop, where an exception would end the training.
    """

    def __init__(self) -> None:
        self.iterations: list[dict[str, float]] = []
        self._broken = False

    def __len__(self) -> int:
        return len(self.iterations)

    def record(self, metrics: Mapping[str, Any], step: int) -> None:
        try:
            named = {metric_name(key): float(value) for key, value in metrics.items()}
            self.iterations.append(named)
            if named and not self._broken:
                fluent.log_metrics(named, step=step)
        except Exception as error:
            if not self._broken:
                log.warning("Cairn stopped logging the training's metrics: %s", error)
            self._broken = True

    def record_log(self, evals_log: Mapping[str, Mapping[str, Sequence[Any]]]) -> None:
        """A finished training's whole log, `{eval name: {metric: [value per iteration]}}`
        (the scikit-learn estimators' `evals_result`)."""
        rounds = max((len(v) for m in evals_log.values() for v in m.values()), default=0)
        for step in range(rounds):
            self.record(
                {
                    f"{data}-{metric}": values[step]
                    for data, metrics in evals_log.items()
                    for metric, values in metrics.items()
                    if step < len(values)
                },
                step,
            )

    def log_early_stopping(
        self, best_iteration: int, stopped_iteration: int, best_index: int
    ) -> None:
        """MLflow's summary of an early-stopped training: the two iteration numbers, and the
        metrics of the best iteration (`iterations[best_index]`) at the step after the last."""
        fluent.log_metrics({STOPPED_ITERATION: stopped_iteration, BEST_ITERATION: best_iteration})
        if 0 <= best_index < len(self.iterations) and self.iterations[best_index]:
            fluent.log_metrics(self.iterations[best_index], step=len(self.iterations))


def log_feature_importances(
    importance_types: Iterable[str], scores: Callable[[str], Mapping[str, Any]]
) -> None:
    """`feature_importance_<type>.json` and `.png` for each type; `scores(type)` maps each
    feature to its importance (or to one importance per class). A type the model cannot
    give is skipped with a warning."""
    from cairn.tracking.fluent_artifacts import log_dict, log_figure

    for importance_type in importance_types:
        try:
            importance = {str(k): _plain(v) for k, v in scores(importance_type).items()}
        except Exception as error:
            log.warning("No %r feature importance logged: %s", importance_type, error)
            continue
        log_dict(importance, f"feature_importance_{importance_type}.json")
        if not importance:
            continue
        try:
            figure = importance_plot(importance, importance_type)
        except Exception as error:  # matplotlib missing, or values it cannot draw
            log.warning("No %r feature importance plot logged: %s", importance_type, error)
            continue
        log_figure(figure, f"feature_importance_{importance_type}.png")


def _plain(value: Any) -> Any:
    """A JSON value: numpy numbers and arrays become Python's."""
    to_list = getattr(value, "tolist", None)
    return to_list() if callable(to_list) else value


def importance_plot(importance: Mapping[str, Any], importance_type: str) -> Figure:
    """Horizontal bars, the most important feature on top; one bar per class where the
    model gives an importance per class (XGBoost's linear booster)."""
    import numpy as np
    from matplotlib.figure import Figure

    features = list(importance)
    values = np.array([np.ravel(np.asarray(importance[f], dtype=float)) for f in features])
    order = np.argsort(np.abs(values).sum(axis=1))
    values, labels = values[order], [features[i] for i in order]
    classes = values.shape[1]
    height = (
        4.8 + (0.1 * len(labels) if len(labels) > 10 else 0) + (0.1 * classes if classes > 1 else 0)
    )
    figure = Figure(figsize=(6.4, height))
    axes = figure.subplots()
    rows = np.arange(len(labels))
    bar_height = 0.8 / classes
    for column in range(classes):
        offset = (column - (classes - 1) / 2) * bar_height
        label = f"Class {column}" if classes > 1 else None
        axes.barh(rows + offset, values[:, column], height=bar_height, align="center", label=label)
    axes.set_yticks(rows)
    axes.set_yticklabels(labels)
    axes.set_xlabel("Importance")
    axes.set_title(f"Feature Importance ({importance_type})")
    if classes > 1:
        axes.legend()
    figure.tight_layout()
    return figure


def version_supported(version: str, minimum: str, maximum: str) -> bool:
    """Whether `version` lies in the tested range (releases compared by their numbers; a
    newer patch of the newest tested minor release counts as tested)."""
    found = _release(version)
    return _release(minimum) <= found and found[:2] <= _release(maximum)[:2]


def _release(version: str) -> tuple[int, ...]:
    numbers = re.match(r"\d+(?:\.\d+)*", version.strip())
    return tuple(int(n) for n in numbers.group(0).split(".")) if numbers else (0,)


def skip_unsupported(
    integration: str, settings: AutologSettings, version: str, minimum: str, maximum: str
) -> bool:
    """With `disable_for_unsupported_versions`, whether to leave an untested version
    unpatched (saying so unless `silent`)."""
    if not settings.disable_for_unsupported_versions:
        return False
    if version_supported(version, minimum, maximum):
        return False
    if not settings.silent:
        log.warning(
            "Cairn autologging for %s is off: version %s was not tested (tested: %s to %s).",
            integration,
            version,
            minimum,
            maximum,
        )
    return True


def log_fit_data(
    features: Any, targets: Any, eval_sets: Iterable[tuple[Any, Any]], names: Iterable[Any]
) -> None:
    """A `fit`'s training data (context `train`) and each eval set (`eval`, by its name)."""
    log_data(features, targets, "train")
    for (eval_features, eval_targets), name in zip(eval_sets, names, strict=False):
        log_data(eval_features, eval_targets, "eval", str(name))


def log_model(
    current: AutologSettings,
    flavor_log_model: Callable[..., Any],
    model: Any,
    features: Any,
    predict: Callable[[Any], Any],
    **flavor_options: Any,
) -> None:
    """The trained model as `model`, with its input example and signature as the switches
    ask, under the autolog's `registered_model_name`."""
    flavor_log_model(
        model,
        "model",
        registered_model_name=current.option("registered_model_name"),
        **flavor_options,
        **training_data.model_arguments(current, features, predict),
    )


def log_data(features: Any, targets: Any, context: str, name: str | None = None) -> None:
    """Log training or evaluation data as a run input, when Cairn can describe it; a
    failure only warns (the run goes on without the input)."""
    from cairn.autologging.training_data import dataset
    from cairn.tracking.fluent_data import log_input

    try:
        found = dataset(features, targets, name=name)
        if found is not None:
            log_input(found, context=context)
    except Exception as error:
        log.warning("Cairn could not log the %s dataset: %s", context, error)

"""Autologging for PyTorch Lightning (MLflow's `mlflow.pytorch.autolog`).

`Trainer.fit` of `lightning.pytorch` (and of `pytorch_lightning`, when installed) is patched
once either is imported. A fit logs, into the active run or one started for it:

- params: `epochs` (max_epochs), `optimizer_name` and the first optimizer's settings (its
  defaults, as its first param group has them: `lr`, `betas`, …), the LightningModule's
  `hparams` (nested ones as `a/b`), and an EarlyStopping callback's `monitor`, `mode`,
  `patience`, `min_delta`, `stopped_epoch`. Keys the run already has are left as they are;
- metrics: every value in `trainer.callback_metrics` (what `self.log` recorded) at the end
  of each training epoch, at step = epoch (every `log_every_n_epoch` epochs), and with
  `log_every_n_step`, step-level ones at step = global step; after an early stop,
  `stopped_epoch`, `restored_epoch`, `best_score` and `wait_count`;
- artifacts: `model_summary.txt`; the module as the LoggedModel `model` (`cairn.pytorch`,
  pickled; its signature from the first batch `forward` saw); with `checkpoint`, the best
  (or every) checkpoint under `checkpoints/`, as MLflow names them, and the run tag
  `mlflow.latest_checkpoint_artifact` pointing to the latest.

A fit that raises ends a run started for it FAILED, and the error reaches the caller
unchanged; a failure of the logging itself is a warning and training goes on.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from cairn.autologging import import_hooks, patching, settings
from cairn.autologging.patching import PatchedCall
from cairn.autologging.settings import AutologSettings
from cairn.exceptions import InvalidParameterValueError
from cairn.store.validation import MAX_PARAM_VALUE_LENGTH
from cairn.tracking import fluent

if TYPE_CHECKING:
    from types import ModuleType

INTEGRATION = "pytorch"  # MLflow's name: runs are tagged mlflow.autologging=pytorch
_PACKAGES = ("lightning", "pytorch_lightning")
# The Lightning versions this integration was written and tested against.
_OLDEST, _NEWEST = (2, 0), (2, 6)
LATEST_CHECKPOINT_TAG = "mlflow.latest_checkpoint_artifact"
CHECKPOINT_DIR = "checkpoints"
log = logging.getLogger("cairn.autolog")


def autolog(
    log_every_n_epoch: int = 1,
    log_every_n_step: int | None = None,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    registered_model_name: str | None = None,
    extra_tags: Mapping[str, Any] | None = None,
    checkpoint: bool = True,
    checkpoint_monitor: str | None = "val_loss",
    checkpoint_mode: str = "min",
    checkpoint_save_best_only: bool = True,
    checkpoint_save_weights_only: bool = False,
    checkpoint_save_freq: str | int = "epoch",
    log_model_signatures: bool = True,
) -> None:
    """Log PyTorch Lightning training (`Trainer.fit`); MLflow's switches and defaults.

    `log_datasets` is accepted for MLflow's signature; like MLflow's, this integration logs
    no dataset (a DataLoader has no table to describe).

    Example:
        >>> cairn.pytorch.autolog(log_every_n_step=10)
        >>> lightning.pytorch.Trainer(max_epochs=3).fit(model, train_loader, val_loader)
    """
    _check(log_every_n_epoch, log_every_n_step, checkpoint_monitor, checkpoint_mode,
           checkpoint_save_best_only, checkpoint_save_freq)  # fmt: skip
    options = {
        "log_every_n_epoch": log_every_n_epoch,
        "log_every_n_step": log_every_n_step,
        "registered_model_name": registered_model_name,
        "checkpoint": checkpoint,
        "checkpoint_monitor": checkpoint_monitor,
        "checkpoint_mode": checkpoint_mode,
        "checkpoint_save_best_only": checkpoint_save_best_only,
        "checkpoint_save_weights_only": checkpoint_save_weights_only,
        "checkpoint_save_freq": checkpoint_save_freq,
    }
    current = AutologSettings(
        log_models=log_models,
        log_datasets=log_datasets,
        log_model_signatures=log_model_signatures,
        disable=disable,
        exclusive=exclusive,
        disable_for_unsupported_versions=disable_for_unsupported_versions,
        silent=silent,
        extra_tags={k: str(v) for k, v in (extra_tags or {}).items()},
        options=options,
    )
    settings.configure(INTEGRATION, current)
    if disable:
        patching.revert(INTEGRATION)
        return
    for package in _PACKAGES:
        import_hooks.when_imported(package, _install)


def _check(
    every_epoch: Any,
    every_step: Any,
    monitor: str | None,
    mode: str,
    best_only: bool,
    freq: Any,
) -> None:
    if not _positive(every_epoch):
        raise InvalidParameterValueError(
            f"log_every_n_epoch must be a positive integer, not {every_epoch!r}."
        )
    if every_step is not None and not _positive(every_step):
        raise InvalidParameterValueError(
            f"log_every_n_step must be None or a positive integer, not {every_step!r}."
        )
    if freq != "epoch" and not _positive(freq):
        raise InvalidParameterValueError(
            f"checkpoint_save_freq must be 'epoch' or a positive number of steps, not {freq!r}."
        )
    if best_only and (monitor is None or mode not in ("min", "max")):
        raise InvalidParameterValueError(
            "checkpoint_save_best_only needs checkpoint_monitor (a metric name) and "
            f"checkpoint_mode 'min' or 'max'; got {monitor!r} and {mode!r}."
        )


def _positive(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _install(package: ModuleType) -> None:
    """Patch the imported package's `Trainer.fit`."""
    trainer = importlib.import_module(_pytorch_module(package.__name__)).Trainer
    patching.patch(INTEGRATION, trainer, "fit", _fit)


def _pytorch_module(package: str) -> str:
    return "lightning.pytorch" if package == "lightning" else package


def _lightning_of(trainer: Any) -> ModuleType:
    """`lightning.pytorch` or `pytorch_lightning`: the package this trainer is from, whose
    Callback, EarlyStopping and ModelSummary go with it."""
    root = type(trainer).__module__.split(".", 1)[0]
    return importlib.import_module(_pytorch_module(root))


def _supported(lightning: ModuleType) -> bool:
    try:
        major, minor = (int(part) for part in str(lightning.__version__).split(".")[:2])
    except ValueError:
        return False
    return _OLDEST <= (major, minor) <= _NEWEST


def _fit(call: PatchedCall, trainer: Any, *args: Any, **kwargs: Any) -> Any:
    lightning = _lightning_of(trainer)
    if call.settings.disable_for_unsupported_versions and not _supported(lightning):
        return call.original(trainer, *args, **kwargs)
    with call.run() as run_id:
        if run_id is None:  # exclusive, inside the user's run
            return call.original(trainer, *args, **kwargs)
        fit = _FitLogging(call.settings, run_id, trainer, lightning)
        with fit.attached():
            result = call.original(trainer, *args, **kwargs)
        fit.after(trainer)
        return result


class _FitLogging:
    """What one fit logs: its callbacks while it trains, then the model and summaries."""

    def __init__(
        self, current: AutologSettings, run_id: str, trainer: Any, lightning: ModuleType
    ) -> None:
        self.settings = current
        self.run_id = run_id
        self.lightning = lightning
        self.trainer_callbacks: list[Any] = trainer.callbacks
        self.early_stopping = next(
            (c for c in trainer.callbacks if isinstance(c, lightning.callbacks.EarlyStopping)),
            None,
        )
        self.metrics = _callback(_MetricHooks, lightning)(current, run_id)
        self.checkpoints = (
            _callback(_CheckpointHooks, lightning)(current, run_id)
            if current.option("checkpoint", True)
            else None
        )

    @contextlib.contextmanager
    def attached(self) -> Iterator[None]:
        if self.early_stopping is not None:
            log_params(self.run_id, _early_stopping_params(self.early_stopping))
        ours = [c for c in (self.metrics, self.checkpoints) if c is not None]
        self.trainer_callbacks.extend(ours)
        try:
            yield
        finally:
            for callback in ours:
                with contextlib.suppress(ValueError):
                    self.trainer_callbacks.remove(callback)
            self.metrics.stop_capturing()

    def after(self, trainer: Any) -> None:
        """After a successful fit: early-stopping results, the summary, the model."""
        if self.early_stopping is not None:
            _log_early_stop_metrics(self.run_id, self.early_stopping)
        _log_summary(trainer, self.lightning)
        if not self.settings.log_models:
            return
        from cairn.pytorch import log_model

        log_model(
            trainer.lightning_module,
            name="model",
            registered_model_name=self.settings.option("registered_model_name"),
            signature=self.metrics.signature() if self.settings.log_model_signatures else None,
        )
        best = getattr(getattr(trainer, "checkpoint_callback", None), "best_model_path", "")
        if self.early_stopping is not None and best and os.path.isfile(best):
            from cairn.tracking.fluent_artifacts import log_artifact

            log_artifact(best, "restored_model_checkpoint")  # MLflow's folder name


def log_params(run_id: str, params: Mapping[str, Any]) -> None:
    """Log params the run does not have yet (a value the user logged is kept, not
    contradicted, which the store would refuse)."""
    existing = fluent.current_client().get_run(run_id).data.params
    fresh = {key: _param_text(value) for key, value in params.items() if key not in existing}
    if fresh:
        fluent.run_write("log_batch", run_id=run_id, params=fresh)


def _param_text(value: Any) -> str:
    return str(value)[:MAX_PARAM_VALUE_LENGTH]


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as `outer/inner` keys, as Lightning's loggers name them."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}/"))
        else:
            flat[name] = value
    return flat


def _early_stopping_params(callback: Any) -> dict[str, Any]:
    names = ("monitor", "mode", "patience", "min_delta", "stopped_epoch")
    return {name: getattr(callback, name) for name in names if hasattr(callback, name)}


def _log_early_stop_metrics(run_id: str, callback: Any) -> None:
    stopped = int(getattr(callback, "stopped_epoch", 0) or 0)
    if stopped == 0:  # ran to max_epochs: nothing was stopped or restored
        return
    metrics: dict[str, Any] = {
        "stopped_epoch": stopped,
        "restored_epoch": stopped - max(1, int(callback.patience)),
    }
    if getattr(callback, "best_score", None) is not None:
        metrics["best_score"] = callback.best_score
    if hasattr(callback, "wait_count"):
        metrics["wait_count"] = callback.wait_count
    fluent.log_metrics(metrics, run_id=run_id)


def _log_summary(trainer: Any, lightning: ModuleType) -> None:
    from cairn.tracking.fluent_artifacts import log_text

    summary = lightning.utilities.model_summary.ModelSummary(trainer.lightning_module, max_depth=-1)
    log_text(str(summary), "model_summary.txt")


@functools.cache
def _callback(hooks: type, lightning: ModuleType) -> Any:
    """`hooks` as a Callback of this Lightning package (`lightning.pytorch` and
    `pytorch_lightning` each have their own base class)."""
    return type(hooks.__name__.lstrip("_"), (hooks, lightning.Callback), {})


def _safe(hook: Callable[..., None]) -> Callable[..., None]:
    """A hook whose failure is a warning: logging never stops training."""

    @functools.wraps(hook)
    def guarded(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            hook(self, *args, **kwargs)
        except Exception as error:
            patching.warn(INTEGRATION, self.settings, error)

    return guarded


class _MetricHooks:
    """Params when training starts, metrics at each epoch's (and every n steps') end, and
    the first batch `forward` sees, for the model's signature."""

    def __init__(self, current: AutologSettings, run_id: str) -> None:
        self.settings = current
        self.run_id = run_id
        self.every_epoch: int = current.option("log_every_n_epoch", 1)
        self.every_step: int | None = current.option("log_every_n_step")
        self.step_metrics: set[str] = set()
        self.epoch_metrics: set[str] = set()
        self.steps_per_batch = 1
        self.example: tuple[Any, Any] | None = None
        self._patched_module: Any = None

    @_safe
    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        params: dict[str, Any] = flatten(dict(getattr(pl_module, "hparams", None) or {}))
        params.setdefault("epochs", trainer.max_epochs)
        optimizers = list(getattr(trainer, "optimizers", None) or [])
        if optimizers:
            self.steps_per_batch = len(optimizers)  # each optimizer step counts one
            for key, value in _optimizer_params(optimizers[0]).items():
                params.setdefault(key, value)
        log_params(self.run_id, params)
        if self.settings.log_models and self.settings.log_model_signatures:
            self._capture_first_batch(pl_module)

    @_safe
    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking:
            return
        metrics = {k: v for k, v in trainer.callback_metrics.items() if k not in self.step_metrics}
        self.epoch_metrics.update(metrics)
        if (trainer.current_epoch + 1) % self.every_epoch == 0 and metrics:
            fluent.log_metrics(metrics, step=trainer.current_epoch, run_id=self.run_id)

    @_safe
    def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any) -> None:
        if not self.every_step or trainer.sanity_checking:
            return
        available = trainer.callback_metrics
        # A metric logged per step and per epoch is `x_step` and `x_epoch` besides `x`:
        # `x` goes with the epochs.
        metrics = {
            k: v
            for k, v in available.items()
            if k not in self.epoch_metrics and f"{k}_step" not in available
        }
        self.step_metrics.update(metrics)
        step = trainer.global_step
        if metrics and ((step // self.steps_per_batch) + 1) % self.every_step == 0:
            fluent.log_metrics(metrics, step=step, run_id=self.run_id)

    def _capture_first_batch(self, pl_module: Any) -> None:
        """Wrap this module's `forward` (on the instance, removed after the fit) to keep
        its first one-tensor input and output."""
        import torch

        if "forward" in vars(pl_module):
            return
        original = pl_module.forward

        def forward(*inputs: Any, **kwargs: Any) -> Any:
            output = original(*inputs, **kwargs)
            if self.example is None and len(inputs) == 1 and not kwargs:
                if isinstance(inputs[0], torch.Tensor) and isinstance(output, torch.Tensor):
                    self.example = (inputs[0].detach().cpu(), output.detach().cpu())
            return output

        pl_module.forward = forward
        self._patched_module = pl_module

    def stop_capturing(self) -> None:
        if self._patched_module is not None:
            with contextlib.suppress(AttributeError):
                del self._patched_module.forward
            self._patched_module = None

    def signature(self) -> Any:
        if self.example is None:
            return None
        from cairn.models.signature import infer_signature

        inputs, outputs = self.example
        try:
            return infer_signature(inputs.float().numpy(), outputs.float().numpy())
        except Exception as error:  # a signature is optional: the model is logged anyway
            log.debug("No signature inferred from the first batch: %s", error)
            return None


def _optimizer_params(optimizer: Any) -> dict[str, Any]:
    """`optimizer_name` and the optimizer's settings as its first param group has them."""
    inner = getattr(optimizer, "_optimizer", optimizer)  # a LightningOptimizer wraps one
    params: dict[str, Any] = {"optimizer_name": type(inner).__name__}
    defaults = dict(getattr(inner, "defaults", None) or {})
    groups = getattr(inner, "param_groups", None) or [{}]
    for key, value in defaults.items():
        params[key] = groups[0].get(key, value)
    return params


class _CheckpointHooks:
    """MLflow's automatic checkpoints: after each epoch (or every n steps), the best so far
    by the monitored metric as `checkpoints/latest_checkpoint.pth` (replaced), or every one
    as `checkpoints/epoch_<n>/checkpoint.pth`, each with its metrics as JSON beside it."""

    def __init__(self, current: AutologSettings, run_id: str) -> None:
        self.settings = current
        self.run_id = run_id
        self.monitor: str | None = current.option("checkpoint_monitor", "val_loss")
        self.mode: str = current.option("checkpoint_mode", "min")
        self.best_only: bool = current.option("checkpoint_save_best_only", True)
        self.weights_only: bool = current.option("checkpoint_save_weights_only", False)
        self.freq: str | int = current.option("checkpoint_save_freq", "epoch")
        self.best: float | None = None
        self._warned = False

    @_safe
    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self.freq == "epoch" and not trainer.sanity_checking:
            self._save_if_better(trainer)

    @_safe
    def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any) -> None:
        step = trainer.global_step
        if isinstance(self.freq, int) and step > 0 and step % self.freq == 0:
            self._save_if_better(trainer)

    def _save_if_better(self, trainer: Any) -> None:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        if self.best_only:
            value = metrics.get(str(self.monitor))
            if value is None:
                if not self._warned:
                    self._warned = True
                    log.warning(
                        "Checkpoints are not logged: the monitored metric %r was not logged "
                        "(autolog(checkpoint_monitor=...) names it).",
                        self.monitor,
                    )
                return
            if self.best is not None and not self._better(value, self.best):
                return
            self.best = value
        folder, model_file, metrics_file = self._names(trainer)
        from cairn.tracking.fluent_artifacts import log_artifact, log_dict

        fluent.run_write(
            "log_batch", run_id=self.run_id, tags={LATEST_CHECKPOINT_TAG: f"{folder}/{model_file}"}
        )
        epoch, step = trainer.current_epoch, trainer.global_step
        log_dict({**metrics, "epoch": epoch, "global_step": step}, f"{folder}/{metrics_file}")
        with tempfile.TemporaryDirectory(prefix="cairn-checkpoint-") as scratch:
            path = os.path.join(scratch, model_file)
            # The strategy's own save, not trainer.save_checkpoint: that one waits at a
            # barrier for every process, and this hook runs on one.
            state = trainer._checkpoint_connector.dump_checkpoint(self.weights_only)
            trainer.strategy.save_checkpoint(state, path)
            log_artifact(path, folder)

    def _better(self, value: float, best: float) -> bool:
        return value < best if self.mode == "min" else value > best

    def _names(self, trainer: Any) -> tuple[str, str, str]:
        """(folder, checkpoint file, metrics file), as MLflow names them."""
        weights = ".weights" if self.weights_only else ""
        if self.best_only:
            return (
                CHECKPOINT_DIR,
                f"latest_checkpoint{weights}.pth",
                ("latest_checkpoint_metrics.json"),
            )
        if self.freq == "epoch":
            folder = f"{CHECKPOINT_DIR}/epoch_{trainer.current_epoch}"
        else:
            folder = f"{CHECKPOINT_DIR}/global_step_{trainer.global_step}"
        return folder, f"checkpoint{weights}.pth", "checkpoint_metrics.json"

"""Autologging for PyTorch Lightning (MLflow's `mlflow.pytorch.autolog`): the switches
and the patch.

`Trainer.fit` of `lightning.pytorch` (and of `pytorch_lightning`, when installed) is patched
once either is imported. A fit logs into the active run or one started for it: params and
metrics (`metrics_callback`), checkpoints (`checkpoints`), early stopping (`early_stopping`),
the summary and the model (`fit_logging`). A fit that raises ends a run started for it
FAILED, and the error reaches the caller unchanged; a failure of the logging itself is a
warning and training goes on.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cairn.autologging import patching, switch
from cairn.autologging.patching import PatchedCall
from cairn.exceptions import InvalidParameterValueError
from cairn.pytorch.callback_hooks import INTEGRATION
from cairn.pytorch.fit_logging import FitLogging

if TYPE_CHECKING:
    from types import ModuleType

_PACKAGES = ("lightning", "pytorch_lightning")
# The Lightning versions this integration was written and tested against.
_OLDEST, _NEWEST = (2, 0), (2, 6)


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
    _check_steps(log_every_n_epoch, log_every_n_step)
    if checkpoint:
        _check_checkpoints(checkpoint_monitor, checkpoint_mode, checkpoint_save_best_only,
                           checkpoint_save_freq)  # fmt: skip
    switch.turn_on(
        INTEGRATION,
        _PACKAGES,
        _install,
        locals(),
        log_every_n_epoch=log_every_n_epoch,
        log_every_n_step=log_every_n_step,
        registered_model_name=registered_model_name,
        checkpoint=checkpoint,
        checkpoint_monitor=checkpoint_monitor,
        checkpoint_mode=checkpoint_mode,
        checkpoint_save_best_only=checkpoint_save_best_only,
        checkpoint_save_weights_only=checkpoint_save_weights_only,
        checkpoint_save_freq=checkpoint_save_freq,
    )


def _check_steps(every_epoch: Any, every_step: Any) -> None:
    if not _positive(every_epoch):
        raise InvalidParameterValueError(
            f"log_every_n_epoch must be a positive integer, not {every_epoch!r}."
        )
    if every_step is not None and not _positive(every_step):
        raise InvalidParameterValueError(
            f"log_every_n_step must be None or a positive integer, not {every_step!r}."
        )


def _check_checkpoints(monitor: str | None, mode: str, best_only: bool, freq: Any) -> None:
    """Checked only with `checkpoint=True`: without it, MLflow reads none of them."""
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
        fit = FitLogging(call.settings, run_id, trainer, lightning)
        with fit.attached():
            result = call.original(trainer, *args, **kwargs)
        fit.after(trainer)
        return result

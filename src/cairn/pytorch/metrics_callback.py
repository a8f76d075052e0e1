"""Params when training starts and `self.log` metrics as training goes, at their steps.

The params are `epochs` (max_epochs), `optimizer_name` and the first optimizer's settings
(its defaults, as its first param group has them: `lr`, `betas`, …) and the
LightningModule's `hparams` (nested ones as `a/b`); keys the run already has are kept.
Every value in `trainer.callback_metrics` is logged at the end of each training epoch, at
step = epoch (every `log_every_n_epoch` epochs); with `log_every_n_step`, step-level ones at
step = global step, as MLflow does. A metric Lightning logs per step and per epoch (`x_step`,
`x_epoch` besides `x`) has its plain name logged with the epochs.
"""

from __future__ import annotations

from typing import Any

from cairn.autologging.settings import AutologSettings
from cairn.pytorch.callback_hooks import never_raises
from cairn.pytorch.first_batch import FirstBatch
from cairn.pytorch.lightning_params import flatten, log_params, optimizer_params
from cairn.tracking import fluent


class MetricHooks:
    """Hooks for `as_callback`: params, metrics, and the first batch for the signature."""

    def __init__(self, current: AutologSettings, run_id: str) -> None:
        self.settings = current
        self.run_id = run_id
        self.every_epoch: int = current.option("log_every_n_epoch", 1)
        self.every_step: int | None = current.option("log_every_n_step")
        self.step_metrics: set[str] = set()
        self.epoch_metrics: set[str] = set()
        self.steps_per_batch = 1
        self.first_batch = FirstBatch()

    @never_raises
    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        params: dict[str, Any] = flatten(dict(getattr(pl_module, "hparams", None) or {}))
        params.setdefault("epochs", trainer.max_epochs)
        optimizers = list(getattr(trainer, "optimizers", None) or [])
        if optimizers:
            self.steps_per_batch = len(optimizers)  # each optimizer step counts one
            for key, value in optimizer_params(optimizers[0]).items():
                params.setdefault(key, value)
        log_params(self.run_id, params)
        if self.settings.log_models and self.settings.log_model_signatures:
            self.first_batch.capture(pl_module)

    @never_raises
    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking:
            return
        metrics = {k: v for k, v in trainer.callback_metrics.items() if k not in self.step_metrics}
        self.epoch_metrics.update(metrics)
        if (trainer.current_epoch + 1) % self.every_epoch == 0 and metrics:
            fluent.log_metrics(metrics, step=trainer.current_epoch, run_id=self.run_id)

    @never_raises
    def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any) -> None:
        if not self.every_step or trainer.sanity_checking:
            return
        available = trainer.callback_metrics
        metrics = {
            k: v
            for k, v in available.items()
            if k not in self.epoch_metrics and f"{k}_step" not in available
        }
        self.step_metrics.update(metrics)
        step = trainer.global_step
        if metrics and ((step // self.steps_per_batch) + 1) % self.every_step == 0:
            fluent.log_metrics(metrics, step=step, run_id=self.run_id)

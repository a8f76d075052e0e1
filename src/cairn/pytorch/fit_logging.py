"""What one autologged `Trainer.fit` logs, around the training itself.

Before: the EarlyStopping settings, and Cairn's callbacks added to the trainer (metrics,
and checkpoints when asked); they are taken out again however the fit ends. After a fit
that returned: the early-stopping results, `model_summary.txt`, the module as the
LoggedModel `model` (pickled, its signature from the first batch), and with early stopping
the best checkpoint under `restored_model_checkpoint/`, as MLflow does.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from cairn.autologging.settings import AutologSettings
from cairn.pytorch import early_stopping
from cairn.pytorch.callback_hooks import as_callback
from cairn.pytorch.checkpoints import CheckpointHooks
from cairn.pytorch.lightning_params import log_params
from cairn.pytorch.metrics_callback import MetricHooks

if TYPE_CHECKING:
    from types import ModuleType


class FitLogging:
    """One fit's logging: `with attached(): <fit>`, then `after(trainer)` if it returned."""

    def __init__(
        self, current: AutologSettings, run_id: str, trainer: Any, lightning: ModuleType
    ) -> None:
        self.settings = current
        self.run_id = run_id
        self.lightning = lightning
        self.trainer_callbacks: list[Any] = trainer.callbacks
        self.early_stopping = early_stopping.find(trainer.callbacks, lightning)
        self.metrics = as_callback(MetricHooks, lightning)(current, run_id)
        self.checkpoints = (
            as_callback(CheckpointHooks, lightning)(current, run_id)
            if current.option("checkpoint", True)
            else None
        )

    @contextlib.contextmanager
    def attached(self) -> Iterator[None]:
        if self.early_stopping is not None:
            log_params(self.run_id, early_stopping.params(self.early_stopping))
        ours = [c for c in (self.metrics, self.checkpoints) if c is not None]
        self.trainer_callbacks.extend(ours)
        try:
            yield
        finally:
            for callback in ours:
                with contextlib.suppress(ValueError):
                    self.trainer_callbacks.remove(callback)
            self.metrics.first_batch.stop()

    def after(self, trainer: Any) -> None:
        """After a successful fit: early-stopping results, the summary, the model."""
        if self.early_stopping is not None:
            early_stopping.log_results(self.run_id, self.early_stopping)
        self._log_summary(trainer)
        if not self.settings.log_models:
            return
        from cairn.pytorch import log_model

        log_model(
            trainer.lightning_module,
            name="model",
            registered_model_name=self.settings.option("registered_model_name"),
            # None without log_model_signatures: the first batch is not captured then.
            signature=self.metrics.first_batch.signature(),
        )
        best = getattr(getattr(trainer, "checkpoint_callback", None), "best_model_path", "")
        if self.early_stopping is not None and best and os.path.isfile(best):
            from cairn.tracking.fluent_artifacts import log_artifact

            log_artifact(best, "restored_model_checkpoint")  # MLflow's folder name

    def _log_summary(self, trainer: Any) -> None:
        from cairn.tracking.fluent_artifacts import log_text

        model_summary = self.lightning.utilities.model_summary.ModelSummary
        log_text(str(model_summary(trainer.lightning_module, max_depth=-1)), "model_summary.txt")

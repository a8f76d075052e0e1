"""MLflow's automatic checkpoints, logged as run artifacts while training goes.

After each epoch (or every `checkpoint_save_freq` steps), the best checkpoint so far by the
monitored metric replaces `checkpoints/latest_checkpoint.pth`, or, without
`checkpoint_save_best_only`, every one is kept as `checkpoints/epoch_<n>/checkpoint.pth`
(`global_step_<n>` for step frequencies); each has its metrics as JSON beside it, and the
run tag `mlflow.latest_checkpoint_artifact` names the latest. `CairnLogger` logs its
checkpoints under the same folder.
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Any

from cairn.autologging.settings import AutologSettings
from cairn.pytorch.callback_hooks import never_raises
from cairn.tracking import fluent

LATEST_CHECKPOINT_TAG = "mlflow.latest_checkpoint_artifact"
CHECKPOINT_DIR = "checkpoints"
log = logging.getLogger("cairn.autolog")


class CheckpointHooks:
    """Hooks for `as_callback`: save a checkpoint when it is due (and better, if asked)."""

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

    @never_raises
    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self.freq == "epoch" and not trainer.sanity_checking:
            self._save_if_better(trainer)

    @never_raises
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
                "latest_checkpoint_metrics.json",
            )
        if self.freq == "epoch":
            folder = f"{CHECKPOINT_DIR}/epoch_{trainer.current_epoch}"
        else:
            folder = f"{CHECKPOINT_DIR}/global_step_{trainer.global_step}"
        return folder, f"checkpoint{weights}.pth", "checkpoint_metrics.json"

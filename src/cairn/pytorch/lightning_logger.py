"""`CairnLogger`: a PyTorch Lightning logger that writes to Cairn.

`Trainer(logger=CairnLogger(...))` logs what Lightning hands its loggers: the module's
hyperparameters as params, and `self.log` values as metrics at Lightning's step. The run is,
first to apply: `run_id` (logged into, not ended here); the active run of this thread, when
the logger uses the fluent API's tracking URI (so `with cairn.start_run(): trainer.fit(...)`
and `cairn.pytorch.autolog()` share one run); else a new run, in `experiment_name`, started
when Lightning first asks for it and ended by `finalize`: FINISHED after a fit, FAILED after
a failed one. With `tracking_uri` other than the fluent API's, the logger writes through
its own `Client` and leaves the fluent state alone.

`log_model`: False (the default) logs no checkpoint; True logs the ModelCheckpoint's
checkpoints when training ends; "all" logs each as it is saved. They go under
`checkpoints/` in the run's artifacts.

This module imports Lightning; `cairn.pytorch.CairnLogger` imports it on first access.
"""

from __future__ import annotations

import logging
import os
from argparse import Namespace
from collections.abc import Mapping
from typing import Any, Literal

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.callbacks.model_checkpoint import ModelCheckpoint
from lightning.pytorch.loggers.logger import Logger
from lightning.pytorch.utilities import rank_zero_only

from cairn.entities import Metric, Param, RunStatus, RunTag
from cairn.exceptions import InvalidParameterValueError
from cairn.pytorch.checkpoints import CHECKPOINT_DIR
from cairn.pytorch.lightning_params import flatten, param_text
from cairn.tracking import fluent
from cairn.tracking.client import Client, now_ms

log = logging.getLogger("cairn.pytorch")

# Lightning's finalize statuses: "success" after a stage, "failed" after an exception,
# "finished" on a SLURM requeue signal.
_STATUSES = {
    "success": RunStatus.FINISHED.value,
    "finished": RunStatus.FINISHED.value,
    "failed": RunStatus.FAILED.value,
}


class CairnLogger(Logger):
    """Log a Lightning training to Cairn.

    Example:
        >>> logger = cairn.pytorch.CairnLogger(experiment_name="mnist", log_model=True)
        >>> lightning.pytorch.Trainer(logger=logger, max_epochs=3).fit(model, loader)
    """

    def __init__(
        self,
        experiment_name: str | None = None,
        run_name: str | None = None,
        run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        tracking_uri: str | None = None,
        log_model: bool | Literal["all"] = False,
        prefix: str = "",
    ) -> None:
        super().__init__()
        if log_model not in (True, False, "all"):
            raise InvalidParameterValueError(
                f"log_model must be True, False or 'all', not {log_model!r}."
            )
        self._experiment_name = experiment_name
        self._run_name = run_name
        self._tags = {k: str(v) for k, v in (tags or {}).items()}
        self._log_model = log_model
        self._prefix = prefix
        own_store = tracking_uri is not None and tracking_uri != fluent.get_tracking_uri()
        self._client = Client(tracking_uri) if own_store else None
        self._run_id = run_id
        self._experiment_id: str | None = None
        self._started = False  # whether this logger started the run (and so ends it)
        self._ended = False
        self._checkpoints: list[ModelCheckpoint] = []
        self._logged_checkpoints: dict[str, float] = {}  # path → modification time

    # -- the run ------------------------------------------------------------------------

    @property
    @rank_zero_experiment
    def experiment(self) -> Client:
        """The Client this logger writes through (its run is started on first access)."""
        self._ensure_run()
        return self._store()

    @property
    def run_id(self) -> str:
        return self._ensure_run()

    @property
    def experiment_id(self) -> str:
        self._ensure_run()
        return str(self._experiment_id)

    @property
    def name(self) -> str:
        """The experiment id (Lightning names checkpoint folders `<name>/<version>`)."""
        return self.experiment_id

    @property
    def version(self) -> str:
        return self.run_id

    @property
    def save_dir(self) -> str | None:
        return None  # nothing is written locally: checkpoints go to Trainer.default_root_dir

    def _store(self) -> Client:
        return self._client if self._client is not None else fluent.current_client()

    def _ensure_run(self) -> str:
        if self._run_id is not None:
            if self._experiment_id is None:
                self._experiment_id = self._store().get_run(self._run_id).info.experiment_id
            return self._run_id
        active = fluent.active_run() if self._client is None else None
        if active is not None:
            self._run_id, self._experiment_id = active.info.run_id, active.info.experiment_id
            return self._run_id
        experiment_id = self._experiment()
        if self._client is None:
            run = fluent.start_run(
                experiment_id=experiment_id, run_name=self._run_name, tags=self._tags
            )
            self._run_id, self._experiment_id = run.info.run_id, run.info.experiment_id
        else:
            created = self._client.create_run(
                experiment_id or fluent.DEFAULT_EXPERIMENT_ID,
                tags=self._tags,
                run_name=self._run_name,
            )
            self._run_id, self._experiment_id = created.info.run_id, created.info.experiment_id
        self._started = True
        return self._run_id

    def _experiment(self) -> str | None:
        if self._experiment_name is None:
            return None
        store = self._store()
        found = store.get_experiment_by_name(self._experiment_name)
        if found is not None:
            return found.experiment_id
        return store.create_experiment(self._experiment_name)

    # -- what Lightning logs --------------------------------------------------------------

    @rank_zero_only
    def log_hyperparams(
        self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any
    ) -> None:
        """Log params; one the run already has with another value is kept, with a warning
        (the store refuses to change a param, and training must not stop for it)."""
        values = vars(params) if isinstance(params, Namespace) else dict(params or {})
        run_id = self._ensure_run()
        existing = self._store().get_run(run_id).data.params
        fresh: dict[str, str] = {}
        for key, value in flatten(values).items():
            text = param_text(value)
            if key not in existing:
                fresh[key] = text
            elif existing[key] != text:
                log.warning(
                    "Param %r is already %r in run %s; %r not logged.",
                    key, existing[key], run_id, text,
                )  # fmt: skip
        if not fresh:
            return
        if self._client is None:
            fluent.run_write("log_batch", run_id=run_id, params=fresh)
        else:
            self._client.log_batch(run_id, params=[Param(k, v) for k, v in fresh.items()])

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log metrics at `step`; values may be numbers or one-element tensors."""
        run_id = self._ensure_run()
        named = {f"{self._prefix}{self.group_separator}{k}" if self._prefix else k: v
                 for k, v in metrics.items()}  # fmt: skip
        if self._client is None:
            fluent.log_metrics(named, step=step, run_id=run_id)
            return
        stamp = now_ms()
        points = [Metric(k, float(v), stamp, step or 0) for k, v in named.items()]
        self._client.log_batch(run_id, metrics=points)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        run_id = self._ensure_run()
        values = {k: str(v) for k, v in tags.items()}
        if self._client is None:
            fluent.run_write("log_batch", run_id=run_id, tags=values)
        else:
            self._client.log_batch(run_id, tags=[RunTag(k, v) for k, v in values.items()])

    # -- checkpoints and the end ------------------------------------------------------

    def after_save_checkpoint(self, checkpoint_callback: ModelCheckpoint) -> None:
        if checkpoint_callback not in self._checkpoints:
            self._checkpoints.append(checkpoint_callback)
        if self._log_model == "all" or (
            self._log_model is True and checkpoint_callback.save_top_k == -1
        ):
            self._log_checkpoints(checkpoint_callback)

    @rank_zero_only
    def finalize(self, status: str = "success") -> None:
        """Log the checkpoints still to log, and end the run if this logger started it."""
        if self._run_id is None:
            return  # never used: no run to end
        if self._log_model and status != "failed":
            for callback in self._checkpoints:
                self._log_checkpoints(callback)
        if not self._started or self._ended:
            return
        self._ended = True
        ended = _STATUSES.get(status, RunStatus.FINISHED.value)
        active = fluent.active_run()
        if self._client is not None:
            self._client.set_terminated(self._run_id, ended)
        elif active is not None and active.info.run_id == self._run_id:
            fluent.end_run(ended)
        else:  # no longer this thread's active run: end it through the store
            fluent.flush()
            fluent.current_client().set_terminated(self._run_id, ended)

    def _log_checkpoints(self, callback: ModelCheckpoint) -> None:
        """Each checkpoint file the callback keeps that is new or rewritten."""
        paths = set(callback.best_k_models) | {callback.last_model_path, callback.best_model_path}
        run_id = self._ensure_run()
        for path in sorted(p for p in paths if p and os.path.isfile(p)):
            modified = os.path.getmtime(path)
            if self._logged_checkpoints.get(path) == modified:
                continue
            self._store().log_artifact(run_id, path, CHECKPOINT_DIR)
            self._logged_checkpoints[path] = modified

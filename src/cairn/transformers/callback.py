"""`CairnCallback`: a Trainer's training as a Cairn run.

This module subclasses transformers' `TrainerCallback`, so it imports transformers: it is
imported only when `cairn.transformers.CairnCallback` is first asked for.

The run is the active one, or one started at `on_train_begin` and ended at `on_train_end`
(FINISHED). Training that raises never reaches `on_train_end`: a wrapper around
`Trainer.train` (installed when the first callback is made) then ends the run FAILED.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from cairn.autologging import patching, runs
from cairn.autologging import settings as autolog_settings
from cairn.autologging.settings import AutologSettings
from cairn.tracking import fluent, fluent_artifacts
from cairn.transformers import logged, patches


class CairnCallback(TrainerCallback):
    """Logs a Trainer's arguments as params, the model's configuration as the artifact
    `model_config.json`, the trainer's logs (`loss`, `learning_rate`, `eval_loss`,
    `epoch`, …) as metrics at `state.global_step`, and with `log_model=True` (or
    CAIRN_TRANSFORMERS_LOG_MODEL=true) the trained model, saved with `save_pretrained`,
    under the artifact folder `model/`.

    Example:
        >>> trainer = Trainer(model, args, train_dataset=data, callbacks=[CairnCallback()])
    """

    def __init__(self, log_model: bool | None = None) -> None:
        self.log_model = logged.log_model_requested() if log_model is None else log_model
        self._autologged = False
        self._training = False
        self._run_id: str | None = None
        self._started = False
        self._last_run_id: str | None = None
        patches.end_runs_when_training_fails()

    @classmethod
    def autologged(cls) -> CairnCallback:
        """The callback `autolog()` adds: it follows autolog's switches at every event, so
        that `autolog(disable=True)` silences trainers made before."""
        callback = cls(log_model=False)
        callback._autologged = True
        return callback

    @property
    def run_id(self) -> str | None:
        """The run of the training under way, or of the last one."""
        return self._run_id if self._training else self._last_run_id

    # -- the trainer's events ---------------------------------------------------------------

    def on_train_begin(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        **kwargs: Any,
    ) -> None:
        if state.is_world_process_zero:
            self._safely(lambda current: self._begin(current, args, model))

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if state.is_world_process_zero and logs:
            self._safely(lambda current: self._log(current, args, state, logs))

    def on_train_end(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        processing_class: Any = None,
        **kwargs: Any,
    ) -> None:
        if not self._training:
            return
        try:
            if self._run_id is not None and self._wants_model():
                self._safely(lambda current: _log_model(model, processing_class))
        finally:
            self._end(failed=False)

    def training_failed(self) -> None:
        """End the run of the training under way FAILED (`Trainer.train` raised)."""
        if self._training:
            self._end(failed=True)

    # -- what each event does ---------------------------------------------------------------

    def _begin(self, current: AutologSettings, args: TrainingArguments, model: Any) -> None:
        if self._training:  # an earlier training that ended without telling us
            self._end(failed=True)
        self._run_id, self._started = runs.start(patches.INTEGRATION, current, args.run_name)
        self._training = True
        if self._run_id is None:  # `exclusive`, with a run of the user's active
            return
        arguments: dict[str, Any] = args.to_dict()  # type: ignore[no-untyped-call]
        fluent.log_params(logged.params(arguments))
        config = getattr(model, "config", None)
        if config is not None and hasattr(config, "to_json_string"):
            fluent_artifacts.log_text(
                config.to_json_string(use_diff=False), logged.MODEL_CONFIG_FILE
            )

    def _log(
        self,
        current: AutologSettings,
        args: TrainingArguments,
        state: TrainerState,
        logs: dict[str, Any],
    ) -> None:
        values = logged.metrics(logs)
        if not values:
            return
        if self._training:
            if self._run_id is not None:
                fluent.log_metrics(values, step=state.global_step, run_id=self._run_id)
            return
        # An evaluation outside training (`trainer.evaluate()` after `train()`): into the
        # active run, else the run of the last training, else a run of its own.
        if fluent.active_run() is None and self._last_run_id is not None:
            fluent.log_metrics(values, step=state.global_step, run_id=self._last_run_id)
            return
        with runs.autolog_run(patches.INTEGRATION, current, args.run_name) as run_id:
            if run_id is not None:
                fluent.log_metrics(values, step=state.global_step, run_id=run_id)

    def _end(self, failed: bool) -> None:
        run_id, started = self._run_id, self._started
        self._training, self._run_id, self._started = False, None, False
        if run_id is not None:
            self._last_run_id = run_id
        runs.end(run_id, started, failed=failed)

    # -- switches ---------------------------------------------------------------------------

    def _settings(self) -> AutologSettings | None:
        """Autolog's switches for a callback autolog added (None once it is disabled); a
        callback the user added is always on."""
        if self._autologged:
            return autolog_settings.get(patches.INTEGRATION)
        return AutologSettings(log_models=self.log_model)

    def _wants_model(self) -> bool:
        current = self._settings()
        return current is not None and current.log_models

    def _safely(self, step: Callable[[AutologSettings], None]) -> None:
        """Run a logging step; its failure is a warning, never a failed training."""
        current = self._settings()
        if current is None:
            return
        with patching.quiet(current):
            try:
                step(current)
            except Exception as error:
                patching.warn(patches.INTEGRATION, current, error)


def _log_model(model: Any, processing_class: Any) -> None:
    """The model (and its tokenizer or processor) as `save_pretrained` writes them, so
    that `from_pretrained` on the downloaded `model/` folder loads them."""
    if model is None or not hasattr(model, "save_pretrained"):
        return
    with tempfile.TemporaryDirectory(prefix="cairn-transformers-") as folder:
        model.save_pretrained(folder)
        if processing_class is not None and hasattr(processing_class, "save_pretrained"):
            processing_class.save_pretrained(folder)
        fluent_artifacts.log_artifacts(folder, logged.MODEL_ARTIFACT_PATH)

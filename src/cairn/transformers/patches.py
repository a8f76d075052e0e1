"""`autolog()` for transformers, and the wrapper that ends a callback's run FAILED.

`autolog()` wraps `Trainer.__init__` so that every trainer gets a `CairnCallback` (unless
it has one). A callback cannot see training fail: `on_train_end` is simply never called.
So `Trainer.train` is wrapped too, once the first callback is made, whether autolog made it
or the user did: when training raises, each CairnCallback of that trainer ends its run
FAILED. Nothing here imports transformers until a trainer module is imported.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from cairn.autologging import patching, settings, switch
from cairn.autologging.patching import PatchedCall
from cairn.autologging.settings import AutologSettings

log = logging.getLogger("cairn.autolog")

INTEGRATION = "transformers"
# The wrapper of `Trainer.train` is on for every CairnCallback, autolog or not, so it has
# switches (and a patch list) of its own: `autolog(disable=True)` leaves it in place.
FAILURE_GUARD = "transformers.callbacks"
TRAINER_MODULE = "transformers.trainer"
# The transformers versions this integration was written against: [first, end).
SUPPORTED_VERSIONS = ("4.38.0", "6.0.0")


def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = False,
    log_models: bool = False,
    log_datasets: bool = False,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    extra_tags: Mapping[str, str] | None = None,
) -> None:
    """Log every `transformers.Trainer`'s training, as if each had a `CairnCallback`:
    arguments, model configuration, metrics, and with `log_models=True` the model.

    MLflow's switches, with its defaults for transformers (`log_models=False`).
    Example:
        >>> cairn.transformers.autolog()
        >>> Trainer(model, args, train_dataset=data).train()
    """
    switch.turn_on(INTEGRATION, (TRAINER_MODULE,), _patch_trainer, locals())


def supported(version: str) -> bool:
    """Whether this transformers version is one the integration was written against."""
    from packaging.version import Version

    first, end = (Version(v) for v in SUPPORTED_VERSIONS)
    return first <= Version(version) < end


def _patch_trainer(module: ModuleType) -> None:
    current = settings.get(INTEGRATION)
    if current is None:
        return
    version = str(getattr(sys.modules.get("transformers"), "__version__", "0"))
    if current.disable_for_unsupported_versions and not supported(version):
        log.info("Cairn does not autolog transformers %s: it is not a supported version.", version)
        return
    patching.patch(INTEGRATION, module.Trainer, "__init__", _add_callback)


def _add_callback(call: PatchedCall, trainer: Any, *args: Any, **kwargs: Any) -> None:
    call.original(trainer, *args, **kwargs)
    from cairn.transformers.callback import CairnCallback

    if not any(isinstance(c, CairnCallback) for c in trainer.callback_handler.callbacks):
        trainer.add_callback(CairnCallback.autologged())


def end_runs_when_training_fails() -> None:
    """Wrap `Trainer.train` (once) so that a CairnCallback's run ends FAILED when it raises."""
    from transformers import Trainer

    if settings.get(FAILURE_GUARD) is None:
        settings.configure(FAILURE_GUARD, AutologSettings())
    patching.patch(FAILURE_GUARD, Trainer, "train", _end_runs_on_failure)


def _end_runs_on_failure(call: PatchedCall, trainer: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return call.original(trainer, *args, **kwargs)
    except BaseException:
        from cairn.transformers.callback import CairnCallback

        for callback in trainer.callback_handler.callbacks:
            if isinstance(callback, CairnCallback):
                callback.training_failed()
        raise

"""Cairn's hooks as Lightning callbacks, whose failures never stop training.

The hook classes (`MetricHooks`, `CheckpointHooks`) are plain classes: `as_callback` makes
each a Callback of whichever Lightning package the trainer comes from (`lightning.pytorch`
and `pytorch_lightning` each have their own base class), so neither is imported before a
fit needs it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cairn.autologging import patching

if TYPE_CHECKING:
    from types import ModuleType

INTEGRATION = "pytorch"  # MLflow's name: runs are tagged mlflow.autologging=pytorch


@functools.cache
def as_callback(hooks: type, lightning: ModuleType) -> Any:
    """`hooks` as a Callback of this Lightning package (one class per pair, made once)."""
    return type(hooks.__name__.lstrip("_"), (hooks, lightning.Callback), {})


def never_raises(hook: Callable[..., None]) -> Callable[..., None]:
    """A hook whose failure is a warning (unless `silent`): logging never stops training.
    The hooks' instances carry the autolog `settings`."""

    @functools.wraps(hook)
    def guarded(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            hook(self, *args, **kwargs)
        except Exception as error:
            patching.warn(INTEGRATION, self.settings, error)

    return guarded

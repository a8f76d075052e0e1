"""What autolog records of an EarlyStopping callback, under MLflow's names.

Its settings are params before the fit; after a fit it stopped early, `stopped_epoch`,
`restored_epoch`, `best_score` and `wait_count` are metrics. A fit that ran to `max_epochs`
logs none of those (nothing was stopped or restored).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cairn.tracking import fluent

if TYPE_CHECKING:
    from types import ModuleType

_PARAM_NAMES = ("monitor", "mode", "patience", "min_delta", "stopped_epoch")


def find(callbacks: list[Any], lightning: ModuleType) -> Any:
    """The trainer's EarlyStopping callback, if it has one."""
    early_stopping = lightning.callbacks.EarlyStopping
    return next((c for c in callbacks if isinstance(c, early_stopping)), None)


def params(callback: Any) -> dict[str, Any]:
    """The callback's settings, as params."""
    return {name: getattr(callback, name) for name in _PARAM_NAMES if hasattr(callback, name)}


def log_results(run_id: str, callback: Any) -> None:
    """Where training stopped and what was restored, as metrics."""
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

"""Metric values that are not Python floats: NumPy scalars and one-element arrays, and
tensors (PyTorch, or anything else with `shape` and `__float__`, such as JAX arrays).

A tensor on a CUDA device is not read in the training loop: reading it (`.item()`,
`float()`) waits until the device has finished all the work queued before it, which stalls
the GPU at every step. Its value is copied to host memory asynchronously instead, with an
event recorded after the copy; the background writer waits for that event and reads the
value (`resolve`). Tensors in host memory and arrays are read at once: that needs no
synchronisation, and a later in-place update of the tensor cannot change what was logged.
"""

from __future__ import annotations

import sys
from typing import Any

from cairn.exceptions import InvalidParameterValueError
from cairn.store import validation as check
from cairn.store.base import MetricPoint


class DeviceValue:
    """A one-element CUDA tensor's value, on its way to host memory."""

    __slots__ = ("_event", "_host")

    def __init__(self, tensor: Any) -> None:
        import torch

        self._host = tensor.detach().to("cpu", non_blocking=True)
        self._event = torch.cuda.Event()  # type: ignore[no-untyped-call]
        self._event.record()  # on the current stream, after the copy queued there

    def __float__(self) -> float:
        self._event.synchronize()
        return float(self._host)


def metric_value(key: str, value: Any) -> float | DeviceValue:
    """`value` as a float, or as a `DeviceValue` for a CUDA tensor (read later)."""
    if getattr(value, "shape", None) is None:
        return check.metric_value(key, value)  # numbers, NumPy scalars; the rest refused
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.dtype == torch.bool or value.is_complex():
            raise _refused(key, value, f"a tensor of shape {tuple(value.shape)} ({value.dtype})")
        if value.device.type == "cuda":
            return DeviceValue(value)
        return float(value.item())
    size, kind = getattr(value, "size", None), getattr(getattr(value, "dtype", None), "kind", "f")
    if size != 1 or kind not in "iuf":
        raise _refused(key, value, f"an array of shape {tuple(value.shape)}")
    try:
        return float(value.item())
    except (TypeError, ValueError):
        raise _refused(key, value, f"a {type(value).__name__}") from None


def _refused(key: str, value: Any, what: str) -> InvalidParameterValueError:
    return InvalidParameterValueError(
        f"Metric {key!r} has a value that is {what}; a metric value must be a number, or an "
        "array or tensor holding one real number."
    )


def resolve(points: list[MetricPoint]) -> list[MetricPoint]:
    """The points with every deferred value read (waiting for its copy to finish)."""
    return [p if type(p[2]) is float else (p[0], p[1], float(p[2]), p[3], p[4]) for p in points]

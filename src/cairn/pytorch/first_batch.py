"""The logged model's signature, from the first batch the module's `forward` sees.

A DataLoader has no table to describe, so the signature comes from what training feeds the
module: its first one-tensor input and the tensor it returned. The capture wraps `forward`
on the instance only, and is removed after the fit.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

log = logging.getLogger("cairn.autolog")


class FirstBatch:
    """Keeps the first (input, output) pair of a module's `forward`, on the CPU."""

    def __init__(self) -> None:
        self.example: tuple[Any, Any] | None = None
        self._patched_module: Any = None

    def capture(self, pl_module: Any) -> None:
        """Wrap this module's `forward`, unless the instance already has its own."""
        import torch

        if "forward" in vars(pl_module):
            return
        original = pl_module.forward

        def forward(*inputs: Any, **kwargs: Any) -> Any:
            output = original(*inputs, **kwargs)
            if self.example is None and len(inputs) == 1 and not kwargs:
                if isinstance(inputs[0], torch.Tensor) and isinstance(output, torch.Tensor):
                    self.example = (inputs[0].detach().cpu(), output.detach().cpu())
            return output

        pl_module.forward = forward
        self._patched_module = pl_module

    def stop(self) -> None:
        """Give the module its own `forward` back."""
        if self._patched_module is not None:
            with contextlib.suppress(AttributeError):
                del self._patched_module.forward
            self._patched_module = None

    def signature(self) -> Any:
        """The signature of the captured pair, or None (none seen, or none inferable)."""
        if self.example is None:
            return None
        from cairn.models.signature import infer_signature

        inputs, outputs = self.example
        try:
            return infer_signature(inputs.float().numpy(), outputs.float().numpy())
        except Exception as error:  # a signature is optional: the model is logged anyway
            log.debug("No signature inferred from the first batch: %s", error)
            return None

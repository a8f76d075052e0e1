"""Hugging Face transformers: a Trainer's training as a Cairn run.

- `CairnCallback`: a `transformers.TrainerCallback`, for `Trainer(..., callbacks=[...])`.
- `autolog()`: every Trainer gets one.

Importing this module does not import transformers (seconds, with torch): the callback
class, which subclasses transformers' own, is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cairn.transformers.patches import autolog

if TYPE_CHECKING:
    from cairn.transformers.callback import CairnCallback as CairnCallback

__all__ = ["CairnCallback", "autolog"]


def __getattr__(name: str) -> Any:
    if name == "CairnCallback":
        from cairn.transformers.callback import CairnCallback

        return CairnCallback
    raise AttributeError(f"module 'cairn.transformers' has no attribute {name!r}")

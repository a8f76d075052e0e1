"""The model format: MLmodel files, signatures, input examples and model URIs (MLflow's
`mlflow.models`).

    signature = cairn.models.infer_signature(train_x, model.predict(train_x))

The names load on first use, so importing this package (and `cairn`) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cairn.models.model import Model, ModelInfo
    from cairn.models.signature import (
        ColSpec,
        DataType,
        ModelSignature,
        ParamSchema,
        ParamSpec,
        Schema,
        TensorSpec,
        infer_signature,
    )

_HOMES = {
    "Model": "cairn.models.model",
    "ModelInfo": "cairn.models.model",
    "ColSpec": "cairn.models.signature",
    "DataType": "cairn.models.signature",
    "ModelSignature": "cairn.models.signature",
    "ParamSchema": "cairn.models.signature",
    "ParamSpec": "cairn.models.signature",
    "Schema": "cairn.models.signature",
    "TensorSpec": "cairn.models.signature",
    "infer_signature": "cairn.models.signature",
}

__all__ = [
    "ColSpec",
    "DataType",
    "Model",
    "ModelInfo",
    "ModelSignature",
    "ParamSchema",
    "ParamSpec",
    "Schema",
    "TensorSpec",
    "infer_signature",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'cairn.models' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(home), name)

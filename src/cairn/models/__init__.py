"""The model format: MLmodel files, signatures, input examples and model URIs (MLflow's
`mlflow.models`).

    signature = cairn.models.infer_signature(train_x, model.predict(train_x))

The names load on first use, so importing this package (and `cairn`) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cairn.models.model import Model, ModelInfo
    from cairn.models.signature import ModelSignature, infer_signature
    from cairn.types.schema import ColSpec, DataType, ParamSchema, ParamSpec, Schema, TensorSpec

_HOMES = {
    "Model": "cairn.models.model",
    "ModelInfo": "cairn.models.model",
    "ColSpec": "cairn.types.schema",
    "DataType": "cairn.types.schema",
    "ModelSignature": "cairn.models.signature",
    "ParamSchema": "cairn.types.schema",
    "ParamSpec": "cairn.types.schema",
    "Schema": "cairn.types.schema",
    "TensorSpec": "cairn.types.schema",
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

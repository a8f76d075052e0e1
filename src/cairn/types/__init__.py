"""Column and tensor schemas, with MLflow's names (`mlflow.types`).

    from cairn.types import ColSpec, DataType, Schema
    schema = Schema([ColSpec(DataType.double, "x")])

Model signatures (`cairn.models`) and dataset schemas (`cairn.data`) are made of these.
"""

from __future__ import annotations

from cairn.types.schema import ColSpec, DataType, ParamSchema, ParamSpec, Schema, TensorSpec

__all__ = ["ColSpec", "DataType", "ParamSchema", "ParamSpec", "Schema", "TensorSpec"]

"""A model's signature: the inputs, outputs and params it expects, in MLflow's JSON shapes.

In an MLmodel file each of `inputs`, `outputs` and `params` is a JSON *string* (MLflow keeps
the YAML compact that way), so `ModelSignature.to_dict` returns strings and `from_dict` parses
them. The schemas themselves are `cairn.types`; inference from data is `cairn.types.inference`,
enforcement `enforcement.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cairn.types.schema import ParamSchema, Schema


@dataclass(frozen=True, slots=True)
class ModelSignature:
    """What `PyFuncModel.predict` checks its input against (and documents the output)."""

    inputs: Schema | None = None
    outputs: Schema | None = None
    params: ParamSchema | None = field(default=None)

    def to_dict(self) -> dict[str, str | None]:
        """Each part as a JSON string, or None, as MLflow writes them into MLmodel."""
        return {
            "inputs": self.inputs.to_json() if self.inputs else None,
            "outputs": self.outputs.to_json() if self.outputs else None,
            "params": self.params.to_json() if self.params else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSignature:
        inputs, outputs, params = data.get("inputs"), data.get("outputs"), data.get("params")
        return cls(
            Schema.from_json(inputs) if inputs else None,
            Schema.from_json(outputs) if outputs else None,
            ParamSchema.from_json(params) if params else None,
        )


def infer_signature(
    model_input: Any = None,
    model_output: Any = None,
    params: dict[str, Any] | None = None,
) -> ModelSignature:
    """The signature of example data: DataFrames and Series give columns, numpy arrays give
    tensors, dicts and lists give columns (or named tensors for a dict of arrays).

    Example:
        >>> infer_signature(pandas.DataFrame({"x": [1.0]}), numpy.array([2.0]))
    """
    from cairn.types import inference

    return ModelSignature(
        inference.infer_schema(model_input) if model_input is not None else None,
        inference.infer_schema(model_output) if model_output is not None else None,
        inference.infer_param_schema(params) if params else None,
    )

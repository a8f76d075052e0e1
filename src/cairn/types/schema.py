"""Column and tensor schemas in MLflow's JSON shapes (MLflow's `mlflow.types`).

Column specs read `{"type": "double", "name": "x", "required": true}`; tensor specs read
`{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}`. Model signatures
(`cairn.models.signature`) and dataset schemas (`cairn.data`) are both made of them, so they
live below both.

Nothing here imports numpy or pandas: dtypes are kept as their names. Inference from data
lives in `inference.py`.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from cairn.exceptions import InvalidParameterValueError


class DataType(str, enum.Enum):
    """MLflow's column types, each with the numpy dtype it stands for."""

    boolean = "boolean"
    integer = "integer"
    long = "long"
    float = "float"
    double = "double"
    string = "string"
    binary = "binary"
    datetime = "datetime"

    @property
    def numpy_name(self) -> str:
        return _NUMPY_NAMES[self]

    @classmethod
    def parse(cls, value: str) -> DataType:
        try:
            return cls(value)
        except ValueError:
            raise InvalidParameterValueError(f"Unknown column type {value!r}.") from None


_NUMPY_NAMES = {
    DataType.boolean: "bool",
    DataType.integer: "int32",
    DataType.long: "int64",
    DataType.float: "float32",
    DataType.double: "float64",
    DataType.string: "object",
    DataType.binary: "object",
    DataType.datetime: "datetime64[ns]",
}


@dataclass(frozen=True, slots=True)
class ColSpec:
    """One column: a type, an optional name, and whether it must be present."""

    type: DataType
    name: str | None = None
    required: bool = True

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type.value}
        if self.name is not None:
            out["name"] = self.name
        out["required"] = self.required
        return out


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """One tensor: a numpy dtype name and a shape where -1 means "any size"."""

    dtype: str
    shape: tuple[int, ...]
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.name is not None:
            out["name"] = self.name
        out["type"] = "tensor"
        out["tensor-spec"] = {"dtype": self.dtype, "shape": list(self.shape)}
        return out


Spec = ColSpec | TensorSpec


@dataclass(frozen=True, slots=True)
class Schema:
    """Column specs or tensor specs (never a mix, as MLflow requires)."""

    inputs: tuple[Spec, ...]

    def __init__(self, inputs: Sequence[Spec]) -> None:
        specs = tuple(inputs)
        if not specs:
            raise InvalidParameterValueError("A schema needs at least one column or tensor.")
        if len({type(spec) for spec in specs}) > 1:
            raise InvalidParameterValueError("A schema mixes column and tensor specs.")
        names = [spec.name for spec in specs]
        if any(n is not None for n in names) and len(set(names)) != len(names):
            raise InvalidParameterValueError(f"A schema names each input once: {names}.")
        object.__setattr__(self, "inputs", specs)

    def __iter__(self) -> Iterator[Spec]:
        return iter(self.inputs)

    def __len__(self) -> int:
        return len(self.inputs)

    def is_tensor_spec(self) -> bool:
        return isinstance(self.inputs[0], TensorSpec)

    def has_input_names(self) -> bool:
        return all(spec.name is not None for spec in self.inputs)

    def input_names(self) -> list[str]:
        return [spec.name for spec in self.inputs if spec.name is not None]

    def to_json(self) -> str:
        return json.dumps([spec.to_dict() for spec in self.inputs])

    @classmethod
    def from_json(cls, text: str) -> Schema:
        return cls([_spec_from_dict(item) for item in json.loads(text)])


def _spec_from_dict(item: dict[str, Any]) -> Spec:
    if item.get("type") == "tensor":
        tensor = item["tensor-spec"]
        return TensorSpec(
            str(tensor["dtype"]), tuple(int(d) for d in tensor["shape"]), item.get("name")
        )
    return ColSpec(DataType.parse(item["type"]), item.get("name"), bool(item.get("required", True)))


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """An inference parameter with its default (passed when the caller gives none)."""

    name: str
    type: DataType
    default: Any
    shape: tuple[int, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        shape = None if self.shape is None else list(self.shape)
        return {"name": self.name, "default": self.default, "shape": shape, "type": self.type.value}


@dataclass(frozen=True, slots=True)
class ParamSchema:
    params: tuple[ParamSpec, ...]

    def to_json(self) -> str:
        return json.dumps([param.to_dict() for param in self.params])

    @classmethod
    def from_json(cls, text: str) -> ParamSchema:
        specs = []
        for item in json.loads(text):
            shape = item.get("shape")
            specs.append(
                ParamSpec(
                    item["name"],
                    DataType.parse(item["type"]),
                    item.get("default"),
                    None if shape is None else tuple(shape),
                )
            )
        return cls(tuple(specs))

"""The ONNX flavor (MLflow's `mlflow.onnx`): an `onnx.ModelProto` saved as `model.onnx`,
predicted with onnxruntime.

ONNX files hold no code, so loading them needs no pickle permission. Without a given
signature, one is read from the graph: each tensor input and output with its dtype and
shape (named dimensions become -1). Non-tensor outputs (skl2onnx's probability maps) are left
out of it. Because the signature is enforced, inputs must have the graph's dtypes: a
`tensor(float)` input takes float32, and float64 data is refused rather than silently
rounded (cast it with `.astype("float32")`).

The MLmodel names MLflow's loader (`mlflow.onnx`), so the stock mlflow client and MLflow's
model serving load the model without Cairn installed. The model is saved as one file by
default; `save_as_external_data=True` (MLflow's default) splits large tensors into a side
file, needed past ONNX's 2 GB protobuf limit.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cairn.exceptions import InvalidParameterValueError
from cairn.extras import require
from cairn.models import directory, requirements
from cairn.models.containment import load_contained, model_file
from cairn.models.flavor import PYFUNC_FLAVOR, PredictImplementation
from cairn.models.model import Model
from cairn.models.signature import ModelSignature
from cairn.tracking.model_uris import download_model
from cairn.types.schema import Schema, TensorSpec

if TYPE_CHECKING:
    import onnx as onnx_lib
    import pandas

    from cairn.models.model import ModelInfo

FLAVOR_NAME = "onnx"
# MLflow's loader, so that MLflow loads the model without Cairn (Cairn maps it to this module).
LOADER_MODULE = "mlflow.onnx"
MODEL_FILE = "model.onnx"
DEFAULT_PROVIDERS = ("CPUExecutionProvider",)


def save_model(
    onnx_model: onnx_lib.ModelProto,
    path: str | os.PathLike[str],
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: Sequence[str] | str | None = None,
    extra_pip_requirements: Sequence[str] | str | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    onnx_execution_providers: Sequence[str] | None = None,
    save_as_external_data: bool = False,
    metadata: dict[str, Any] | None = None,
    mlflow_model: Model | None = None,
) -> Model:
    """Save an ONNX model to a new directory; returns the MLmodel written."""
    onnx = require("onnx", extra="onnx", needed_for="cairn.onnx.save_model")

    if not isinstance(onnx_model, onnx.ModelProto):
        raise InvalidParameterValueError(
            f"onnx_model must be an onnx.ModelProto, not {type(onnx_model).__name__}."
        )
    onnx.checker.check_model(onnx_model)
    lines = requirements.resolve(
        ["onnx", "onnxruntime", "numpy", "pandas"], pip_requirements, extra_pip_requirements
    )
    model_dir = directory.prepare(path)
    model = mlflow_model or Model()
    model.metadata = metadata if metadata is not None else model.metadata
    code = directory.copy_code(model_dir, code_paths)
    onnx.save_model(
        onnx_model, os.path.join(model_dir, MODEL_FILE), save_as_external_data=save_as_external_data
    )
    providers = list(onnx_execution_providers or DEFAULT_PROVIDERS)
    model.add_flavor(
        PYFUNC_FLAVOR, **directory.pyfunc_section(LOADER_MODULE, code, data=MODEL_FILE)
    )
    model.add_flavor(
        FLAVOR_NAME,
        onnx_version=onnx.__version__,
        data=MODEL_FILE,
        providers=providers,
        onnx_session_options=None,  # MLflow's key; Cairn saves none (onnxruntime's defaults)
        code=code,
    )
    if signature is None and input_example is None:
        signature = graph_signature(onnx_model)
    return directory.finish(
        model_dir,
        model,
        signature=signature,
        input_example=input_example,
        predict=lambda example: _OnnxImplementation(onnx_model, providers).predict(example),
        requirement_lines=lines,
    )


def graph_signature(onnx_model: onnx_lib.ModelProto) -> ModelSignature:
    """The tensor inputs and outputs the graph declares."""
    inputs = _tensor_specs(onnx_model.graph.input, onnx_model.graph.initializer)
    outputs = _tensor_specs(onnx_model.graph.output, ())
    return ModelSignature(Schema(inputs) if inputs else None, Schema(outputs) if outputs else None)


def _tensor_specs(values: Any, initializers: Any) -> list[TensorSpec]:
    from onnx import helper

    constant = {init.name for init in initializers}  # old exporters list weights as inputs
    specs = []
    for value in values:
        if value.name in constant or not value.type.HasField("tensor_type"):
            continue
        tensor = value.type.tensor_type
        dtype = helper.tensor_dtype_to_np_dtype(tensor.elem_type)
        dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim)
        specs.append(TensorSpec(dtype.name, dims, value.name))
    return specs


class _OnnxImplementation:
    """An onnxruntime session fed from a DataFrame (columns → input names; one input takes
    the whole frame), an ndarray (one input) or a dict (several)."""

    def __init__(self, model: onnx_lib.ModelProto | str, providers: Sequence[str]) -> None:
        onnxruntime = require("onnxruntime", extra="onnx", needed_for="Predicting with ONNX")

        available = set(onnxruntime.get_available_providers())
        chosen = [p for p in providers if p in available] or list(DEFAULT_PROVIDERS)
        source = model if isinstance(model, str) else model.SerializeToString()
        self.raw_model = onnxruntime.InferenceSession(source, providers=chosen)
        self._inputs = [i.name for i in self.raw_model.get_inputs()]
        self._outputs = [o.name for o in self.raw_model.get_outputs()]

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        results = self.raw_model.run(None, self._feed(data))
        if len(results) == 1:
            return _frame(self._outputs[0], results[0])
        return dict(zip(self._outputs, results, strict=True))

    def _feed(self, data: Any) -> dict[str, Any]:
        import numpy as np
        import pandas as pd

        if isinstance(data, dict):
            return {str(k): np.asarray(v) for k, v in data.items()}
        if isinstance(data, pd.DataFrame):
            if len(self._inputs) == 1:
                return {self._inputs[0]: data.to_numpy()}
            return {name: data[name].to_numpy() for name in self._inputs}
        if len(self._inputs) != 1:
            raise InvalidParameterValueError(
                f"The model has inputs {self._inputs}: pass a dict or a DataFrame with them."
            )
        return {self._inputs[0]: np.asarray(data)}


def _frame(name: str, values: Any) -> pandas.DataFrame | Any:
    """One output as a DataFrame: a column per output column, named after the output."""
    import pandas as pd

    if getattr(values, "ndim", 0) == 1:
        return pd.DataFrame({name: values})
    if getattr(values, "ndim", 0) == 2:
        width = values.shape[1]
        columns = [name] if width == 1 else [f"{name}_{i}" for i in range(width)]
        return pd.DataFrame(values, columns=columns)
    return {name: values}


def pyfunc_implementation(model_dir: str, model: Model) -> PredictImplementation:
    """The loader for `cairn.onnx` and `mlflow.onnx` pyfunc models."""
    section = model.flavor(FLAVOR_NAME)
    providers = section.get("providers") or DEFAULT_PROVIDERS
    return _OnnxImplementation(_model_file(model_dir, section), providers)


def _model_file(model_dir: str, section: dict[str, Any]) -> str:
    """The `.onnx` file, inside the model folder. (Its external-data side files are
    checked by onnx and onnxruntime themselves: both refuse paths that leave the folder.)"""
    return model_file(model_dir, section.get("data"), f"{FLAVOR_NAME}.data")


def _load_pyfunc(path: str) -> PredictImplementation:
    """MLflow's loader entry point for older Cairn models, whose MLmodel names `cairn.onnx`
    (`path` is the model.onnx file or its directory)."""
    model_dir = os.path.dirname(path) if os.path.isfile(path) else path
    return pyfunc_implementation(model_dir, load_contained(model_dir))


def load_model(model_uri: str | os.PathLike[str], dst_path: str | None = None) -> Any:
    """The `onnx.ModelProto` itself, from any model URI."""
    onnx = require("onnx", extra="onnx", needed_for="cairn.onnx.load_model")

    local = download_model(os.fspath(model_uri), dst_path)
    section = load_contained(local).flavor(FLAVOR_NAME)
    return onnx.load(_model_file(local, section))


def log_model(
    onnx_model: onnx_lib.ModelProto,
    name: str = "model",
    registered_model_name: str | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: Sequence[str] | str | None = None,
    extra_pip_requirements: Sequence[str] | str | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    onnx_execution_providers: Sequence[str] | None = None,
    save_as_external_data: bool = False,
    metadata: dict[str, Any] | None = None,
) -> ModelInfo:
    """Log the ONNX model as a LoggedModel of the active run (one is started if none).

    Example:
        >>> info = cairn.onnx.log_model(skl2onnx.to_onnx(clf, x[:1]), name="model")
    """
    from cairn.models.log_model import log_saved

    return log_saved(
        FLAVOR_NAME,
        name,
        save_model,
        onnx_model,
        registered_model_name,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        code_paths=code_paths,
        onnx_execution_providers=onnx_execution_providers,
        save_as_external_data=save_as_external_data,
        metadata=metadata,
    )

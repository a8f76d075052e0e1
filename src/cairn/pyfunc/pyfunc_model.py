"""`PyFuncModel`: any flavor's model behind one `predict(data, params=None)`, and
`load_model`, which builds it from a model URI."""

from __future__ import annotations

import os
import sys
from typing import Any

from cairn.exceptions import InvalidParameterValueError
from cairn.models import flavor
from cairn.models.containment import load_contained, model_file
from cairn.models.enforcement import enforce_input, enforce_params
from cairn.models.input_example import load_example
from cairn.models.model import Model
from cairn.models.trust import check_code_allowed
from cairn.tracking.model_uris import download_model


class PyFuncModel:
    """A loaded model. `predict` checks the input against the signature first, so a wrong
    column or type fails with a message naming it instead of deep inside the library."""

    def __init__(
        self, metadata: Model, implementation: flavor.PredictImplementation, model_dir: str
    ) -> None:
        self._metadata = metadata
        self._implementation = implementation
        self.model_dir = model_dir

    @property
    def metadata(self) -> Model:
        """The parsed MLmodel (`.signature`, `.flavors`, `.model_id`, …)."""
        return self._metadata

    @property
    def loader_module(self) -> str:
        return str(self._metadata.flavor(flavor.PYFUNC_FLAVOR)["loader_module"])

    @property
    def model_id(self) -> str | None:
        return self._metadata.model_id

    @property
    def input_example(self) -> Any:
        """The example saved with the model, or None."""
        return load_example(self.model_dir, self._metadata.saved_input_example_info)

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """Predict on `data` (DataFrame, ndarray, dict or list), after enforcing the signature.

        Raises:
            InvalidParameterValueError: the input does not match the signature (the message
                names the column or tensor).
        """
        signature = self._metadata.signature
        if signature is not None and signature.inputs is not None:
            data = enforce_input(signature.inputs, data)
        checked = enforce_params(signature.params if signature else None, params)
        return self._implementation.predict(data, checked or None)

    def unwrap_python_model(self) -> Any:
        """The `PythonModel` instance of a custom model (for calling its own methods)."""
        unwrap = getattr(self._implementation, "python_model", None)
        if unwrap is None:
            raise InvalidParameterValueError(
                f"unwrap_python_model applies to custom PythonModels; this model's loader is "
                f"{self.loader_module}."
            )
        return unwrap

    def get_raw_model(self) -> Any:
        """The flavor's own model object (an estimator, an onnxruntime session, …)."""
        return getattr(self._implementation, "raw_model", self._implementation)

    def __repr__(self) -> str:
        return f"PyFuncModel(loader_module={self.loader_module!r}, model_id={self.model_id!r})"


def load_model(model_uri: str | os.PathLike[str], dst_path: str | None = None) -> PyFuncModel:
    """Load any model with a `python_function` flavor, from a local path, `file://`,
    `runs:/<run_id>/<name>` or `models:/<model_id>`.

    Example:
        >>> model = cairn.pyfunc.load_model("models:/m-0123456789abcdef0123456789abcdef")
        >>> model.predict(pandas.DataFrame({"x": [1.0]}))
    """
    local = download_model(os.fspath(model_uri), dst_path)
    metadata = load_contained(local)
    code = metadata.flavor(flavor.PYFUNC_FLAVOR).get("code")
    add_code_to_path(local, code, f"{flavor.PYFUNC_FLAVOR}.code")
    return PyFuncModel(metadata, flavor.load_implementation(local, metadata), local)


def add_code_to_path(model_dir: str, code: Any, what: str = "code") -> None:
    """Put a model's `code/` folder first on sys.path (its modules may be unpickled), once
    it is known to lie inside the model and shipped code is allowed (`trust`).

    Raises:
        InvalidParameterValueError: `code` leaves the model folder.
        PermissionDeniedError: CAIRN_ALLOW_PICKLE is false.
    """
    if code is None:
        return
    folder = model_file(model_dir, code, what)
    check_code_allowed(model_dir, [folder])
    if folder not in sys.path:
        sys.path.insert(0, folder)

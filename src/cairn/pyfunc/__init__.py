"""pyfunc: every flavor behind one `predict`, and custom Python models (MLflow's
`mlflow.pyfunc`).

    model = cairn.pyfunc.load_model("models:/m-0123456789abcdef0123456789abcdef")
    model.predict(pandas.DataFrame({"x": [1.0]}))
"""

from __future__ import annotations

from cairn.pyfunc.model import log_model, save_model
from cairn.pyfunc.pyfunc_model import PyFuncModel, load_model
from cairn.pyfunc.python_model import PythonModel, PythonModelContext

FLAVOR_NAME = "python_function"

__all__ = [
    "FLAVOR_NAME",
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "load_model",
    "log_model",
    "save_model",
]

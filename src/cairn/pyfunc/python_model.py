"""`PythonModel` and `PythonModelContext`, in a module that depends on nothing.

A custom model's class subclasses `PythonModel`, and cloudpickle pickles a base class by
reference to its module: a model file would then need Cairn installed to be unpickled.
`cairn.pyfunc.save_model` pickles this module's classes by value instead
(`cloudpickle.register_pickle_by_value`), so the file needs only cloudpickle and MLflow's
own loader (`mlflow.pyfunc.model`) reads it in an environment without Cairn. Everything
these methods refer to travels inside each model file, which is why this module imports
nothing but `typing` (for annotations only) and must stay that way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any


class PythonModelContext:
    """What `load_context` and `predict` get: local paths of the model's artifacts (by the
    names given at save time) and the model's configuration. MLflow's loader passes its own
    context with the same two attributes."""

    def __init__(
        self, artifacts: dict[str, str] | None = None, model_config: dict[str, Any] | None = None
    ) -> None:
        self.artifacts: dict[str, str] = dict(artifacts or {})
        self.model_config: dict[str, Any] = dict(model_config or {})

    def __repr__(self) -> str:
        return f"PythonModelContext({self.artifacts!r}, {self.model_config!r})"


class _NoTypeHints:
    """What MLflow's pyfunc wrapper reads from `predict_type_hints`: with no input hint it
    passes the input to `predict` unchanged, as Cairn's loader does."""

    input = None
    output = None


class PythonModel:
    """Subclass this and implement `predict` to ship arbitrary Python as a model.

    Example:
        >>> class AddN(cairn.pyfunc.PythonModel):
        ...     def load_context(self, context):
        ...         self.n = int(open(context.artifacts["n"]).read())
        ...     def predict(self, context, model_input, params=None):
        ...         return model_input + self.n
    """

    def load_context(self, context: PythonModelContext) -> None:
        """Called once at load time, before any prediction: read artifacts here."""

    def predict(
        self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None
    ) -> Any:
        raise NotImplementedError("A PythonModel subclass must implement predict().")

    @property
    def predict_type_hints(self) -> _NoTypeHints:
        """MLflow's loader asks every model for this before each `predict`."""
        return _NoTypeHints()

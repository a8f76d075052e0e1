"""Optional dependencies: import one, or say in one line which extra of Cairn brings it.

Each optional feature (S3 artifacts, PostgreSQL, system metrics, a flavor's serializer...)
imports its library when first used, through `require`. A missing library then raises
`MissingExtraError`, whose one-line message names what needed it, the module and the
command that installs it, e.g.:

    cairn.sklearn.log_model needs cloudpickle, which is not installed:
    pip install 'cairn-tracker[sklearn]'

(one line in practice). It subclasses `ModuleNotFoundError`, so `except ImportError` goes on
working. It sits below every layer, importing nothing of Cairn's.
"""

from __future__ import annotations

import importlib
from types import ModuleType

DISTRIBUTION = "cairn-tracker"
"""The name on the package index; the import name stays `cairn`."""


class MissingExtraError(ModuleNotFoundError):
    """An optional dependency is not installed; `extra` is the extra that brings it."""

    def __init__(self, module: str, extra: str, needed_for: str) -> None:
        super().__init__(
            f"{needed_for} needs {module}, which is not installed: {install_hint(extra)}",
            name=module,
        )
        self.extra = extra


def install_hint(extra: str) -> str:
    """The command that installs `extra`: `pip install 'cairn-tracker[s3]'`."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def require(module: str, *, extra: str, needed_for: str) -> ModuleType:
    """`module` imported, or MissingExtraError naming `extra` when it is not installed.

    Only the absence of `module` itself (or of its top-level package) becomes
    MissingExtraError; a library that is there but fails to import keeps its own error,
    which says more than a hint to install what is installed.

    Example:
        >>> boto3 = require("boto3", extra="s3", needed_for="S3 artifact storage")
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if not _names_module(error.name, module):
            raise
        raise MissingExtraError(module.partition(".")[0], extra, needed_for) from None


def _names_module(missing: str | None, module: str) -> bool:
    """Whether the module found missing is `module` or one of its parent packages."""
    return missing is not None and (module == missing or module.startswith(missing + "."))

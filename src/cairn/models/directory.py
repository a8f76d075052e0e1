"""Writing a model directory: the steps every flavor's `save_model` shares.

A flavor writes its own files and flavor section; this module does the rest the same way for
all of them: refuse to overwrite, copy `code_paths` under `code/`, save the input example,
infer a missing signature from it, write the environment files, then MLmodel last (so a
directory with an MLmodel file is a complete model).
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
from collections.abc import Callable, Sequence
from typing import Any

from cairn.exceptions import InvalidParameterValueError, ResourceAlreadyExistsError
from cairn.models import requirements
from cairn.models.flavor import PYFUNC_FLAVOR
from cairn.models.input_example import save_example
from cairn.models.model import Model, directory_size
from cairn.models.signature import ModelSignature, infer_signature

CODE_DIR = "code"
log = logging.getLogger("cairn.models")


def prepare(path: str | os.PathLike[str]) -> str:
    """Create the (new or empty) directory; an existing model is never overwritten."""
    target = os.path.abspath(os.fspath(path))
    if os.path.exists(target) and (not os.path.isdir(target) or os.listdir(target)):
        raise ResourceAlreadyExistsError(f"Path {target!r} already exists and is not empty.")
    os.makedirs(target, exist_ok=True)
    return target


def copy_code(model_dir: str, code_paths: Sequence[str | os.PathLike[str]] | None) -> str | None:
    """Copy files and packages under `code/` (put on sys.path at load); returns "code"."""
    if not code_paths:
        return None
    code_dir = os.path.join(model_dir, CODE_DIR)
    os.makedirs(code_dir, exist_ok=True)
    for entry in code_paths:
        source = os.fspath(entry)
        destination = os.path.join(code_dir, os.path.basename(os.path.normpath(source)))
        if os.path.isdir(source):
            shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__"))
        elif os.path.isfile(source):
            shutil.copyfile(source, destination)
        else:
            raise InvalidParameterValueError(f"code_paths entry {source!r} does not exist.")
    return CODE_DIR


def pyfunc_section(loader_module: str, code: str | None, **extra: Any) -> dict[str, Any]:
    """The `python_function` flavor section (its `env` is filled in by `finish`)."""
    section: dict[str, Any] = {"loader_module": loader_module}
    section["python_version"] = platform.python_version()
    if code is not None:
        section["code"] = code
    section.update(extra)
    return section


def finish(
    model_dir: str,
    model: Model,
    *,
    signature: ModelSignature | None,
    input_example: Any,
    predict: Callable[[Any], Any] | None,
    requirement_lines: list[str],
) -> Model:
    """Save the example, settle the signature, write the environment files and MLmodel."""
    if input_example is not None:
        model.saved_input_example_info = save_example(model_dir, input_example)
        if signature is None:
            signature = _signature_from_example(input_example, predict)
    model.signature = signature
    env = requirements.write(model_dir, requirement_lines)
    if PYFUNC_FLAVOR in model.flavors:
        model.flavors[PYFUNC_FLAVOR]["env"] = env
    model.model_size_bytes = directory_size(model_dir)
    model.save(model_dir)
    return model


def _signature_from_example(example: Any, predict: Callable[[Any], Any] | None) -> ModelSignature:
    """The example's schema, with the prediction's when the model can predict on it (as in
    MLflow, a model that fails on its own example still gets an input schema)."""
    output = None
    if predict is not None:
        try:
            output = predict(example)
        except Exception as error:
            log.warning("Could not predict on the input example to infer outputs: %s", error)
    return infer_signature(example, output)

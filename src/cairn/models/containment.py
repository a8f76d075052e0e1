"""Paths an MLmodel file names, kept inside the model's folder.

An MLmodel file arrives with the model, so it is as untrusted as the model: its
`pickled_model`, `data`, `python_model`, `code`, `artifacts`, input example and environment
entries may name `/etc/passwd`, `../elsewhere` or a symbolic link leading out. Each must
be a plain relative path (what `artifact_paths.safe_relative` accepts) that stays inside
the folder once links are resolved (`artifact_paths.join_inside`). Loaders read a model
with `load_contained`, which checks every such entry of every flavor before anything is
unpickled, imported or put on sys.path, and reach each file through `model_file`, which
checks it again where it is used.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, NoReturn

from cairn.artifact_paths import join_inside, safe_relative
from cairn.exceptions import InvalidParameterValueError
from cairn.models.model import Model

# The flavor keys that name a file or folder of the model, in MLflow's flavors and Cairn's.
PATH_KEYS = ("pickled_model", "model_path", "data", "python_model", "code", "model_code_path")
_EXAMPLE_KEYS = ("artifact_path", "serving_input_path")


def load_contained(model_dir: str) -> Model:
    """The MLmodel of `model_dir`, refused if any path it names leaves the folder."""
    model = Model.load(model_dir)
    check_model_paths(model_dir, model)
    return model


def check_model_paths(model_dir: str, model: Model) -> None:
    """Raise InvalidParameterValueError unless every path `model` names is inside."""
    for what, value in named_paths(model):
        model_file(model_dir, value, what)


def named_paths(model: Model) -> Iterator[tuple[str, Any]]:
    """(where in MLmodel, value) of every entry that names a file or folder of the model."""
    for name, section in model.flavors.items():
        if not isinstance(section, dict):
            raise InvalidParameterValueError(f"MLmodel's flavor {name!r} is not a mapping.")
        for key in PATH_KEYS:
            if section.get(key) is not None:
                yield f"{name}.{key}", section[key]
        yield from _artifact_entries(name, section.get("artifacts"))
        yield from _env_entries(name, section.get("env"))
    info = model.saved_input_example_info or {}
    for key in _EXAMPLE_KEYS:
        if info.get(key) is not None:
            yield f"saved_input_example_info.{key}", info[key]


def _artifact_entries(flavor: str, artifacts: Any) -> Iterator[tuple[str, Any]]:
    if artifacts is None:
        return
    if not isinstance(artifacts, dict):
        raise InvalidParameterValueError(f"MLmodel's {flavor}.artifacts is not a mapping.")
    for name, info in artifacts.items():
        path = info.get("path") if isinstance(info, dict) else None
        yield f"{flavor}.artifacts.{name}.path", path


def _env_entries(flavor: str, env: Any) -> Iterator[tuple[str, Any]]:
    """MLflow writes `env` as one conda file (older versions) or {manager: file}."""
    if env is None:
        return
    if isinstance(env, dict):
        for manager, path in env.items():
            yield f"{flavor}.env.{manager}", path
    else:
        yield f"{flavor}.env", env


def model_file(model_dir: str, relative: Any, what: str) -> str:
    """The local path of `relative`, an entry `what` of MLmodel, inside `model_dir`.

    Raises:
        InvalidParameterValueError: `relative` is not a relative path, leaves the folder
            (absolute, `..`), or a symbolic link on it or (for a folder) under it leads out.
    """
    if not isinstance(relative, str):
        _refuse(model_dir, what, relative, "is not a path")
    try:
        inside = safe_relative(relative)
        if not inside:
            _refuse(model_dir, what, relative, "names the model folder itself, not a file in it")
        root = os.path.realpath(model_dir)
        target = join_inside(root, inside)
        if os.path.isdir(target) and not os.path.islink(target):
            _check_links_below(root, target)
    except InvalidParameterValueError as error:
        if error.message.startswith("Refusing the model"):
            raise
        _refuse(model_dir, what, relative, f"leaves the model folder: {error.message}")
    return os.path.join(model_dir, *inside.split("/"))


def _check_links_below(root: str, folder: str) -> None:
    """Refuse a folder (code, an artifact) holding a symbolic link that leads outside."""
    for parent, folders, files in os.walk(folder):
        for name in (*folders, *files):
            path = os.path.join(parent, name)
            if os.path.islink(path):
                resolved = os.path.realpath(path)
                if resolved != root and not resolved.startswith(root + os.sep):
                    relative = os.path.relpath(path, root)
                    raise InvalidParameterValueError(
                        f"the symbolic link {relative!r} leads outside the model folder"
                    )


def _refuse(model_dir: str, what: str, value: Any, why: str) -> NoReturn:
    raise InvalidParameterValueError(
        f"Refusing the model at {model_dir}: its MLmodel's {what} {value!r} {why}."
    )

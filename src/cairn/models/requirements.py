"""The environment files saved with a model: requirements.txt, python_env.yaml, conda.yaml.

A model needs fewer packages than the run that trained it, so unlike a run's
`environment/requirements.txt` (every installed distribution) the model lists only the
flavor's libraries, pinned at their installed versions, after `mlflow`: the MLmodel names
MLflow's loaders, so MLflow (not Cairn) is what loads and serves the model elsewhere. As
MLflow does, `mlflow` comes first, pinned to the installed version (unpinned when MLflow is
not installed here), and is added even to the caller's `pip_requirements` unless they
name it. `python_env.yaml` has exactly MLflow's keys (`python`, `build_dependencies`,
`dependencies`): MLflow builds environments from it and refuses unknown keys, so the
machine details a run records are left out. The pin formatting is the one
tracking/environment.py uses for runs.
"""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Sequence

import yaml

from cairn.exceptions import InvalidParameterValueError
from cairn.tracking import environment

REQUIREMENTS_FILE = "requirements.txt"
PYTHON_ENV_FILE = "python_env.yaml"
CONDA_ENV_FILE = "conda.yaml"
MLFLOW_DISTRIBUTION = "mlflow"
# The names under which a requirement already provides MLflow's loaders (MLflow's own rule).
_MLFLOW_NAMES = ("mlflow", "mlflow-skinny")
# A requirement's distribution name (PEP 508); a path, URL or pip option has none.
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?(?=\s*(?:[\[<>=!~;@]|$))")


def pinned(distributions: Sequence[str]) -> list[str]:
    """`name==version` for each installed distribution (a missing one is left unpinned)."""
    pins: dict[str, str] = {}
    unpinned: list[str] = []
    for name in distributions:
        version = environment.installed_version(name)
        if version is None:
            unpinned.append(name)
        else:
            pins[name] = version
    return environment.requirements_txt(pins).splitlines() + unpinned


def resolve(
    default: Sequence[str],
    pip_requirements: Sequence[str] | str | None = None,
    extra_pip_requirements: Sequence[str] | str | None = None,
) -> list[str]:
    """The model's requirement lines: `mlflow`, then the flavor's libraries (sorted) plus
    extras, or `pip_requirements` when given. Either may be a list or a requirements file."""
    if pip_requirements is not None and extra_pip_requirements is not None:
        raise InvalidParameterValueError(
            "Give pip_requirements or extra_pip_requirements, not both."
        )
    if pip_requirements is not None:
        lines = _lines(pip_requirements)
    else:
        base = pinned(default)
        extra = _lines(extra_pip_requirements) if extra_pip_requirements is not None else []
        lines = base + [line for line in extra if line not in base]
    if any(_names_mlflow(line) for line in lines):
        return lines
    return [*pinned([MLFLOW_DISTRIBUTION]), *lines]


def _names_mlflow(line: str) -> bool:
    match = _NAME.match(line.strip())
    if match is None:
        return False
    return re.sub(r"[-_.]+", "-", match.group(0)).lower() in _MLFLOW_NAMES


def _lines(requirements: Sequence[str] | str) -> list[str]:
    if isinstance(requirements, str):
        with open(requirements, encoding="utf-8") as handle:
            text = handle.read()
        return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    return [str(line) for line in requirements]


def python_env_yaml() -> str:
    """MLflow's python_env.yaml: the interpreter, the build tools, and requirements.txt."""
    build = pinned(environment.BUILD_TOOLS)
    return _yaml(
        {
            "python": platform.python_version(),
            "build_dependencies": build,
            "dependencies": [f"-r {REQUIREMENTS_FILE}"],
        }
    )


def conda_yaml(requirements: Sequence[str]) -> str:
    """A conda environment with the same pins, for tools that build from conda.yaml."""
    pip = pinned(["pip"])[0].replace("==", "<=")
    dependencies: list[object] = [f"python={platform.python_version()}", pip]
    dependencies.append({"pip": list(requirements)})
    return _yaml({"channels": ["conda-forge"], "dependencies": dependencies, "name": "mlflow-env"})


def _yaml(data: dict[str, object]) -> str:
    text: str = yaml.safe_dump(data, sort_keys=False)
    return text


def write(model_dir: str, requirements: Sequence[str]) -> dict[str, str]:
    """Write the three files; returns the pyfunc `env` section pointing at them."""
    files = {
        REQUIREMENTS_FILE: "".join(f"{line}\n" for line in requirements),
        PYTHON_ENV_FILE: python_env_yaml(),
        CONDA_ENV_FILE: conda_yaml(requirements),
    }
    for name, text in files.items():
        with open(os.path.join(model_dir, name), "w", encoding="utf-8") as handle:
            handle.write(text)
    return {"conda": CONDA_ENV_FILE, "virtualenv": PYTHON_ENV_FILE}

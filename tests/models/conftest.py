"""Fixtures for the model suites: small fitted models and data, a fresh pickle notice, and
a Python environment with mlflow but without Cairn."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from cairn.models import trust

SUBPROCESS_SECONDS = 180


@pytest.fixture(autouse=True)
def fresh_pickle_notice() -> Iterator[None]:
    """Each test sees the once-per-process notice as if the process had just started."""
    trust._reset_notice()
    yield
    trust._reset_notice()


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"a": [0.1, 0.5, 0.9, 1.3, 2.0, 2.2], "b": [1.0, 0.2, 0.3, 1.1, 0.4, 0.9]})


@pytest.fixture
def labels() -> np.ndarray:
    return np.array([0, 0, 0, 1, 1, 1])


@pytest.fixture
def classifier(frame: pd.DataFrame, labels: np.ndarray) -> LogisticRegression:
    return LogisticRegression().fit(frame, labels)


@pytest.fixture
def regressor(frame: pd.DataFrame) -> LinearRegression:
    return LinearRegression().fit(frame.to_numpy(), frame["a"] * 2 + frame["b"])


@dataclass(frozen=True)
class NoCairnEnvironment:
    """A Python that has mlflow and the model libraries but not Cairn, as on a machine
    where MLflow alone loads or serves a model that Cairn wrote."""

    python: Path

    @property
    def bin(self) -> Path:
        return self.python.parent

    def environ(self, **extra: str) -> dict[str, str]:
        """This process's environment, without what could bring Cairn back in."""
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env.update(MLFLOW_DISABLE_TELEMETRY="true", **extra)
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"  # its uvicorn first
        return env

    def run(self, script: str, cwd: Path, **extra_env: str) -> Any:
        """Run `script` (which prints one JSON document last) after checking that Cairn
        cannot be imported; returns that document."""
        guard = (
            "try:\n    import cairn\nexcept ModuleNotFoundError:\n    pass\n"
            "else:\n    raise SystemExit('cairn is importable: ' + cairn.__file__)\n"
        )
        result = subprocess.run(
            [str(self.python), "-c", guard + script],
            cwd=cwd,
            env=self.environ(**extra_env),
            capture_output=True,
            text=True,
            timeout=SUBPROCESS_SECONDS,
        )
        assert result.returncode == 0, result.stderr[-6000:]
        return json.loads(result.stdout.strip().splitlines()[-1])


def _is_cairns(name: str) -> bool:
    """Whether a site-packages entry is Cairn's: `cairn/`, `cairn-0.1.0.dist-info`,
    `_editable_impl_cairn.pth`, `__editable___cairn_0_1_0_finder.py`, …"""
    return re.search(r"(^|[-_.])cairn([-_.]|$)", name.lower()) is not None


@pytest.fixture(scope="session")
def no_cairn(tmp_path_factory: pytest.TempPathFactory) -> NoCairnEnvironment:
    """A fresh venv (no pip) whose only link to the test venv is a `.pth` line naming a
    folder of links to everything in the test venv's site-packages but Cairn (its package,
    its dist-info, its editable-install hooks): mlflow, scikit-learn and onnxruntime import,
    `cairn` does not, whether the test venv installed it editable or not. (`.pth` files in
    that folder are not processed.) Console scripts for `mlflow` and `uvicorn` (which
    `mlflow models serve` runs from PATH) are written in its bin/, pointing at its own
    interpreter."""
    folder = tmp_path_factory.mktemp("no-cairn-venv")
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(folder)],
        check=True,
        timeout=SUBPROCESS_SECONDS,
    )
    python = folder / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_SECONDS,
    ).stdout.strip()
    shared = folder / "shared-site-packages"
    shared.mkdir()
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    for entry in (e for directory in ours for e in Path(directory).iterdir()):
        if not _is_cairns(entry.name) and not (shared / entry.name).exists():
            (shared / entry.name).symlink_to(entry)
    (Path(site) / "test-venv-site-packages.pth").write_text(f"{shared}\n")
    for name, main in (("mlflow", "mlflow.cli:cli"), ("uvicorn", "uvicorn.main:main")):
        module, function = main.split(":")
        script = folder / "bin" / name
        script.write_text(f"#!{python}\nfrom {module} import {function}\n{function}()\n")
        script.chmod(0o755)
    environment = NoCairnEnvironment(python)
    path = environment.environ()["PATH"]
    assert shutil.which("uvicorn", path=path) == str(folder / "bin" / "uvicorn")
    probe = "import json, mlflow\nprint(json.dumps(mlflow.__version__))\n"
    assert environment.run(probe, folder) == metadata.version("mlflow")
    return environment

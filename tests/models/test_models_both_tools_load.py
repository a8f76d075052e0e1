"""Models that Cairn writes load with the stock mlflow client and MLflow's model serving on a
machine without Cairn, as a user would meet them.

A user's training script (run with this venv's Python, which has Cairn) logs a
scikit-learn model (cloudpickle, and skops), an ONNX model and a custom PythonModel
defined in its `__main__`, and prints Cairn's own predictions. MLflow then loads them in
the `no_cairn` environment (tests/models/conftest.py): by the model folder on the default
store (`./cairn-data/`), by `models:/<name>/1` through a live `cairn server`, and behind
`mlflow models serve`. Each run of that environment first checks that `import cairn`
fails. MLflow-written models loading in Cairn are covered in test_mlflow_interop.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from local_processes import free_port

if TYPE_CHECKING:
    from conftest import RestServer

    from .conftest import NoCairnEnvironment

pytest.importorskip("mlflow")
pytest.importorskip("skl2onnx")

SCRIPT_SECONDS = 180
SERVE_START_SECONDS = 90.0
KINDS = ("sklearn", "skops", "onnx", "custom")
LOADERS = {
    "sklearn": "mlflow.sklearn",
    "skops": "mlflow.sklearn",
    "onnx": "mlflow.onnx",
    "custom": "mlflow.pyfunc.model",
}

# What a user writes. The custom model lives in __main__, as in a script or a notebook.
TRAIN = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    import numpy as np
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from skl2onnx import to_onnx

    import cairn


    class Threshold(cairn.pyfunc.PythonModel):
        def load_context(self, context):
            self.cut = float(Path(context.artifacts["cut"]).read_text())

        def predict(self, context, model_input, params=None):
            scaled = model_input["a"].to_numpy() * context.model_config["scale"]
            return (scaled > self.cut).astype("int64")


    frame = pd.DataFrame({"a": [0.1, 0.5, 0.9, 1.3, 2.0, 2.2], "b": [1.0, 0.2, 0.3, 1.1, 0.4, 0.9]})
    labels = np.array([0, 0, 0, 1, 1, 1])
    tensor = frame.to_numpy(dtype="float32")
    Path("cut.txt").write_text("2.5")
    prefix = sys.argv[1] if len(sys.argv) > 1 else None
    registered = (lambda kind: f"{prefix}-{kind}") if prefix else (lambda kind: None)
    regressor = LinearRegression().fit(tensor, frame["a"] * 2 + frame["b"])
    with cairn.start_run():
        infos = {
            "sklearn": cairn.sklearn.log_model(
                LogisticRegression().fit(frame, labels), name="sklearn",
                input_example=frame.head(2), registered_model_name=registered("sklearn"),
            ),
            # A gradient-boosting model holds a type skops does not trust by default.
            "skops": cairn.sklearn.log_model(
                HistGradientBoostingClassifier(max_iter=5, min_samples_leaf=1).fit(frame, labels),
                name="skops", serialization_format="skops",
                registered_model_name=registered("skops"),
            ),
            "onnx": cairn.onnx.log_model(
                to_onnx(regressor, tensor[:1], target_opset=17), name="onnx",
                registered_model_name=registered("onnx"),
            ),
            "custom": cairn.pyfunc.log_model(
                "custom", python_model=Threshold(), artifacts={"cut": "cut.txt"},
                model_config={"scale": 2}, input_example=frame.head(2),
                registered_model_name=registered("custom"),
            ),
        }


    def flat(predictions):
        if isinstance(predictions, dict):
            (predictions,) = predictions.values()
        return np.asarray(predictions, dtype="float64").ravel().tolist()


    report = {"frame": frame.to_dict(orient="split"), "tensor": tensor.tolist(), "models": {}}
    for kind, info in infos.items():
        data = tensor if kind == "onnx" else frame
        report["models"][kind] = {
            "folder": info.artifact_path,
            "name": registered(kind),
            "version": info.registered_model_version,
            "cairn": flat(cairn.pyfunc.load_model(info.model_uri).predict(data)),
        }
    print(json.dumps(report))
    """
)

# What the machine without Cairn runs: MLflow's loader on each model, by `location`.
LOAD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import pandas as pd
    import mlflow.pyfunc

    report = json.loads(sys.argv[1])
    frame = pd.DataFrame(**{k: report["frame"][k] for k in ("columns", "data")})
    tensor = np.asarray(report["tensor"], dtype="float32")
    out = {}
    for kind, model in report["models"].items():
        loaded = mlflow.pyfunc.load_model(model["location"])
        predictions = loaded.predict(tensor if kind == "onnx" else frame)
        if isinstance(predictions, dict):
            (predictions,) = predictions.values()
        out[kind] = {
            "loader": loaded.loader_module,
            "predictions": np.asarray(predictions, dtype="float64").ravel().tolist(),
        }
    print(json.dumps(out))
    """
)


def _train(cwd: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    """Run the user's training script with Cairn (this venv's Python); returns its report."""
    result = subprocess.run(
        [sys.executable, "-c", TRAIN, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=SCRIPT_SECONDS,
    )
    assert result.returncode == 0, result.stderr[-6000:]
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def _user_environment(**extra: str) -> dict[str, str]:
    """A user's shell: no Cairn settings but what the test gives."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAIRN_", "MLFLOW_"))}
    env.update(CAIRN_CAPTURE_SOURCE="false", CAIRN_CAPTURE_ENVIRONMENT="false", **extra)
    return env


@pytest.fixture(scope="module")
def default_store_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The four models logged by the user's script on the default store, ./cairn-data/."""
    project = tmp_path_factory.mktemp("project")
    return project, _train(project, _user_environment())


def test_cairn_writes_mlflows_loaders_and_no_cairn_requirement(
    default_store_models: tuple[Path, dict[str, Any]],
) -> None:
    project, report = default_store_models
    for kind, model in report["models"].items():
        folder = Path(model["folder"])
        assert folder.is_relative_to(project / "cairn-data"), folder
        mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
        assert mlmodel["flavors"]["python_function"]["loader_module"] == LOADERS[kind]
        requirements = (folder / "requirements.txt").read_text().splitlines()
        assert requirements[0].startswith("mlflow=="), requirements
        assert not any(line.startswith("cairn") for line in requirements), requirements
        conda = yaml.safe_load((folder / "conda.yaml").read_text())
        assert conda["dependencies"][-1] == {"pip": requirements}
    skops = yaml.safe_load((Path(report["models"]["skops"]["folder"]) / "MLmodel").read_text())
    assert skops["flavors"]["sklearn"]["skops_trusted_types"] == [
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
    ]


def _assert_same_predictions(report: dict[str, Any], loaded: dict[str, Any]) -> None:
    assert set(loaded) == set(KINDS)
    for kind in KINDS:
        assert loaded[kind]["loader"] == LOADERS[kind]
        assert loaded[kind]["predictions"] == pytest.approx(
            report["models"][kind]["cairn"], rel=1e-5
        ), kind


def test_mlflow_without_cairn_loads_the_model_folders(
    default_store_models: tuple[Path, dict[str, Any]], no_cairn: NoCairnEnvironment
) -> None:
    project, report = default_store_models
    folders = {kind: model["folder"] for kind, model in report["models"].items()}
    _assert_same_predictions(report, _load(no_cairn, project, report, folders))


def _load(
    no_cairn: NoCairnEnvironment,
    cwd: Path,
    report: dict[str, Any],
    locations: dict[str, str],
    **env: str,
) -> dict[str, Any]:
    """Run LOAD without Cairn on the report's data, each model loaded from `locations`."""
    models = {kind: {"location": location} for kind, location in locations.items()}
    payload = json.dumps({**report, "models": models})
    script = f"import sys\nsys.argv = ['load', {json.dumps(payload)}]\n{LOAD}"
    loaded: dict[str, Any] = no_cairn.run(script, cwd, **env)
    return loaded


def test_mlflow_without_cairn_loads_registered_versions_from_a_cairn_server(
    rest_server: RestServer, no_cairn: NoCairnEnvironment, tmp_path: Path
) -> None:
    prefix = f"both-{uuid.uuid4().hex[:8]}"
    report = _train(tmp_path, _user_environment(CAIRN_TRACKING_URI=rest_server.url), prefix)
    for kind, model in report["models"].items():
        assert (model["name"], model["version"]) == (f"{prefix}-{kind}", "1")
    uris = {kind: f"models:/{prefix}-{kind}/1" for kind in KINDS}
    client_dir = tmp_path / "client"  # nothing of the server's files here: all comes over HTTP
    client_dir.mkdir()
    loaded = _load(no_cairn, client_dir, report, uris, MLFLOW_TRACKING_URI=rest_server.url)
    _assert_same_predictions(report, loaded)


def _post(port: int, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except (urllib.error.URLError, ConnectionError) as error:
        if isinstance(error, urllib.error.HTTPError):
            return error.code, error.read()
        return 0, str(error).encode()


def _serve(
    no_cairn: NoCairnEnvironment, folder: str, log: Path
) -> tuple[subprocess.Popen[bytes], int]:
    """`mlflow models serve` as a user types it, in the environment without Cairn; returns
    once /ping answers 200 (within a deadline)."""
    port = free_port()
    command = [
        str(no_cairn.bin / "mlflow"),
        "models",
        "serve",
        "-m",
        folder,
        "--env-manager",
        "local",
        "-p",
        str(port),
        "--host",
        "127.0.0.1",
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command,
            cwd=log.parent,
            env=no_cairn.environ(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group, so uvicorn goes down with it
        )
    deadline = time.monotonic() + SERVE_START_SECONDS
    while time.monotonic() < deadline:
        if _post(port, "/ping")[0] == 200:
            return process, port
        try:
            process.wait(0.1)  # not a sleep: returns at once if the server died
        except subprocess.TimeoutExpired:
            continue
        break
    _stop(process)
    pytest.fail(f"mlflow models serve did not answer /ping:\n{log.read_text()[-4000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(15)


@pytest.mark.parametrize("kind", KINDS)
def test_mlflow_models_serve_without_cairn_answers_like_cairn(
    kind: str,
    default_store_models: tuple[Path, dict[str, Any]],
    no_cairn: NoCairnEnvironment,
    tmp_path: Path,
) -> None:
    _, report = default_store_models
    model = report["models"][kind]
    if kind == "onnx":
        body = {"inputs": report["tensor"]}
    else:
        body = {"dataframe_split": {k: report["frame"][k] for k in ("columns", "data")}}
    process, port = _serve(no_cairn, model["folder"], tmp_path / "serve.log")
    try:
        status, reply = _post(port, "/invocations", json.dumps(body).encode())
    finally:
        _stop(process)
    assert status == 200, reply
    predictions = json.loads(reply)["predictions"]
    if isinstance(predictions, dict):
        (predictions,) = predictions.values()
    flat = [value for row in predictions for value in (row if isinstance(row, list) else [row])]
    assert flat == pytest.approx(model["cairn"], rel=1e-5)

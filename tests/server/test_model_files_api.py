"""A registered version's model files by name and version (`…/cairn/model-versions/mlmodel`
and `/artifact`), as the UI's version page reads them, against a live `cairn server`."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pytest

import cairn

if TYPE_CHECKING:
    from conftest import TrackingServer

UI = "/ajax-api/2.0/cairn"
SIGNATURE_INPUTS = [{"type": "double", "name": "x", "required": True}]
MLMODEL = (
    "flavors:\n  python_function:\n    loader_module: cairn.sklearn\n"
    "saved_input_example_info:\n  artifact_path: input_example.json\n  type: dataframe\n"
    f"signature:\n  inputs: '{json.dumps(SIGNATURE_INPUTS)}'\n  outputs: null\n"
)
EXAMPLE = b'{"columns": ["x"], "data": [[1.5]]}'


def _get(base: str, path: str, params: dict[str, Any]) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"{base}{UI}{path}?{urlencode(params)}", timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _upload(base: str, root: str, path: str, body: bytes) -> None:
    target = f"{base}/api/2.0/mlflow-artifacts/artifacts/{root}/{path}"
    with urllib.request.urlopen(urllib.request.Request(target, data=body, method="PUT")) as r:
        assert r.status == 200


@pytest.fixture
def version(tracking_server: TrackingServer) -> tuple[str, str]:
    """(base URL, model name): version 1 from `runs:/<run>/model`, version 2 from a run
    folder without a model."""
    base = tracking_server.url
    client = cairn.Client(tracking_uri=base, registry_uri=base)
    run = client.create_run(client.create_experiment(f"files-{uuid.uuid4().hex[:8]}"))
    root = run.info.artifact_uri.removeprefix("mlflow-artifacts:").strip("/")
    _upload(base, root, "model/MLmodel", MLMODEL.encode())
    _upload(base, root, "model/input_example.json", EXAMPLE)
    name = f"files-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    client.create_model_version(name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    client.create_model_version(name, f"runs:/{run.info.run_id}/empty", run_id=run.info.run_id)
    return base, name


def test_the_mlmodel_comes_as_json_with_its_signature_parsed(version: tuple[str, str]) -> None:
    base, name = version
    status, body = _get(base, "/model-versions/mlmodel", {"name": name, "version": "1"})
    assert status == 200
    mlmodel = json.loads(body)["mlmodel"]
    assert mlmodel["signature"]["inputs"] == SIGNATURE_INPUTS
    assert mlmodel["signature"]["outputs"] is None
    assert mlmodel["flavors"]["python_function"]["loader_module"] == "cairn.sklearn"
    example = mlmodel["saved_input_example_info"]["artifact_path"]
    params = {"name": name, "version": "1", "path": example}
    assert _get(base, "/model-versions/artifact", params) == (200, EXAMPLE)


@pytest.mark.parametrize(
    ("endpoint", "params", "status", "code"),
    [
        ("/model-versions/mlmodel", {"version": "2"}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ("/model-versions/mlmodel", {"version": "9"}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ("/model-versions/mlmodel", {}, 400, "INVALID_PARAMETER_VALUE"),
        ("/model-versions/artifact", {"version": "1"}, 400, "INVALID_PARAMETER_VALUE"),
        (
            "/model-versions/artifact",
            {"version": "1", "path": "../../x"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "/model-versions/artifact",
            {"version": "1", "path": "/etc/passwd"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "/model-versions/artifact",
            {"version": "1", "path": "nope"},
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
    ],
)
def test_bad_requests_get_mlflow_codes(
    version: tuple[str, str], endpoint: str, params: dict[str, str], status: int, code: str
) -> None:
    base, name = version
    got, body = _get(base, endpoint, {"name": name, **params})
    assert (got, json.loads(body)["error_code"]) == (status, code)

"""Model versions registered from object stores (`s3://`, `gs://`, `wasbs://`, `dbfs:/`), as
MLflow accepts them, under the prefixes `cairn server --allowed-model-sources` allows (and,
by default, the bucket of an object-store artifact destination); local paths and
traversals stay refused whatever is allowed (the LFI MLflow was attacked through).

Against real `cairn server` processes, through the real mlflow client."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from live_server import LiveServer, start_server

import cairn
from cairn.exceptions import InvalidParameterValueError
from cairn.store.sql.registry import SqlRegistryStore
from local_processes import CLI

ALLOWED = ("s3://models-bucket/prod", "gs://gbucket/,dbfs:/mnt/models")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    options = []
    for value in ALLOWED:  # the option repeated, and a comma-separated list
        options += ["--allowed-model-sources", value]
    live = start_server(tmp_path_factory.mktemp("model-sources"), *options)
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def client(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    import mlflow

    return mlflow.MlflowClient(f"http://127.0.0.1:{server.port}")


@pytest.fixture
def model(client: Any) -> str:
    name = f"external-{uuid.uuid4().hex[:12]}"
    client.create_registered_model(name)
    return name


@pytest.mark.parametrize(
    "source",
    [
        "s3://models-bucket/prod/churn/v3",
        "S3://models-bucket/prod/churn",  # a scheme compares without case, as in a URI
        "gs://gbucket/model",
        "dbfs:/mnt/models/churn",
    ],
)
def test_allowed_object_store_sources_are_accepted(client: Any, model: str, source: str) -> None:
    version = client.create_model_version(model, source)
    assert version.source == source
    assert client.get_model_version_download_uri(model, version.version) == source
    assert client.get_model_version(model, version.version).source == source


@pytest.mark.parametrize(
    "source",
    [
        "s3://other-bucket/model",
        "s3://models-bucket/staging/model",  # the bucket, outside the allowed path
        "s3://models-bucket/production/m",  # `prod` is a folder, not a name prefix
        "gs://gbucket-evil/model",
        "wasbs://container@account.blob.core.windows.net/model",
        "dbfs:/databricks/mlflow/model",
    ],
)
def test_object_store_sources_outside_the_prefixes_are_refused(
    client: Any, model: str, source: str
) -> None:
    import mlflow

    with pytest.raises(mlflow.exceptions.MlflowException) as raised:
        client.create_model_version(model, source)
    assert raised.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "--allowed-model-sources" in raised.value.message
    assert client.search_model_versions(f"name = '{model}'") == []


@pytest.mark.parametrize(
    "source",
    [
        "/etc/passwd",
        "file:///root",
        "file:///etc/passwd",
        "../x",
        "s3://models-bucket/prod/../../secret",
        "s3://models-bucket/prod/%2e%2e/secret",
        "dbfs:/mnt/models/../../etc",
    ],
)
def test_local_paths_and_traversals_stay_refused(
    server: LiveServer, model: str, source: str
) -> None:
    reply = server.call("POST", "/model-versions/create", {"name": model, "source": source})
    assert reply.status == 400, reply.body
    assert reply.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_an_object_store_destination_allows_its_bucket(
    s3_server: tuple[LiveServer, Any],
) -> None:
    live, _s3 = s3_server
    create = live.call("POST", "/registered-models/create", {"name": "on-s3"})
    assert create.status == 200, create.body
    source = "s3://proxied/elsewhere/model"
    made = live.call("POST", "/model-versions/create", {"name": "on-s3", "source": source})
    assert made.status == 200, made.body
    uri = live.call("GET", "/model-versions/get-download-uri", {"name": "on-s3", "version": "1"})
    assert uri.json() == {"artifact_uri": source}
    other = live.call(
        "POST", "/model-versions/create", {"name": "on-s3", "source": "s3://not-proxied/m"}
    )
    assert other.status == 400 and "--allowed-model-sources" in other.json()["message"]


@pytest.mark.parametrize("prefix", ["/etc", "file:///root", "http://example.com/", "s3://b/../x"])
def test_the_option_takes_object_store_prefixes_only(tmp_path: Path, prefix: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            CLI,
            "server",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'never.db'}",
            "--allowed-model-sources",
            prefix,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert "--allowed-model-sources" in done.stderr
    assert not (tmp_path / "never.db").exists()


# -- Cairn's own API ------------------------------------------------------------------------


def test_the_embedded_store_refuses_object_stores_unless_allowed(workdir: Path) -> None:
    client = cairn.Client()
    client.create_registered_model("local")
    with pytest.raises(InvalidParameterValueError, match="--allowed-model-sources"):
        client.create_model_version("local", "s3://models-bucket/m")
    allowing = SqlRegistryStore(
        cairn.get_tracking_uri(), allowed_model_sources=["s3://models-bucket"]
    )
    try:
        version = allowing.create_model_version("local", "s3://models-bucket/m")
        assert allowing.get_model_version_download_uri("local", version.version) == (
            "s3://models-bucket/m"
        )
        with pytest.raises(InvalidParameterValueError):
            allowing.create_model_version("local", "s3://models-bucket-2/m")
        with pytest.raises(InvalidParameterValueError):
            allowing.create_model_version("local", "/etc/passwd")
    finally:
        allowing.close()

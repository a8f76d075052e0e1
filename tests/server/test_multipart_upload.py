"""Multipart uploads through presigned URLs (`/mlflow-artifacts/mpu/...`) on a live server:
parts go straight to S3 (a moto server), never through the server; a local destination
answers 501 with the message that makes MLflow's client fall back to a plain PUT."""

from __future__ import annotations

import json
import os
import random
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from live_server import LiveServer, start_server

MPU = "/api/2.0/mlflow-artifacts/mpu"
PROXY = "/api/2.0/mlflow-artifacts/artifacts"
MIB = 1024 * 1024
UNSUPPORTED = "Multipart upload is not supported for the current artifact repository"


def post(server: LiveServer, path: str, payload: dict[str, Any]) -> Any:
    headers = {"Content-Type": "application/json"}
    return server.request("POST", path, body=json.dumps(payload).encode(), headers=headers)


def put_part(url: str, data: bytes) -> str:
    assert url.startswith("http://127.0.0.1:"), url  # presigned for the local moto server
    # A body without a type would be sent as a form, which S3 servers must not parse.
    headers = {"Content-Type": "application/octet-stream"}
    request = urllib.request.Request(url, data=data, method="PUT", headers=headers)
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200
        return str(response.headers["ETag"])


def test_a_file_goes_up_in_parts_and_comes_back_whole(s3_server: tuple[LiveServer, Any]) -> None:
    server, client = s3_server
    info = server.request("GET", "/api/3.0/mlflow/server-info").json()
    assert info["multipart_uploads_enabled"] is True
    data = random.Random(11).randbytes(11 * MIB)
    chunks = [data[: 5 * MIB], data[5 * MIB : 10 * MIB], data[10 * MIB :]]
    created = post(
        server, f"{MPU}/create/exp/run/artifacts/big", {"path": "model-dir/w.bin", "num_parts": 3}
    )
    assert created.status == 200, created.body
    answer = created.json()
    assert [c["part_number"] for c in answer["credentials"]] == [1, 2, 3]
    parts = [
        {"part_number": c["part_number"], "etag": put_part(c["url"], chunk), "url": c["url"]}
        for c, chunk in zip(answer["credentials"], chunks, strict=True)
    ]
    done = post(
        server,
        f"{MPU}/complete/exp/run/artifacts/big",
        {"path": "w.bin", "upload_id": answer["upload_id"], "parts": parts},
    )
    assert done.status == 200, done.body
    stored = client.head_object(Bucket="proxied", Key="store/exp/run/artifacts/big/w.bin")
    assert stored["ETag"].strip('"').endswith("-3")  # assembled by S3 from three parts
    assert server.request("GET", f"{PROXY}/exp/run/artifacts/big/w.bin").body == data


def test_an_aborted_upload_leaves_nothing(s3_server: tuple[LiveServer, Any]) -> None:
    server, client = s3_server
    body = {"path": "gone.bin", "num_parts": 1}
    answer = post(server, f"{MPU}/create/exp/run/artifacts", body).json()
    put_part(answer["credentials"][0]["url"], b"partial")
    aborted = post(
        server,
        f"{MPU}/abort/exp/run/artifacts",
        {"path": "gone.bin", "upload_id": answer["upload_id"]},
    )
    assert aborted.status == 200, aborted.body
    pending = client.list_multipart_uploads(Bucket="proxied").get("Uploads", [])
    assert answer["upload_id"] not in [u["UploadId"] for u in pending]
    listed = client.list_objects_v2(Bucket="proxied", Prefix="store/exp/run/artifacts/gone")
    assert listed.get("KeyCount", 0) == 0


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        (f"{MPU}/create/exp/%2e%2e/%2e%2e/escape", {"path": "x.bin", "num_parts": 1}),
        (f"{MPU}/create/exp/run", {"path": "..", "num_parts": 1}),
        (f"{MPU}/create/exp/run", {"num_parts": 1}),
        (f"{MPU}/create/exp/run", {"path": "x.bin", "num_parts": 0}),
        (f"{MPU}/complete/exp/run", {"path": "x.bin", "upload_id": "u", "parts": [{"etag": 1}]}),
        (f"{MPU}/abort/exp/run", {"path": "x.bin"}),
    ],
)
def test_bad_multipart_calls_are_400(
    s3_server: tuple[LiveServer, Any], path: str, payload: dict[str, Any]
) -> None:
    server, _ = s3_server
    reply = post(server, path, payload)
    assert reply.status == 400, reply.body
    assert reply.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_a_local_destination_answers_not_implemented(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        info = server.request("GET", "/api/3.0/mlflow/server-info").json()
        assert info["multipart_uploads_enabled"] is False
        reply = post(server, f"{MPU}/create/1/run/artifacts", {"path": "x.bin", "num_parts": 2})
        assert reply.status == 501
        assert reply.json()["error_code"] == "NOT_IMPLEMENTED"
        assert reply.json()["message"].startswith(UNSUPPORTED)
    finally:
        server.stop()


def test_mlflow_client_uploads_in_parts(
    s3_server: tuple[LiveServer, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, client = s3_server
    for name, value in {
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{server.port}",
        "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "true",
        "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE": str(MIB),
        "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE": str(5 * MIB),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "AWS_ACCESS_KEY_ID": "unused-by-the-client",
        "AWS_SECRET_ACCESS_KEY": "unused-by-the-client",
    }.items():
        monkeypatch.setenv(name, value)
    import mlflow

    data = os.urandom(12 * MIB)
    local = tmp_path / "weights.bin"
    local.write_bytes(data)
    experiment = mlflow.set_experiment(f"multipart-{random.Random().randrange(10**9)}")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(local), "model")
    key = f"store/{experiment.experiment_id}/{run.info.run_id}/artifacts/model/weights.bin"
    assert client.head_object(Bucket="proxied", Key=key)["ETag"].strip('"').endswith("-3")
    downloaded = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="model/weights.bin", dst_path=str(tmp_path / "d")
    )
    assert Path(downloaded).read_bytes() == data

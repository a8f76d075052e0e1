"""The artifact proxy (`/api/2.0/mlflow-artifacts/artifacts`) and `artifacts/list`, against a
live `cairn server`: round trips, MLflow's response shapes, errors, and a 200 MiB file that
goes up and comes back while the server's peak memory stays flat."""

from __future__ import annotations

import hashlib
import json
import os
import random
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from live_server import LiveServer, start_server

API = "/api/2.0/mlflow-artifacts/artifacts"
AJAX = "/ajax-api/2.0/mlflow-artifacts/artifacts"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("proxy"))
    yield live
    live.stop()


@pytest.fixture
def area(request: pytest.FixtureRequest) -> str:
    """A folder of the destination that belongs to one test."""
    return f"t-{request.node.name.replace('[', '-').replace(']', '')}"


def put(server: LiveServer, path: str, data: bytes, prefix: str = API) -> int:
    reply = server.request("PUT", f"{prefix}/{quote(path)}", body=data)
    assert reply.body == b"", reply.body
    return reply.status


def listing(server: LiveServer, path: str | None = None, prefix: str = API) -> list[dict]:
    query = f"?path={quote(path, safe='')}" if path is not None else ""
    reply = server.request("GET", f"{prefix}{query}")
    assert reply.status == 200, reply.body
    files: list[dict] = reply.json()["files"]
    return files


def test_small_text_round_trip_lands_in_the_destination(server: LiveServer, area: str) -> None:
    assert put(server, f"{area}/notes.txt", b"hello, proxy\n") == 200
    reply = server.request("GET", f"{API}/{area}/notes.txt")
    assert reply.status == 200
    assert reply.body == b"hello, proxy\n"
    assert (server.destination / area / "notes.txt").read_bytes() == b"hello, proxy\n"
    assert reply.headers["Content-Disposition"] == 'attachment; filename="notes.txt"'
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert listing(server, area) == [{"path": "notes.txt", "is_dir": False, "file_size": 13}]


def test_empty_file(server: LiveServer, area: str) -> None:
    assert put(server, f"{area}/empty.bin", b"") == 200
    reply = server.request("GET", f"{API}/{area}/empty.bin")
    assert (reply.status, reply.body) == (200, b"")
    assert listing(server, area) == [{"path": "empty.bin", "is_dir": False, "file_size": 0}]


def test_binary_content_is_byte_exact(server: LiveServer, area: str) -> None:
    data = bytes(range(256)) * 64 + random.Random(7).randbytes(300_001)
    assert put(server, f"{area}/blob.bin", data) == 200
    reply = server.request("GET", f"{API}/{area}/blob.bin")
    assert reply.status == 200
    assert hashlib.sha256(reply.body).digest() == hashlib.sha256(data).digest()
    assert reply.headers["Content-Type"] == "application/octet-stream"


def test_nested_folders_list_level_by_level(server: LiveServer, area: str) -> None:
    for path, data in [
        ("model/MLmodel", b"flavors: {}\n"),
        ("model/data/weights.bin", b"\x00" * 10),
        ("model/data/deep/er/x.json", b"{}"),
        ("metrics.csv", b"a,b\n"),
    ]:
        assert put(server, f"{area}/{path}", data) == 200
    assert listing(server, area) == [
        {"path": "metrics.csv", "is_dir": False, "file_size": 4},
        {"path": "model", "is_dir": True},
    ]
    assert listing(server, f"{area}/model/data") == [
        {"path": "deep", "is_dir": True},
        {"path": "weights.bin", "is_dir": False, "file_size": 10},
    ]
    assert listing(server, f"{area}/model/data/deep/er") == [
        {"path": "x.json", "is_dir": False, "file_size": 2}
    ]


def test_unicode_and_awkward_names(server: LiveServer, area: str) -> None:
    names = ["données/résumé ü.txt", "日本語/グラフ.png", "100% sure.txt", "a+b=c & d.txt"]
    for index, name in enumerate(names):
        assert put(server, f"{area}/{name}", f"content {index}".encode()) == 200
    for index, name in enumerate(names):
        reply = server.request("GET", f"{API}/{quote(f'{area}/{name}')}")
        assert (reply.status, reply.body) == (200, f"content {index}".encode())
    assert (server.destination / area / "données" / "résumé ü.txt").read_bytes() == b"content 0"
    assert listing(server, f"{area}/日本語") == [
        {"path": "グラフ.png", "is_dir": False, "file_size": 9}
    ]
    reply = server.request("GET", f"{API}/{quote(f'{area}/données/résumé ü.txt')}")
    assert "filename*=utf-8''r%C3%A9sum%C3%A9%20%C3%BC.txt" in reply.headers["Content-Disposition"]


def test_overwrite_replaces_the_file(server: LiveServer, area: str) -> None:
    assert put(server, f"{area}/v.txt", b"first version, longer") == 200
    assert put(server, f"{area}/v.txt", b"second") == 200
    assert server.request("GET", f"{API}/{area}/v.txt").body == b"second"
    assert sorted(os.listdir(server.destination / area)) == ["v.txt"]  # no temporary left


def test_both_prefixes_serve_the_same_files(server: LiveServer, area: str) -> None:
    assert put(server, f"{area}/via-ajax.txt", b"ajax", prefix=AJAX) == 200
    assert server.request("GET", f"{API}/{area}/via-ajax.txt").body == b"ajax"
    assert listing(server, area, prefix=AJAX) == listing(server, area)
    assert server.request("DELETE", f"{AJAX}/{area}/via-ajax.txt").status == 200
    assert listing(server, area) == []


def test_delete_a_file_then_a_folder(server: LiveServer, area: str) -> None:
    for name in ("keep.txt", "dir/a.txt", "dir/sub/b.txt"):
        assert put(server, f"{area}/{name}", b"x") == 200
    reply = server.request("DELETE", f"{API}/{area}/keep.txt")
    assert (reply.status, reply.json()) == (200, {})
    assert not (server.destination / area / "keep.txt").exists()
    reply = server.request("DELETE", f"{API}/{area}/dir")
    assert (reply.status, reply.json()) == (200, {})
    assert listing(server, area) == []
    assert server.request("GET", f"{API}/{area}/dir/a.txt").status == 404


def test_listing_a_missing_folder_is_empty(server: LiveServer) -> None:
    assert listing(server, "no/such/folder") == []


def test_missing_file_is_404_resource_does_not_exist(server: LiveServer) -> None:
    reply = server.request("GET", f"{API}/missing/file.txt")
    assert reply.status == 404
    assert reply.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_a_folder_cannot_be_downloaded_or_overwritten(server: LiveServer, area: str) -> None:
    assert put(server, f"{area}/folder/inside.txt", b"x") == 200
    reply = server.request("GET", f"{API}/{area}/folder")
    assert reply.status == 400
    assert reply.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    reply = server.request("PUT", f"{API}/{area}/folder", body=b"clobber")
    assert reply.status == 400
    assert (server.destination / area / "folder" / "inside.txt").read_bytes() == b"x"


def test_a_file_in_the_way_of_a_folder_is_400(server: LiveServer, area: str) -> None:
    assert put(server, f"{area}/plain", b"a file") == 200
    reply = server.request("PUT", f"{API}/{area}/plain/child.txt", body=b"x")
    assert reply.status == 400
    assert (server.destination / area / "plain").read_bytes() == b"a file"


def test_a_name_longer_than_the_file_system_takes_is_400(server: LiveServer, area: str) -> None:
    too_long = "n" * 256  # one byte past the 255 a name may have on Linux file systems
    reply = server.request("PUT", f"{API}/{area}/{too_long}", body=b"x")
    assert reply.status == 400
    assert reply.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "too long" in reply.json()["message"]
    assert server.request("GET", f"{API}/{area}/{too_long}").status in (400, 404)
    assert server.request("DELETE", f"{API}/{area}/{too_long}").status < 500
    assert put(server, f"{area}/{'n' * 255}", b"x") == 200


def test_the_destination_root_is_neither_a_file_nor_deletable(server: LiveServer) -> None:
    assert put(server, "root-guard/x.txt", b"x") == 200
    assert server.request("GET", f"{API}/").status == 400
    assert server.request("DELETE", f"{API}/").status == 400
    assert server.request("PUT", f"{API}/", body=b"x").status == 400
    assert (server.destination / "root-guard" / "x.txt").exists()


def test_html_is_served_as_an_inert_attachment(server: LiveServer, area: str) -> None:
    assert put(server, f"{area}/report.html", b"<script>alert(1)</script>") == 200
    reply = server.request("GET", f"{API}/{area}/report.html")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain")
    assert reply.headers["Content-Disposition"].startswith("attachment")
    assert "sandbox" in reply.headers["Content-Security-Policy"]


def test_range_requests_return_part_of_the_file(server: LiveServer, area: str) -> None:
    assert put(server, f"{area}/digits.txt", b"0123456789") == 200
    reply = server.request("GET", f"{API}/{area}/digits.txt", headers={"Range": "bytes=2-5"})
    assert (reply.status, reply.body) == (206, b"2345")


# -- artifacts/list for runs ---------------------------------------------------------------


def _create_experiment(server: LiveServer, name: str) -> str:
    reply = server.call("POST", "/experiments/create", {"name": name})
    assert reply.status == 200, reply.body
    experiment_id: str = reply.json()["experiment_id"]
    return experiment_id


def _create_run(server: LiveServer, experiment_id: str) -> tuple[str, str]:
    reply = server.call("POST", "/runs/create", {"experiment_id": experiment_id})
    assert reply.status == 200, reply.body
    info = reply.json()["run"]["info"]
    return info["run_id"], info["artifact_uri"]


def test_run_artifacts_list_is_run_relative(server: LiveServer) -> None:
    experiment_id = _create_experiment(server, "listing-experiment")
    run_id, artifact_uri = _create_run(server, experiment_id)
    assert artifact_uri == f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"
    base = f"{experiment_id}/{run_id}/artifacts"
    assert put(server, f"{base}/model/MLmodel", b"flavors: {}\n") == 200
    assert put(server, f"{base}/loss.png", b"\x89PNG") == 200

    reply = server.call("GET", "/artifacts/list", {"run_id": run_id})
    assert reply.status == 200, reply.body
    assert reply.json() == {
        "root_uri": artifact_uri,
        "files": [
            {"path": "loss.png", "is_dir": False, "file_size": 4},
            {"path": "model", "is_dir": True},
        ],
    }
    reply = server.call("GET", "/artifacts/list", {"run_id": run_id, "path": "model"})
    assert reply.json()["files"] == [{"path": "model/MLmodel", "is_dir": False, "file_size": 12}]
    ajax = server.request("GET", f"/ajax-api/2.0/mlflow/artifacts/list?run_id={run_id}")
    assert ajax.json()["files"][0]["path"] == "loss.png"


def test_run_artifacts_list_errors(server: LiveServer) -> None:
    reply = server.call("GET", "/artifacts/list", {"run_id": "0" * 32})
    assert reply.status == 404
    assert reply.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    reply = server.call("GET", "/artifacts/list", {})
    assert reply.status == 400
    experiment_id = _create_experiment(server, "listing-errors")
    run_id, _ = _create_run(server, experiment_id)
    for bad in ("../..", "/etc", "%2e%2e%2f%2e%2e", "a/../../..", "C:/"):
        reply = server.call("GET", "/artifacts/list", {"run_id": run_id, "path": bad})
        assert reply.status == 400, bad
        assert reply.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_runs_create_artifact_uri_resolves_under_the_destination(server: LiveServer) -> None:
    experiment_id = _create_experiment(server, "runs-create")
    run_id, artifact_uri = _create_run(server, experiment_id)
    assert artifact_uri == f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"
    relative = artifact_uri[len("mlflow-artifacts:/") :]
    assert put(server, f"{relative}/hello.txt", b"hi") == 200
    assert (server.destination / relative / "hello.txt").read_bytes() == b"hi"
    listed = server.call("GET", "/artifacts/list", {"run_id": run_id})
    assert listed.json()["files"] == [{"path": "hello.txt", "is_dir": False, "file_size": 2}]


# -- a large file, streamed ----------------------------------------------------------------

LARGE = 200 * MIB
CHUNK = 8 * MIB
GROWTH_LIMIT = 48 * MIB  # the server's peak RSS may grow this much for a 200 MiB round trip


@pytest.fixture(scope="module")
def large_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("large") / "big.bin"
    generator = random.Random(20261126)
    digest = hashlib.sha256()
    with open(path, "wb") as stream:
        for _ in range(LARGE // CHUNK):
            chunk = generator.randbytes(CHUNK)
            digest.update(chunk)
            stream.write(chunk)
    return path, digest.hexdigest()


def test_a_200_mib_file_streams_through_with_flat_server_memory(
    server: LiveServer, large_file: tuple[Path, str]
) -> None:
    source, expected = large_file
    # Warm the paths the transfer uses, so one-off costs (imports, buffers) are in the baseline.
    assert put(server, "large/warm.bin", b"w" * MIB) == 200
    assert server.request("GET", f"{API}/large/warm.bin").status == 200
    baseline = server.peak_rss()

    connection = server.connect(timeout=120)
    connection.blocksize = MIB
    with open(source, "rb") as body:
        connection.request(
            "PUT", f"{API}/large/big.bin", body=body, headers={"Content-Length": str(LARGE)}
        )
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, b"")
    after_upload = server.peak_rss()
    assert (server.destination / "large" / "big.bin").stat().st_size == LARGE

    connection.request("GET", f"{API}/large/big.bin")
    response = connection.getresponse()
    assert response.status == 200
    assert response.headers["Content-Length"] == str(LARGE)
    digest = hashlib.sha256()
    received = 0
    while chunk := response.read(MIB):
        digest.update(chunk)
        received += len(chunk)
    connection.close()
    after_download = server.peak_rss()

    assert received == LARGE
    assert digest.hexdigest() == expected
    assert after_upload - baseline < GROWTH_LIMIT, (baseline, after_upload)
    assert after_download - baseline < GROWTH_LIMIT, (baseline, after_download)


def test_a_client_that_disconnects_mid_upload_leaves_nothing(server: LiveServer) -> None:
    connection = server.connect()
    connection.putrequest("PUT", f"{API}/aborted/partial.bin")
    connection.putheader("Content-Length", str(10 * MIB))
    connection.endheaders()
    connection.send(b"x" * MIB)
    connection.close()  # 9 MiB short
    folder = server.destination / "aborted"
    # The server sees the disconnect on its next read and removes its temporary file.
    assert server.wait_for(lambda: not folder.exists() or not os.listdir(folder))
    assert server.request("GET", f"{API}/aborted/partial.bin").status == 404


def test_the_server_still_answers(server: LiveServer) -> None:
    assert server.alive()
    reply = server.request("GET", "/health")
    assert (reply.status, reply.body) == (200, b"OK")


# -- an S3 destination (a real moto server) ------------------------------------------------


def test_s3_destination_round_trip(s3_server: tuple[LiveServer, Any]) -> None:
    server, client = s3_server
    data = random.Random(3).randbytes(70_000)
    assert put(server, "exp/run/artifacts/model/weights.bin", data) == 200
    assert put(server, "exp/run/artifacts/résumé.txt", b"s3 text") == 200
    stored = client.get_object(Bucket="proxied", Key="store/exp/run/artifacts/model/weights.bin")
    assert stored["Body"].read() == data

    reply = server.request("GET", f"{API}/exp/run/artifacts/model/weights.bin")
    assert (reply.status, reply.body) == (200, data)
    assert reply.headers["Content-Disposition"] == 'attachment; filename="weights.bin"'
    assert listing(server, "exp/run/artifacts") == [
        {"path": "model", "is_dir": True},
        {"path": "résumé.txt", "is_dir": False, "file_size": 7},
    ]
    assert server.request("GET", f"{API}/exp/run/artifacts/model").status == 400
    assert server.request("GET", f"{API}/exp/run/artifacts/nothing.bin").status == 404
    reply = server.request("PUT", f"{API}/exp/%2e%2e/%2e%2e/escape.txt", body=b"x")
    assert reply.status == 400
    assert server.request("DELETE", f"{API}/exp/run/artifacts/model").status == 200
    assert listing(server, "exp/run/artifacts") == [
        {"path": "résumé.txt", "is_dir": False, "file_size": 7}
    ]
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="proxied").get("Contents", [])]
    assert all(key.startswith("store/") for key in keys), keys
    assert "store/exp/run/artifacts/model/weights.bin" not in keys


# -- TCP_NODELAY with several workers ------------------------------------------------------


def test_keep_alive_requests_are_fast_with_two_workers(tmp_path: Path) -> None:
    """Stock uvicorn with --workers > 1 leaves Nagle on: each request on a reused
    connection then waits ~40 ms for a delayed ACK. cairn server sets TCP_NODELAY."""
    live = start_server(tmp_path, workers=2)
    try:
        assert put(live, "small.txt", b"tiny") == 200
        connection = live.connect()
        timings = []
        for _ in range(25):
            start = time.perf_counter()
            connection.request("GET", f"{API}/small.txt")
            response = connection.getresponse()
            assert response.read() == b"tiny"
            timings.append(time.perf_counter() - start)
        connection.close()
    finally:
        live.stop()
    assert statistics.median(timings) < 0.025, timings


# -- the real MLflow client --------------------------------------------------------------


def test_the_mlflow_client_logs_lists_and_downloads_through_the_proxy(
    server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    for name in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"http://127.0.0.1:{server.port}")
    experiment_id = client.create_experiment("mlflow-client-artifacts")
    run = client.create_run(experiment_id)
    run_id = run.info.run_id
    assert run.info.artifact_uri == f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"

    source = tmp_path / "upload"
    (source / "model" / "data").mkdir(parents=True)
    (source / "model" / "MLmodel").write_text("flavors: {}\n")
    (source / "model" / "data" / "weights.bin").write_bytes(bytes(range(256)) * 100)
    client.log_artifacts(run_id, str(source))
    client.log_text(run_id, "données ✓", "notes/résumé.txt")
    client.log_dict(run_id, {"lr": 0.1}, "config.json")

    stored = server.destination / experiment_id / run_id / "artifacts"
    assert (stored / "model" / "data" / "weights.bin").read_bytes() == bytes(range(256)) * 100
    assert (stored / "notes" / "résumé.txt").read_text() == "données ✓"

    top = {(f.path, f.is_dir) for f in client.list_artifacts(run_id)}
    assert top == {("config.json", False), ("model", True), ("notes", True)}
    # A run_id with a path goes through runs:/, which in MLflow 3 also searches logged
    # models (another endpoint); the artifact URI form reaches the proxy alone.
    uri = f"http://127.0.0.1:{server.port}"
    root = run.info.artifact_uri
    inner = mlflow.artifacts.list_artifacts(artifact_uri=f"{root}/model/data", tracking_uri=uri)
    assert [(f.path, f.file_size) for f in inner] == [("data/weights.bin", 25600)]

    downloaded = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"{root}/model", dst_path=str(tmp_path / "down"), tracking_uri=uri
        )
    )
    assert (downloaded / "MLmodel").read_text() == "flavors: {}\n"
    assert (downloaded / "data" / "weights.bin").read_bytes() == bytes(range(256)) * 100
    config = mlflow.artifacts.download_artifacts(
        artifact_uri=f"{root}/config.json", dst_path=str(tmp_path / "cfg"), tracking_uri=uri
    )
    assert json.loads(Path(config).read_text()) == {"lr": 0.1}


def test_the_mlflow_client_lists_a_run_subfolder_by_run_id(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"http://127.0.0.1:{server.port}")
    run_id = client.create_run(client.create_experiment("by-run-id")).info.run_id
    client.log_text(run_id, "hi", "folder/hello.txt")
    assert [f.path for f in client.list_artifacts(run_id, "folder")] == ["folder/hello.txt"]


def test_the_mlflow_client_logs_keyed_images(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MLflow 3.17 names a keyed image `images/<key, "/" as "~">+step+<step>+timestamp+<ms>+<uuid>`
    # (older clients: "#" and "%", see test_mlflow_keyed_image_names_of_older_clients).
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    import mlflow
    import numpy as np

    client = mlflow.MlflowClient(tracking_uri=f"http://127.0.0.1:{server.port}")
    experiment_id = client.create_experiment("keyed-images")
    run_id = client.create_run(experiment_id).info.run_id
    pixels = np.full((8, 8, 3), 200, dtype=np.uint8)
    for step in (0, 1):
        client.log_image(run_id, pixels, key="val/maps", step=step)

    names = sorted(f.path for f in client.list_artifacts(run_id, "images"))
    assert len(names) == 4  # each step: the image and its compressed preview
    assert all(n.startswith("images/val~maps+step+") for n in names)
    assert {n.split("+step+")[1].split("+")[0] for n in names} == {"0", "1"}
    stored = server.destination / experiment_id / run_id / "artifacts" / "images"
    assert sorted(p.name for p in stored.iterdir()) == [n.removeprefix("images/") for n in names]
    assert all(p.stat().st_size > 0 for p in stored.iterdir())


def test_mlflow_keyed_image_names_of_older_clients(server: LiveServer, area: str) -> None:
    # Before 3.x: "#" for "/" and "%" between the parts; a real timestamp "%17…" decodes to a
    # control byte. Such names are stored; what leaves the root is still refused.
    name = "images/val#maps%step%5%timestamp%1765000000000%0a1b2c.png"
    assert put(server, f"{area}/{name}", b"png") == 200
    assert [f["path"] for f in listing(server, f"{area}/images")] == [name.split("/")[1]]
    for vector in ("images/%23/../../x.png", "images/x%00.png", "images/a#../b.png"):
        reply = server.request("PUT", f"{API}/{quote(f'{area}/{vector}')}", body=b"no")
        assert reply.status == 400, vector
        assert reply.json()["error_code"] == "INVALID_PARAMETER_VALUE"

"""Fixtures for dataset sources that live elsewhere: a real moto S3 server process and a
tiny HTTP file server (`http_files.py`), both on 127.0.0.1.

The moto fixtures are re-declared here rather than imported from tests/artifacts (conftest
modules cannot be imported reliably); they start the same `python -m moto.server`, with
dummy credentials and the user's AWS configuration masked.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# A plain module beside this file (conftest modules cannot be imported reliably).
from http_files import HttpFiles, serve_files

from local_processes import free_port

MOTO_START_SECONDS = 60.0


def _moto_answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/moto-api/")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


@pytest.fixture(scope="session")
def aws_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Dummy credentials and region for this process and its children."""
    masked = tmp_path_factory.mktemp("aws-config") / "absent"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "cairn-test-key")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "cairn-test-secret")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.setenv("AWS_CONFIG_FILE", str(masked))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(masked))
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
            patch.delenv(name, raising=False)
        no_proxy = ",".join(p for p in ("127.0.0.1", os.environ.get("NO_PROXY")) if p)
        patch.setenv("NO_PROXY", no_proxy)
        patch.setenv("no_proxy", no_proxy)
        yield


@pytest.fixture(scope="session")
def moto_endpoint(aws_environment: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a moto S3 server process, polled until it answers (a bounded loop)."""
    log_path = tmp_path_factory.mktemp("moto") / "server.log"
    for _attempt in range(3):  # another process may take the port between probe and bind
        port = free_port()
        with open(log_path, "ab") as log:
            command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + MOTO_START_SECONDS
        while time.monotonic() < deadline and not _moto_answers(port):
            try:
                process.wait(timeout=0.05)  # not a sleep: returns at once if moto died
                break
            except subprocess.TimeoutExpired:
                continue
        if _moto_answers(port):
            try:
                yield f"http://127.0.0.1:{port}"
            finally:
                _stop(process)
            return
        _stop(process)
    pytest.fail(f"moto server never answered:\n{log_path.read_text()}")


@pytest.fixture
def s3_bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, str]:
    """A fresh bucket on the moto server, with Cairn pointed at it; (boto3 client, name)."""
    import boto3
    from botocore.config import Config

    monkeypatch.setenv("CAIRN_S3_ENDPOINT_URL", moto_endpoint)
    client = boto3.session.Session().client(
        "s3", endpoint_url=moto_endpoint, config=Config(s3={"addressing_style": "path"})
    )
    bucket = f"cairn-data-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=bucket)
    return client, bucket


@pytest.fixture
def http_files(tmp_path: Path) -> Iterator[HttpFiles]:
    """An HTTP server on 127.0.0.1 serving a fresh folder, for the length of a test."""
    with serve_files(tmp_path / "served") as served:
        yield served

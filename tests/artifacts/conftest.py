"""Fixtures for the artifact repositories: a real moto S3 server, and a fresh repository per
test, local or S3, with sentinels planted around its root.

The moto server is a separate process (`python -m moto.server`) listening on 127.0.0.1; the
S3 repository reaches it over HTTP through `CAIRN_S3_ENDPOINT_URL`, exactly as it would reach
MinIO or AWS. Dummy credentials are set for the whole session, and the user's own AWS
configuration files are masked so that nothing can reach a real account.
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
from artifact_surroundings import ROOT_PREFIX, Surroundings

from cairn.artifacts.base import ArtifactRepository
from cairn.artifacts.local import LocalArtifactRepository
from cairn.artifacts.s3 import S3ArtifactRepository
from cairn.artifacts.uri import artifact_repository
from local_processes import free_port

REPOSITORY_KINDS = ["local", "s3"]
SERVER_START_SECONDS = 60.0
SERVER_STOP_SECONDS = 15.0


def _answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/moto-api/")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def _start_moto(log_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start moto on a free port; poll it over HTTP until it answers (a bounded loop)."""
    for _attempt in range(3):  # another process may grab the port between probe and bind
        port = free_port()
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            if _answers(port):
                return process, port
            try:
                # Not a sleep: returns at once if the server died (then we try another port).
                process.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                continue
            break
        _stop(process)
    raise RuntimeError(f"moto server never answered; its log:\n{log_path.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=SERVER_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=SERVER_STOP_SECONDS)


@pytest.fixture(scope="session")
def aws_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Dummy credentials and region for this process (and the children it starts)."""
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
    """The URL of a real moto S3 server process, for the whole session."""
    log_path = tmp_path_factory.mktemp("moto") / "server.log"
    process, port = _start_moto(log_path)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def s3_client(moto_endpoint: str) -> Any:
    """A plain boto3 client on the moto server, to look at (or plant) keys behind the
    repository's back."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3", endpoint_url=moto_endpoint, config=Config(s3={"addressing_style": "path"})
    )


@pytest.fixture(params=REPOSITORY_KINDS)
def repository(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> ArtifactRepository:
    """A fresh, empty repository, built from its URI through the entry points.

    local: <tmp>/world/run/artifacts (not created yet, as for a new run);
    s3: s3://<fresh bucket>/run/artifacts on the moto server.
    The working directory is <tmp>/world/cwd, so a path that leaks into a relative write
    lands where the surroundings check looks.
    """
    world = tmp_path / "world"
    (world / "cwd").mkdir(parents=True)
    monkeypatch.chdir(world / "cwd")
    if request.param == "local":
        repo = artifact_repository(str(world / ROOT_PREFIX))
        assert isinstance(repo, LocalArtifactRepository)
        return repo
    endpoint = request.getfixturevalue("moto_endpoint")
    client = request.getfixturevalue("s3_client")
    monkeypatch.setenv("CAIRN_S3_ENDPOINT_URL", endpoint)
    bucket = f"cairn-test-{uuid.uuid4().hex[:20]}"
    client.create_bucket(Bucket=bucket)
    repo = artifact_repository(f"s3://{bucket}/{ROOT_PREFIX}")
    assert isinstance(repo, S3ArtifactRepository)
    return repo


@pytest.fixture
def surroundings(
    repository: ArtifactRepository, tmp_path: Path, request: pytest.FixtureRequest
) -> Surroundings:
    client = (
        request.getfixturevalue("s3_client")
        if isinstance(repository, S3ArtifactRepository)
        else None
    )
    around = Surroundings(repository, tmp_path / "world", client)
    around.plant()
    return around

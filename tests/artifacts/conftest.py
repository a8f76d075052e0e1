"""Fixtures for the artifact repositories: a real moto S3 server, and a fresh repository per
test, local or S3, with sentinels planted around its root.

The moto server is a separate process (`python -m moto.server`) listening on 127.0.0.1; the
S3 repository reaches it over HTTP through `CAIRN_S3_ENDPOINT_URL`, exactly as it would reach
MinIO or AWS. Dummy credentials are set for the whole session, and the user's own AWS
configuration files are masked so that nothing can reach a real account.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

# A plain module beside this file (conftest modules cannot be imported reliably).
from artifact_surroundings import ROOT_PREFIX, Surroundings

from cairn.artifact_store.base import ArtifactRepository
from cairn.artifact_store.local import LocalArtifactRepository
from cairn.artifact_store.s3 import S3ArtifactRepository
from cairn.artifact_store.uri import artifact_repository

REPOSITORY_KINDS = ["local", "s3"]
SERVER_START_SECONDS = 60.0
SERVER_STOP_SECONDS = 15.0


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

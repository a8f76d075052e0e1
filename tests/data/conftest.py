"""Fixtures for dataset sources that live elsewhere: a real moto S3 server process and a
tiny HTTP file server (`http_files.py`), both on 127.0.0.1.

The moto server itself (`moto_endpoint`, with dummy credentials and the user's AWS
configuration masked) comes from tests/conftest.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# A plain module beside this file (conftest modules cannot be imported reliably).
from http_files import HttpFiles, serve_files


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

"""from_uri: S3 objects and prefixes on a real moto server, HTTP files on a local server.
Digests come from metadata; nothing is downloaded."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from http_files import HttpFiles

from cairn import data
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError


def test_an_s3_object(s3_bucket: tuple[Any, str]) -> None:
    client, bucket = s3_bucket
    client.put_object(Bucket=bucket, Key="churn/train.csv", Body=b"a,b\n1,2\n")
    uri = f"s3://{bucket}/churn/train.csv"
    dataset = data.from_uri(uri)

    assert (dataset.name, dataset.source.source_type) == ("train.csv", "s3")
    assert json.loads(dataset.to_entity().source) == {"uri": uri}
    assert dataset.profile == {"num_files": 1, "num_bytes": 8}
    assert dataset.schema is None
    assert data.from_uri(uri).digest == dataset.digest  # unchanged object, same digest

    client.put_object(Bucket=bucket, Key="churn/train.csv", Body=b"a,b\n1,3\n")
    assert data.from_uri(uri).digest != dataset.digest  # rewritten: new ETag


def test_an_s3_prefix_covers_every_object_under_it(s3_bucket: tuple[Any, str]) -> None:
    client, bucket = s3_bucket
    for key in ("days/2024-01.parquet", "days/2024-02.parquet", "days/sub/x.parquet"):
        client.put_object(Bucket=bucket, Key=key, Body=key.encode())
    client.put_object(Bucket=bucket, Key="daysafter/other", Body=b"not under the prefix")
    with_slash = data.from_uri(f"s3://{bucket}/days/", name="days")
    without_slash = data.from_uri(f"s3://{bucket}/days")

    assert with_slash.digest == without_slash.digest
    assert with_slash.profile == {"num_files": 3, "num_bytes": 58}
    client.put_object(Bucket=bucket, Key="days/2024-03.parquet", Body=b"more")
    assert data.from_uri(f"s3://{bucket}/days/").digest != with_slash.digest


def test_a_missing_s3_key_is_reported(s3_bucket: tuple[Any, str]) -> None:
    _, bucket = s3_bucket
    with pytest.raises(ResourceDoesNotExistError):
        data.from_uri(f"s3://{bucket}/nothing/here.csv")


def test_http_with_an_etag(http_files: HttpFiles) -> None:
    path = http_files.root / "etag" / "train.csv"
    path.write_bytes(b"a\n1\n")
    url = f"{http_files.url}/etag/train.csv"
    dataset = data.from_uri(url)

    assert (dataset.name, dataset.source.source_type) == ("train.csv", "http")
    assert json.loads(dataset.to_entity().source) == {"url": url}  # MLflow's HTTP source
    assert dataset.profile == {"num_bytes": 4}
    assert data.from_uri(url).digest == dataset.digest
    stat = path.stat()
    path.write_bytes(b"a\n2\n")  # same size, and the mtime put back: only the ETag differs
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert data.from_uri(url).digest != dataset.digest


def test_http_with_last_modified_only(http_files: HttpFiles) -> None:
    path = http_files.root / "plain" / "train.csv"
    path.write_bytes(b"a\n1\n")
    url = f"{http_files.url}/plain/train.csv"
    before = data.from_uri(url).digest
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert data.from_uri(url).digest != before


def test_http_without_metadata_or_file(http_files: HttpFiles) -> None:
    (http_files.root / "bare" / "x.csv").write_bytes(b"a\n")
    with pytest.raises(InvalidParameterValueError, match="ETag"):
        data.from_uri(f"{http_files.url}/bare/x.csv")
    with pytest.raises(ResourceDoesNotExistError):
        data.from_uri(f"{http_files.url}/plain/missing.csv")


def test_other_schemes_are_refused() -> None:
    with pytest.raises(InvalidParameterValueError, match="from_path"):
        data.from_uri("file:x.csv")

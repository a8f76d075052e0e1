"""Datasets that stay where they are: `cairn.data.from_uri` for S3 objects and prefixes, and
HTTP(S) files.

Nothing is downloaded. The digest hashes what the store says about the data: for S3 each
object's key, ETag, size and last-modified time (a prefix: every object under it, in key
order); for HTTP the ETag, Last-Modified and Content-Length of a HEAD request. So it
changes when the data is rewritten, even with the same bytes, and it is only as good as
what the server reports (a server that sends none of the three headers is refused).

S3 is reached like the artifact repository: `CAIRN_S3_ENDPOINT_URL` for S3-compatible
servers, boto3's usual credential chain, and the same cached client.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from cairn.data.dataset import Dataset, JsonObject
from cairn.data.digests import digest_of
from cairn.data.sources import DatasetSource
from cairn.exceptions import CairnError, InvalidParameterValueError, ResourceDoesNotExistError

HTTP_TIMEOUT_SECONDS = 30.0
_HTTP_HEADERS = ("ETag", "Last-Modified", "Content-Length")
S3Object = tuple[str, str, int, str]  # key, ETag, size, last-modified (ISO 8601)


def from_uri(uri: str, name: str | None = None) -> Dataset:
    """A dataset at `s3://bucket/key`, `s3://bucket/prefix/`, or an `http(s)://` URL,
    identified by the store's metadata rather than by downloading it.

    Args:
        uri: the object, prefix or URL.
        name: defaults to the last path segment of the URI.

    Example:
        >>> dataset = cairn.data.from_uri("s3://datasets/churn/2024-06/")
        >>> cairn.log_input(dataset, context="training")
    """
    scheme = urlsplit(uri).scheme.lower()
    profile: JsonObject | None
    if scheme == "s3":
        digest, profile = _s3_metadata(uri)
        source = DatasetSource.s3(uri)
    elif scheme in ("http", "https"):
        digest, profile = _http_metadata(uri)
        source = DatasetSource.http(uri)
    else:
        raise InvalidParameterValueError(
            f"from_uri takes s3:// and http(s):// URIs, not {uri!r} (use from_path for files)."
        )
    return Dataset(source, digest, name or _last_segment(uri), None, profile)


def _last_segment(uri: str) -> str:
    path = urlsplit(uri).path.rstrip("/")
    return path.rsplit("/", 1)[-1] or urlsplit(uri).netloc


# -- S3 ------------------------------------------------------------------------------------


def _s3_metadata(uri: str) -> tuple[str, JsonObject]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise InvalidParameterValueError(f"No bucket in {uri!r}.")
    from cairn.artifact_store.s3 import _s3_client  # the artifact repository's shared client

    client = _s3_client()
    objects = [] if not key or key.endswith("/") else _head(client, bucket, key)
    if not objects:  # a prefix (or a missing key: then the listing is empty too)
        prefix = key if not key or key.endswith("/") else key + "/"
        objects = list(_listing(client, bucket, prefix))
        if not objects:
            raise ResourceDoesNotExistError(f"No object or prefix at {uri!r}.")
        base = prefix
    else:
        base = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
    parts: list[bytes] = []
    for obj_key, etag, size, modified in objects:
        relative = obj_key[len(base) :]
        parts += [relative.encode(), etag.encode(), str(size).encode(), modified.encode()]
    profile: JsonObject = {
        "num_files": len(objects),
        "num_bytes": sum(size for _, _, size, _ in objects),
    }
    return digest_of(parts), profile


def _head(client: Any, bucket: str, key: str) -> list[S3Object]:
    from botocore.exceptions import ClientError

    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if str(error.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
            return []  # not an object: perhaps a prefix
        raise CairnError(f"Cannot read s3://{bucket}/{key}: {error}") from error
    return [(key, head["ETag"], int(head["ContentLength"]), _iso(head["LastModified"]))]


def _listing(client: Any, bucket: str, prefix: str) -> Iterator[S3Object]:
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith("/"):  # a folder marker, not data
                continue
            yield item["Key"], item["ETag"], int(item["Size"]), _iso(item["LastModified"])


def _iso(moment: datetime) -> str:
    return moment.isoformat()


# -- HTTP ----------------------------------------------------------------------------------


def _http_metadata(url: str) -> tuple[str, JsonObject | None]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            headers = {name: response.headers.get(name) for name in _HTTP_HEADERS}
    except urllib.error.HTTPError as error:
        if error.code in (404, 410):
            raise ResourceDoesNotExistError(f"{url} answered {error.code}.") from error
        raise CairnError(f"HEAD {url} answered {error.code}.") from error
    except OSError as error:
        raise CairnError(f"Cannot reach {url}: {error}") from error
    if not any(headers.values()):
        raise InvalidParameterValueError(
            f"{url} sends no ETag, Last-Modified or Content-Length, so a digest could not "
            "tell one version of it from another."
        )
    digest = digest_of(f"{name}:{headers[name] or ''}".encode() for name in _HTTP_HEADERS)
    length = headers["Content-Length"]
    profile: JsonObject | None = {"num_bytes": int(length)} if length and length.isdigit() else None
    return digest, profile

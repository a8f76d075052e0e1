"""Artifacts in S3 or any S3-compatible store (MinIO, Ceph, R2, moto...): `s3://bucket/prefix`.

The endpoint comes from `CAIRN_S3_ENDPOINT_URL` (unset: AWS itself); credentials and region
from boto3's usual chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, instance roles...). boto3 is
imported only when a repository is built, so `import cairn` stays light.

The semantics are LocalArtifactRepository's, call for call:

* Every path goes through `artifact_paths.safe_relative`, and every key is `<prefix>/<relative>`;
  no call can name a key outside the prefix.
* Names that come back from a listing are validated again: a key planted in the bucket such
  as `<prefix>/a/../../x` is refused (InvalidParameterValueError), never followed.
* A folder is a key prefix. Where the local repository would leave an empty folder (an
  empty directory logged, the last file of a folder deleted), a zero-byte "folder marker"
  object `<prefix>/<folder>/` keeps it, as the S3 console does; listings hide the markers.
* Transfers stream through boto3's transfer manager: multipart above 64 MB in 16 MB parts,
  ranged downloads straight into the file, so a file never sits in memory whole.
"""

from __future__ import annotations

import contextlib
import mimetypes
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from cairn import env
from cairn.artifact_paths import file_destination, safe_relative
from cairn.artifact_store.base import ArtifactRepository, MultipartUpload, PartUpload
from cairn.entities import FileInfo
from cairn.exceptions import CairnError, InvalidParameterValueError, ResourceDoesNotExistError
from cairn.extras import MissingExtraError, require

MULTIPART_THRESHOLD = 64 * 1024 * 1024
MULTIPART_CHUNKSIZE = 16 * 1024 * 1024
MAX_CONCURRENCY = 4
# Downloaded chunks (256 KB each) waiting for the writer thread; boto3's default of 100
# lets a fast server push a download's peak memory up by ~70 MB, 16 keeps it near 20 MB.
MAX_IO_QUEUE = 16
MAX_PARTS = 10_000  # S3's limit per multipart upload
_DELETE_BATCH = 1000  # the most keys one DeleteObjects call takes
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_MISSING = ("404", "NoSuchKey", "NotFound")
# What boto3's credential and region chain reads from the environment: a client is reused
# only while these (and the endpoint, and the process) are unchanged.
_CLIENT_ENV = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)
_clients: dict[tuple[object, ...], Any] = {}
_clients_lock = threading.Lock()


def _boto3() -> ModuleType:
    # A CairnError, so that the server and the CLI report it as they report a bad URI.
    try:
        return require("boto3", extra="s3", needed_for="S3 artifact storage")
    except MissingExtraError as missing:
        raise CairnError(str(missing)) from None


def endpoint_url() -> str | None:
    """`CAIRN_S3_ENDPOINT_URL`: an S3-compatible endpoint; unset means AWS."""
    return env.s3_endpoint_url()


def _s3_client() -> Any:
    """An S3 client for the current endpoint and AWS environment.

    Building a boto3 session costs ~50 ms (it loads the service model), and a repository is
    built per run or per request, so clients are shared; boto3 clients are thread-safe,
    sessions are not, hence the lock. A forked child builds its own.
    """
    endpoint = endpoint_url()
    key = (os.getpid(), endpoint, *(os.environ.get(name) for name in _CLIENT_ENV))
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            boto3 = _boto3()
            from botocore.config import Config

            # S3-compatible servers (MinIO, Ceph, moto) answer path-style requests; AWS
            # itself keeps boto3's default (virtual-hosted) addressing.
            config = Config(s3={"addressing_style": "path"}) if endpoint else None
            client = boto3.session.Session().client("s3", endpoint_url=endpoint, config=config)
            _clients[key] = client
        return client


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` as ("bucket", "some/prefix"); the prefix may be ""."""
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme.lower() != "s3":
        raise InvalidParameterValueError(f"Not an S3 URI: {uri!r}.")
    bucket, _, raw_prefix = rest.partition("/")
    if not _BUCKET.match(bucket):
        raise InvalidParameterValueError(f"Invalid S3 bucket name in {uri!r}.")
    prefix = raw_prefix.strip("/")
    if prefix and safe_relative(prefix) != prefix:
        raise InvalidParameterValueError(f"The S3 prefix of {uri!r} is not a normalised path.")
    return bucket, prefix


class S3ArtifactRepository(ArtifactRepository, MultipartUpload):
    def __init__(self, root_uri: str) -> None:
        super().__init__(root_uri)
        self.bucket, self.prefix = parse_s3_uri(root_uri)
        self._client: Any = _s3_client()
        from boto3.s3.transfer import TransferConfig

        self._transfer_config: Any = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD,
            multipart_chunksize=MULTIPART_CHUNKSIZE,
            max_concurrency=MAX_CONCURRENCY,
            max_io_queue=MAX_IO_QUEUE,
        )

    # Keys ------------------------------------------------------------------------------

    def _key(self, relative: str) -> str:
        """The key of a safe relative path; the prefix itself for the root."""
        if relative and safe_relative(relative) != relative:  # defence in depth
            raise InvalidParameterValueError(f"Invalid artifact path {relative!r}.")
        if not relative:
            return self.prefix
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def _folder(self, relative: str) -> str:
        """The key prefix under which a folder's contents live ("" for a bare bucket root)."""
        key = self._key(relative)
        return f"{key}/" if key else ""

    def _child(self, relative: str, name: str, key: str) -> str:
        """`relative/name` for a name read back from the bucket, refused unless it is a
        plain, normalised path (no '..', no empty segment, nothing safe_relative refuses)."""
        child = f"{relative}/{name}" if relative else name
        if not name:
            raise InvalidParameterValueError(
                f"Refusing the stored object {key!r}: it has an empty path segment."
            )
        try:
            safe = safe_relative(child)
        except InvalidParameterValueError as error:
            raise InvalidParameterValueError(
                f"Refusing the stored object {key!r}: {error.message}"
            ) from error
        if safe != child:
            raise InvalidParameterValueError(
                f"Refusing the stored object {key!r}: its name is not a normalised artifact path."
            )
        return child

    # Bucket access ---------------------------------------------------------------------

    def _pages(self, prefix: str, delimiter: str | None = None) -> Iterator[dict[str, Any]]:
        arguments = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            arguments["Delimiter"] = delimiter
        yield from self._client.get_paginator("list_objects_v2").paginate(**arguments)

    def _has_keys_under(self, prefix: str) -> bool:
        page = self._client.list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=1)
        return bool(page.get("KeyCount") or page.get("Contents"))

    def _is_file(self, relative: str) -> bool:
        """Whether an object is stored at `relative` (never true of the root: the key of
        the root is the prefix itself, which lies outside the prefix's folder)."""
        if not relative:
            return False
        from botocore.exceptions import ClientError

        try:
            self._client.head_object(Bucket=self.bucket, Key=self._key(relative))
        except ClientError as error:
            if str(error.response.get("Error", {}).get("Code")) in _MISSING:
                return False
            raise
        return True

    def _put_folder_marker(self, relative: str) -> None:
        folder = self._folder(relative)
        if folder:  # a bare bucket's root needs (and can have) no marker
            self._client.put_object(Bucket=self.bucket, Key=folder, Body=b"")

    def _delete_keys(self, keys: list[str]) -> None:
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            answer = self._client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
            errors = answer.get("Errors") or []
            if errors:
                first = errors[0]
                raise CairnError(
                    f"S3 refused to delete {len(errors)} object(s), e.g. "
                    f"{first.get('Key')!r}: {first.get('Code')} {first.get('Message')}"
                )

    def _transfer_all(
        self, uploads: list[tuple[str, str]], downloads: list[tuple[str, str]]
    ) -> None:
        """Run (local file, key) uploads and (key, local file) downloads concurrently,
        streaming; the first failure cancels the rest and is raised."""
        if not uploads and not downloads:
            return
        from boto3.s3.transfer import create_transfer_manager

        with create_transfer_manager(self._client, self._transfer_config) as manager:
            futures = [
                manager.upload(local, self.bucket, key, extra_args=_upload_arguments(local))
                for local, key in uploads
            ]
            futures += [manager.download(self.bucket, key, local) for key, local in downloads]
            for future in futures:
                future.result()

    # The repository interface ----------------------------------------------------------

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        relative = file_destination(local_file, artifact_path)
        self._transfer_all([(local_file, self._key(relative))], [])

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        if not os.path.isdir(local_dir):
            raise InvalidParameterValueError(f"No such directory to log: {local_dir!r}.")
        base = safe_relative(artifact_path)
        uploads: list[tuple[str, str]] = []
        empty_folders: list[str] = []
        # Every path is checked before the first byte is sent.
        for folder, _dirs, files in os.walk(local_dir):
            relative = os.path.relpath(folder, local_dir)
            inside = base if relative == "." else "/".join(p for p in (base, relative) if p)
            inside = safe_relative(inside)
            if not files:
                empty_folders.append(inside)
            for name in files:
                local_file = os.path.join(folder, name)
                if not os.path.isfile(local_file):
                    raise InvalidParameterValueError(f"No such file to log: {local_file!r}.")
                target = safe_relative(f"{inside}/{name}" if inside else name)
                uploads.append((local_file, self._key(target)))
        for inside in empty_folders:
            self._put_folder_marker(inside)
        self._transfer_all(uploads, [])

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        relative = safe_relative(path)
        folder = self._folder(relative)
        entries: list[FileInfo] = []
        for page in self._pages(folder, delimiter="/"):
            for common in page.get("CommonPrefixes") or []:
                key = str(common["Prefix"])
                name = key[len(folder) : -1]  # drop the folder and the trailing "/"
                entries.append(FileInfo(self._child(relative, name, key), True, None))
            for item in page.get("Contents") or []:
                key = str(item["Key"])
                if key == folder:  # the folder's own marker
                    continue
                name = key[len(folder) :]
                entries.append(FileInfo(self._child(relative, name, key), False, int(item["Size"])))
        return sorted(entries, key=lambda entry: entry.path)

    def download_artifacts(self, artifact_path: str, dst_path: str | None = None) -> str:
        relative = safe_relative(artifact_path)
        folder = self._folder(relative)
        is_folder = self._has_keys_under(folder)
        if not is_folder and not self._is_file(relative):
            raise ResourceDoesNotExistError(f"No artifact at {artifact_path!r}.")
        if is_folder:
            # List and check the whole tree before anything is written.
            folders, files = self._tree(relative)
            destination = dst_path or tempfile.mkdtemp(prefix="cairn-artifacts-")
            target = os.path.join(destination, os.path.basename(relative) or "artifacts")
            os.makedirs(target, exist_ok=True)
            for inner in folders:
                os.makedirs(os.path.join(target, *inner.split("/")), exist_ok=True)
            downloads = []
            for inner, key in files:
                local = os.path.join(target, *inner.split("/"))
                os.makedirs(os.path.dirname(local), exist_ok=True)
                downloads.append((key, local))
            self._transfer_all([], downloads)
            return target
        destination = dst_path or tempfile.mkdtemp(prefix="cairn-artifacts-")
        target = os.path.join(destination, os.path.basename(relative))
        os.makedirs(destination, exist_ok=True)
        self._transfer_all([], [(self._key(relative), target)])
        return target

    def _tree(self, relative: str) -> tuple[list[str], list[tuple[str, str]]]:
        """Everything under a folder: the sub-folders kept by markers, and (path inside the
        folder, key) for each file; every name checked."""
        folder = self._folder(relative)
        folders: list[str] = []
        files: list[tuple[str, str]] = []
        for page in self._pages(folder):
            for item in page.get("Contents") or []:
                key = str(item["Key"])
                rest = key[len(folder) :]
                if not rest:  # the folder's own marker
                    continue
                is_marker = rest.endswith("/")
                inner = rest[:-1] if is_marker else rest
                self._child(relative, inner, key)
                if is_marker:
                    folders.append(inner)
                else:
                    files.append((inner, key))
        return folders, files

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        relative = safe_relative(artifact_path)
        deleted = False
        if self._is_file(relative):
            self._delete_keys([self._key(relative)])
            deleted = True
        for page in self._pages(self._folder(relative)):
            keys = [str(item["Key"]) for item in page.get("Contents") or []]
            if keys:
                self._delete_keys(keys)
                deleted = True
        if deleted and relative:
            # The local repository keeps the parent folder: so does the marker.
            parent = relative.rpartition("/")[0]
            self._put_folder_marker(parent)

    # Multipart uploads through presigned URLs (the server's /mpu endpoints) -------------

    def _file_key(self, artifact_path: str) -> str:
        relative = safe_relative(artifact_path)
        if not relative:
            raise InvalidParameterValueError("A multipart upload needs a file path.")
        return self._key(relative)

    def create_multipart_upload(
        self, artifact_path: str, num_parts: int, expires_seconds: int
    ) -> tuple[str, list[PartUpload]]:
        key = self._file_key(artifact_path)
        if not 1 <= num_parts <= MAX_PARTS:
            raise InvalidParameterValueError(f"num_parts must be from 1 to {MAX_PARTS}.")
        started = self._client.create_multipart_upload(Bucket=self.bucket, Key=key)
        upload_id = str(started["UploadId"])
        urls = [
            PartUpload(
                number,
                self._client.generate_presigned_url(
                    "upload_part",
                    Params={
                        "Bucket": self.bucket,
                        "Key": key,
                        "UploadId": upload_id,
                        "PartNumber": number,
                    },
                    ExpiresIn=expires_seconds,
                ),
                {},
            )
            for number in range(1, num_parts + 1)
        ]
        return upload_id, urls

    def complete_multipart_upload(
        self, artifact_path: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> None:
        listed = [{"PartNumber": n, "ETag": etag} for n, etag in sorted(parts)]
        with _upload_errors(upload_id):
            self._client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self._file_key(artifact_path),
                UploadId=upload_id,
                MultipartUpload={"Parts": listed},
            )

    def abort_multipart_upload(self, artifact_path: str, upload_id: str) -> None:
        with _upload_errors(upload_id):
            self._client.abort_multipart_upload(
                Bucket=self.bucket, Key=self._file_key(artifact_path), UploadId=upload_id
            )


@contextlib.contextmanager
def _upload_errors(upload_id: str) -> Iterator[None]:
    """S3's answer about an unknown upload or bad parts, as the error a caller can act on."""
    from botocore.exceptions import ClientError

    try:
        yield
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code"))
        if code == "NoSuchUpload":
            raise ResourceDoesNotExistError(f"No multipart upload {upload_id!r}.") from None
        raise InvalidParameterValueError(f"The storage refused the upload: {code}.") from None


def _upload_arguments(local_file: str) -> dict[str, str]:
    content_type, _ = mimetypes.guess_type(os.path.basename(local_file))
    return {"ContentType": content_type} if content_type else {}

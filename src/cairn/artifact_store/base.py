"""The artifact repository interface: the files of one run under one root URI.

Every path a caller passes is relative to the root and goes through `artifact_paths.safe_relative`
first, so no implementation can be talked into reading or writing outside its root.
Implementations stream: a file never sits in memory whole.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from cairn.entities import FileInfo


class ArtifactRepository(abc.ABC):
    def __init__(self, root_uri: str) -> None:
        self.root_uri = root_uri

    @abc.abstractmethod
    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        """Copy one local file into `artifact_path` (a directory; the root when None)."""

    @abc.abstractmethod
    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        """Copy a local directory's contents, recursively, into `artifact_path`."""

    @abc.abstractmethod
    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """The direct children of `path` (the root when None), sorted by path; [] if absent."""

    @abc.abstractmethod
    def download_artifacts(self, artifact_path: str, dst_path: str | None = None) -> str:
        """Copy a file or a directory tree to `dst_path` (a new temporary directory when
        None); returns the local path of what was downloaded."""

    @abc.abstractmethod
    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        """Delete a file or a directory tree (everything when None)."""


@dataclass(frozen=True, slots=True)
class PartUpload:
    """Where a client PUTs one part of a multipart upload, straight to the storage."""

    part_number: int
    url: str
    headers: dict[str, str]


class MultipartUpload(abc.ABC):
    """Optional capability (MLflow's MultipartUploadMixin): very large files go to storage in
    parts, through presigned URLs, without passing through the server."""

    @abc.abstractmethod
    def create_multipart_upload(
        self, artifact_path: str, num_parts: int, expires_seconds: int
    ) -> tuple[str, list[PartUpload]]:
        """Start uploading the file `artifact_path`: (upload_id, one URL per part)."""

    @abc.abstractmethod
    def complete_multipart_upload(
        self, artifact_path: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> None:
        """Assemble the file from its (part_number, etag) parts."""

    @abc.abstractmethod
    def abort_multipart_upload(self, artifact_path: str, upload_id: str) -> None:
        """Drop an unfinished upload and the parts already sent."""

"""What lies around an artifact repository's root, for the tests in this folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cairn.artifact_store.base import ArtifactRepository
from cairn.artifact_store.s3 import S3ArtifactRepository

ROOT_PREFIX = "run/artifacts"  # the root inside the bucket, or inside the test's world folder


class Surroundings:
    """Everything around (and in) one repository's root, to prove a call changed nothing.

    Sentinels are planted next to the root: beside it, in its parent, in a sibling whose
    name starts with the root's name (`artifacts-sibling`), and for S3 an object whose key
    is the prefix itself. `everything()` reads back the local world folder (which also holds
    the working directory) and, for S3, every key of the bucket with its bytes.
    """

    SENTINEL = b"sentinel: must never change\n"

    def __init__(self, repository: ArtifactRepository, world: Path, client: Any) -> None:
        self.repository = repository
        self.world = world
        self.client = client

    @property
    def kind(self) -> str:
        return "s3" if isinstance(self.repository, S3ArtifactRepository) else "local"

    def plant(self) -> None:
        for relative in ("sentinel.txt", "run/sentinel.txt", "run/artifacts-sibling/x.txt"):
            path = self.world / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(self.SENTINEL)
            if isinstance(self.repository, S3ArtifactRepository):
                self.put(relative, self.SENTINEL)
        if isinstance(self.repository, S3ArtifactRepository):
            self.put(ROOT_PREFIX, self.SENTINEL)  # the key equal to the prefix is outside

    def put(self, key: str, body: bytes) -> None:
        assert isinstance(self.repository, S3ArtifactRepository)
        self.client.put_object(Bucket=self.repository.bucket, Key=key, Body=body)

    def keys(self) -> dict[str, bytes]:
        """Every key of the bucket, with a fingerprint of its bytes."""
        assert isinstance(self.repository, S3ArtifactRepository)
        found: dict[str, bytes] = {}
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.repository.bucket):
            for item in page.get("Contents") or []:
                # The MD5 ETag and the size identify the bytes without reading them back.
                found[item["Key"]] = f"{item['ETag']}:{item['Size']}".encode()
        return found

    def files(self) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for folder, dirs, names in os.walk(self.world):
            base = Path(folder).relative_to(self.world).as_posix()
            for name in dirs + names:
                path = Path(folder) / name
                relative = name if base == "." else f"{base}/{name}"
                if path.is_symlink():
                    found[relative + " -> "] = os.readlink(path).encode()
                elif path.is_dir():
                    found[relative + "/"] = b""
                else:
                    found[relative] = path.read_bytes()
        return found

    def everything(self) -> dict[str, bytes]:
        found = {f"file:{k}": v for k, v in self.files().items()}
        if isinstance(self.repository, S3ArtifactRepository):
            found.update({f"s3:{k}": v for k, v in self.keys().items()})
        return found

    def outside(self) -> dict[str, bytes]:
        """Everything but the root's own contents."""
        inside = (f"file:{ROOT_PREFIX}/", f"file:{ROOT_PREFIX} -> ", f"s3:{ROOT_PREFIX}/")
        return {k: v for k, v in self.everything().items() if not k.startswith(inside)}

"""Copying a run's (or a logged model's) files between artifact roots, one file at a time
through a scratch folder, with a SHA-256 of what was read and of what the target gives
back: the report's checksum mismatches are measured, not assumed."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass

from cairn.artifact_store.base import ArtifactRepository

BLOCK = 1 << 20


@dataclass
class CopiedFile:
    path: str
    size: int
    matches: bool


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def copy_file(source: ArtifactRepository, target: ArtifactRepository, path: str) -> CopiedFile:
    """Copy one file to the same relative path, then read it back and compare."""
    folder = path.rpartition("/")[0] or None
    with tempfile.TemporaryDirectory(prefix="cairn-import-") as scratch:
        local = source.download_artifacts(path, os.path.join(scratch, "in"))
        size = os.path.getsize(local)
        expected = sha256_of(local)
        target.log_artifact(local, folder)
        back = target.download_artifacts(path, os.path.join(scratch, "back"))
        return CopiedFile(path, size, sha256_of(back) == expected)

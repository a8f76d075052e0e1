"""Artifacts in a local folder (the embedded default: ./cairn-data/artifacts/...)."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid

from cairn.artifacts.base import ArtifactRepository
from cairn.artifacts.paths import join_inside, local_path_of, safe_relative
from cairn.entities import FileInfo
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError


class LocalArtifactRepository(ArtifactRepository):
    def __init__(self, root_uri: str) -> None:
        super().__init__(root_uri)
        # Resolved once: paths below it are checked component by component (join_inside).
        self.root = os.path.realpath(os.path.abspath(local_path_of(root_uri)))

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        if not os.path.isfile(local_file):
            raise InvalidParameterValueError(f"No such file to log: {local_file!r}.")
        folder = safe_relative(artifact_path)
        name = os.path.basename(local_file)
        destination = join_inside(self.root, safe_relative(f"{folder}/{name}" if folder else name))
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        _place(local_file, destination, link=False)

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        self._copy_in(local_dir, artifact_path, link=False)

    def link_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        """As log_artifacts, but hard-linking where it can: only for files that never change
        (Cairn's own source and environment captures, shared by many runs). A user's file is
        always copied: linking it would let a later edit of it change the artifact."""
        self._copy_in(local_dir, artifact_path, link=True)

    def _copy_in(self, local_dir: str, artifact_path: str | None, link: bool) -> None:
        if not os.path.isdir(local_dir):
            raise InvalidParameterValueError(f"No such directory to log: {local_dir!r}.")
        base = safe_relative(artifact_path)
        for relative, names in _snapshot(local_dir, skip=self.root):
            inside = base if relative == "." else "/".join(p for p in (base, relative) if p)
            folder = join_inside(self.root, safe_relative(inside))
            os.makedirs(folder, exist_ok=True)
            for name in names:
                destination = join_inside(self.root, safe_relative(f"{inside}/{name}".lstrip("/")))
                _place(os.path.join(local_dir, relative, name), destination, link)

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        relative = safe_relative(path)
        directory = join_inside(self.root, relative)
        if not os.path.isdir(directory):
            return []
        entries = []
        for name in sorted(os.listdir(directory)):
            full = os.path.join(directory, name)
            child = f"{relative}/{name}" if relative else name
            if os.path.islink(full):
                join_inside(self.root, child)  # refuse links that lead outside
            if os.path.isdir(full):
                entries.append(FileInfo(child, True, None))
            else:
                entries.append(FileInfo(child, False, os.path.getsize(full)))
        return entries

    def download_artifacts(self, artifact_path: str, dst_path: str | None = None) -> str:
        relative = safe_relative(artifact_path)
        source = join_inside(self.root, relative)
        if not os.path.exists(source):
            raise ResourceDoesNotExistError(f"No artifact at {artifact_path!r}.")
        destination = dst_path or tempfile.mkdtemp(prefix="cairn-artifacts-")
        target = os.path.join(destination, os.path.basename(relative) or "artifacts")
        if os.path.isdir(source):
            self._copy_tree(relative, target)
        else:
            os.makedirs(destination, exist_ok=True)
            shutil.copyfile(source, target)
        return target

    def _copy_tree(self, relative: str, target: str) -> None:
        os.makedirs(target, exist_ok=True)
        for entry in self.list_artifacts(relative):
            name = entry.path.rsplit("/", 1)[-1]
            if entry.is_dir:
                self._copy_tree(entry.path, os.path.join(target, name))
            else:
                shutil.copyfile(join_inside(self.root, entry.path), os.path.join(target, name))

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        relative = safe_relative(artifact_path)
        target = join_inside(self.root, relative)
        if os.path.islink(target) or os.path.isfile(target):
            os.unlink(target)
        elif os.path.isdir(target):
            shutil.rmtree(target)


def _place(source: str, destination: str, link: bool) -> None:
    """Write beside the destination, then rename over it: readers never see half a file, and
    replacing a file never writes through a symlink or into a file that other runs share."""
    temporary = f"{destination}.{uuid.uuid4().hex}.partial"
    try:
        if link:
            try:
                os.link(source, temporary)
            except OSError:  # another file system, or no hard links there
                shutil.copyfile(source, temporary)
        else:
            shutil.copyfile(source, temporary)  # streams (sendfile on Linux)
        os.replace(temporary, destination)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise


def _snapshot(local_dir: str, skip: str) -> list[tuple[str, list[str]]]:
    """(relative folder, file names) of a tree, listed before anything is copied, without
    the folder `skip` (the destination): logging "." from a project that holds ./cairn-data
    must not copy a run's artifacts into themselves, nor chase the files being written."""
    found = []
    for folder, dirs, files in os.walk(local_dir):
        dirs[:] = [d for d in dirs if os.path.realpath(os.path.join(folder, d)) != skip]
        found.append((os.path.relpath(folder, local_dir), sorted(files)))
    return found

"""Artifacts in a local folder (the embedded default: ./cairn-data/artifacts/...)."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Sequence

from cairn.artifact_paths import file_destination, join_inside, local_path_of, safe_relative
from cairn.artifact_store.base import ArtifactRepository
from cairn.entities import FileInfo
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError


class LocalArtifactRepository(ArtifactRepository):
    def __init__(self, root_uri: str) -> None:
        super().__init__(root_uri)
        # Resolved once: paths below it are checked component by component (join_inside).
        self.root = os.path.realpath(os.path.abspath(local_path_of(root_uri)))

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        relative = file_destination(local_file, artifact_path)
        destination = join_inside(self.root, relative)
        _make_folder(os.path.dirname(destination), relative.rpartition("/")[0])
        _place(local_file, destination, relative, link=False)

    def link_files(self, files: Sequence[tuple[str, str]]) -> None:
        """Store (relative path, local file) pairs by hard link where the file system allows:
        only for files that never change (Cairn's own source and environment captures,
        shared by many runs). A user's file is always copied: linking it would let a later
        edit of it change the artifact."""
        folders = sorted({relative.rpartition("/")[0] for relative, _ in files})
        for folder in folders:
            _make_folder(join_inside(self.root, safe_relative(folder)), folder)
        for relative, source in files:
            target = safe_relative(relative)
            _place(source, join_inside(self.root, target), target, link=True)

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        if not os.path.isdir(local_dir):
            raise InvalidParameterValueError(f"No such directory to log: {local_dir!r}.")
        base = safe_relative(artifact_path)
        for relative, names in _snapshot(local_dir, skip=self.root):
            inside = base if relative == "." else "/".join(p for p in (base, relative) if p)
            _make_folder(join_inside(self.root, safe_relative(inside)), inside)
            for name in names:
                target = safe_relative(f"{inside}/{name}".lstrip("/"))
                destination = join_inside(self.root, target)
                _place(os.path.join(local_dir, relative, name), destination, target, link=False)

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

    def _copy_tree(self, relative: str, target: str, seen: frozenset[str] = frozenset()) -> None:
        real = os.path.realpath(join_inside(self.root, relative))
        if real in seen:  # a symbolic link inside the root that loops back up
            raise InvalidParameterValueError(f"A symbolic link loops back at {relative!r}.")
        os.makedirs(target, exist_ok=True)
        for entry in self.list_artifacts(relative):
            name = entry.path.rsplit("/", 1)[-1]
            if entry.is_dir:
                self._copy_tree(entry.path, os.path.join(target, name), seen | {real})
            else:
                shutil.copyfile(join_inside(self.root, entry.path), os.path.join(target, name))

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        relative = safe_relative(artifact_path)
        target = join_inside(self.root, relative)
        if os.path.islink(target) or os.path.isfile(target):
            os.unlink(target)
        elif os.path.isdir(target):
            shutil.rmtree(target)


def _make_folder(folder: str, relative: str) -> None:
    try:
        os.makedirs(folder, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InvalidParameterValueError(
            f"Cannot make the artifact folder {relative!r}: a file is in the way."
        ) from None


def _place(source: str, destination: str, relative: str, link: bool) -> None:
    """Write beside the destination, then rename over it: readers never see half a file, and
    replacing a file never writes through a symlink or into a file that other runs share."""
    if os.path.isdir(destination) and not os.path.islink(destination):
        raise InvalidParameterValueError(f"A folder already exists at {relative!r}.")
    if link and not os.path.lexists(destination):
        try:
            os.link(source, destination)  # a new name: nothing to replace, nothing half-written
            return
        except OSError:
            pass  # another file system, or no hard links there: copy as below
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

"""Removing folders of artifacts (or, on a dry run, only measuring them): the files and
bytes each one frees, counted from listings taken as it goes.

Local folders are walked and unlinked file by file, so that a file hard-linked from
elsewhere (Cairn links the source and environment captures that many runs share) counts
its bytes only once the last of its links is gone: `bytes` is what the disk gets back, on
a dry run too. Other stores (S3, a server's proxy) go through their artifact repository:
sizes from its listing, then one `delete_artifacts`. A folder that is not there frees
nothing, so an interrupted collection simply runs again.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from cairn.artifact_paths import local_path_of
from cairn.artifact_store.base import ArtifactRepository
from cairn.artifact_store.uri import artifact_repository, scheme_of
from cairn.exceptions import CairnError

WORKERS = 8
"""Folders removed at once: S3 and proxies answer one request at a time per connection."""


@dataclass(frozen=True)
class Swept:
    files: int = 0
    bytes: int = 0


class _Links:
    """The hard links seen so far: inode → (links it had when first seen, links seen)."""

    def __init__(self) -> None:
        self._seen: dict[tuple[int, int], tuple[int, int]] = {}
        self._lock = threading.Lock()

    def freed(self, info: os.stat_result) -> int:
        """The bytes removing this path frees: the size, once every link was seen."""
        if info.st_nlink <= 1 or not stat.S_ISREG(info.st_mode):
            return info.st_size if stat.S_ISREG(info.st_mode) else 0
        inode = (info.st_dev, info.st_ino)
        with self._lock:
            links, seen = self._seen.get(inode, (info.st_nlink, 0))
            seen += 1
            if seen < links:
                self._seen[inode] = (links, seen)
                return 0
            self._seen.pop(inode, None)
            return info.st_size


class Sweeper:
    """Measures folders and, unless `dry_run`, removes them; one per collection, so that
    hard links shared by runs of different batches are counted once."""

    def __init__(self, dry_run: bool, workers: int = WORKERS) -> None:
        self.dry_run = dry_run
        self._links = _Links()
        # A dry run removes nothing: an experiment's folder, measured after its runs', must
        # leave out the folders measured already, as the real run finds them gone.
        self._measured: set[str] = set()
        self._measured_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cairn-gc")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self) -> Sweeper:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def sweep_all(self, uris: Sequence[str]) -> dict[str, Swept | Exception]:
        """Each folder's result, or the error that stopped it (the others go on)."""
        futures = {uri: self._pool.submit(self.sweep, uri) for uri in dict.fromkeys(uris)}
        results: dict[str, Swept | Exception] = {}
        for uri, future in futures.items():
            try:
                results[uri] = future.result()
            except Exception as error:  # one folder's failure keeps only its owner back
                results[uri] = error
        return results

    def sweep(self, uri: str) -> Swept:
        if scheme_of(uri) == "file":
            path = os.path.abspath(local_path_of(uri))
            swept = self._sweep_local(path)
            self._remember(path)
            return swept
        swept = self._sweep_repository(uri.rstrip("/"), artifact_repository(uri))
        self._remember(uri.rstrip("/"))
        return swept

    def _remember(self, where: str) -> None:
        if self.dry_run:
            with self._measured_lock:
                self._measured.add(where)

    def _seen(self, where: str) -> bool:
        with self._measured_lock:
            return where in self._measured

    def _sweep_local(self, path: str) -> Swept:
        if len([p for p in path.split(os.sep) if p]) < 2 or path == os.path.expanduser("~"):
            raise CairnError(f"Refusing to remove {path!r}: it is not an artifact folder.")
        try:
            top = os.lstat(path)
        except FileNotFoundError:
            return Swept()
        if not stat.S_ISDIR(top.st_mode):
            return self._remove_file(path, top)
        files = size = 0
        # Top-down, so that folders measured already are left out; removed bottom-up after.
        walked = []
        for folder, dirs, names in os.walk(path):
            links = [d for d in dirs if os.path.islink(os.path.join(folder, d))]
            dirs[:] = [
                d for d in dirs if d not in links and not self._seen(os.path.join(folder, d))
            ]
            for name in names + links:
                full = os.path.join(folder, name)
                swept = self._remove_file(full, os.lstat(full))
                files, size = files + swept.files, size + swept.bytes
            walked.append(folder)
        if not self.dry_run:
            for folder in reversed(walked):
                os.rmdir(folder)
        return Swept(files, size)

    def _remove_file(self, path: str, info: os.stat_result) -> Swept:
        freed = self._links.freed(info)
        if not self.dry_run:
            os.unlink(path)
        return Swept(1, freed)

    def _sweep_repository(self, uri: str, repository: ArtifactRepository) -> Swept:
        files = size = 0
        pending: list[str | None] = [None]
        while pending:
            for entry in repository.list_artifacts(pending.pop()):
                if entry.is_dir:
                    if not self._seen(f"{uri}/{entry.path}"):
                        pending.append(entry.path)
                else:
                    files, size = files + 1, size + (entry.file_size or 0)
        if not self.dry_run:
            repository.delete_artifacts()
        return Swept(files, size)

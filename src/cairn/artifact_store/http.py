"""Artifacts behind a tracking server's proxy (`/api/2.0/mlflow-artifacts/artifacts/...`).

Roots come in two spellings (reference mlflow-compat.md §1.4):

* `mlflow-artifacts:/<path>` — what a Cairn or MLflow server gives its experiments; it is
  resolved against the current tracking URI, which must then be http(s)://. The host form
  `mlflow-artifacts://host:port/<path>` names the server itself (with the tracking URI's
  scheme).
* `http(s)://host[:port][/prefix]/api/2.0/mlflow-artifacts/artifacts/<path>`.

The semantics are LocalArtifactRepository's, with the proxy's limits: every path goes
through `artifact_paths.safe_relative` before a request is made, and every name a listing returns is
validated again (a hostile server cannot make the client write outside its destination),
and a folder download lists within bounds (`_ListingBounds`: no path twice, a depth and a
count), so a listing that nests a folder in itself cannot make it run forever.
Uploads and downloads stream in chunks: a file never sits in memory whole. The proxy has no
way to create an empty folder, so logging one stores nothing (as with MLflow).
"""

from __future__ import annotations

import mimetypes
import os
import posixpath
import tempfile
import uuid
from typing import IO, NoReturn
from urllib.parse import unquote, urlsplit

from urllib3 import BaseHTTPResponse
from urllib3.exceptions import HTTPError

from cairn import env
from cairn.artifact_paths import file_destination, safe_relative
from cairn.artifact_store.base import ArtifactRepository
from cairn.entities import FileInfo
from cairn.exceptions import (
    CairnError,
    InvalidParameterValueError,
    ResourceDoesNotExistError,
)
from cairn.store.rest.http import (
    HttpSession,
    ServerUnavailableError,
    quote_path,
    shared_session,
)

PROXY_PATH = "/api/2.0/mlflow-artifacts/artifacts"
SCHEME = "mlflow-artifacts"
CHUNK = 1024 * 1024


def resolve(root_uri: str, tracking_uri: str | None = None) -> tuple[str, str]:
    """(server base URL, root path inside the proxy) of an artifact root URI;
    `mlflow-artifacts:` roots lie on `tracking_uri` (default: CAIRN_TRACKING_URI; the
    tracking layer passes the one `cairn.set_tracking_uri` chose)."""
    parts = urlsplit(root_uri)
    scheme = parts.scheme.lower()
    if scheme == SCHEME:
        tracking = tracking_uri or env.tracking_uri() or ""
        tracking_parts = urlsplit(tracking)
        if tracking_parts.scheme.lower() not in ("http", "https"):
            raise InvalidParameterValueError(
                f"The artifact root {root_uri!r} lives on a tracking server, but the tracking "
                f"URI is {tracking!r}: set an http(s):// tracking URI "
                "(cairn.set_tracking_uri or CAIRN_TRACKING_URI)."
            )
        server = tracking.rstrip("/")
        if parts.netloc:
            server = f"{tracking_parts.scheme.lower()}://{parts.netloc}"
        return server, _root_path(root_uri, unquote(parts.path))
    if scheme in ("http", "https"):
        server, marker, rest = root_uri.partition(PROXY_PATH)
        if not marker or rest[:1] not in ("", "/") or "?" in rest or "#" in rest:
            raise InvalidParameterValueError(
                f"{root_uri!r} is not an artifact proxy URL (…{PROXY_PATH}/<path>)."
            )
        return server.rstrip("/"), _root_path(root_uri, unquote(rest))
    raise InvalidParameterValueError(f"Not an HTTP artifact root: {root_uri!r}.")


def proxy_url(root_uri: str, tracking_uri: str) -> str:
    """An `mlflow-artifacts:` root as the proxy URL on the server at `tracking_uri`: a
    Client talking to a server other than the process's tracking URI keeps its own."""
    server, root = resolve(root_uri, tracking_uri)
    return f"{server}{PROXY_PATH}/{quote_path(root)}" if root else f"{server}{PROXY_PATH}"


def _root_path(root_uri: str, path: str) -> str:
    path = path[1:] if path.startswith("/") else path
    root = safe_relative(path)
    if root != path.rstrip("/"):
        raise InvalidParameterValueError(f"The artifact root {root_uri!r} is not a plain path.")
    return root


class HttpArtifactRepository(ArtifactRepository):
    def __init__(self, root_uri: str, session: HttpSession | None = None) -> None:
        super().__init__(root_uri)
        server, self.root = resolve(root_uri)
        self._http = session if session is not None else shared_session(server)

    # -- paths -----------------------------------------------------------------------------

    def _full(self, relative: str) -> str:
        """The proxy path of a safe relative path (the root itself for "")."""
        return "/".join(p for p in (self.root, relative) if p)

    def _url(self, relative: str) -> str:
        full = self._full(relative)
        return self._http.url(f"{PROXY_PATH}/{quote_path(full)}" if full else PROXY_PATH)

    def _child(self, relative: str, name: object) -> str:
        """`relative/name` for a name the server listed: one plain path segment, or refused."""
        if not isinstance(name, str) or not name or "/" in name:
            raise InvalidParameterValueError(
                f"Refusing the server's listing of {relative or '/'!r}: bad name {name!r}."
            )
        child = f"{relative}/{name}" if relative else name
        try:
            safe = safe_relative(child)
        except InvalidParameterValueError as error:
            raise InvalidParameterValueError(
                f"Refusing the server's listing of {relative or '/'!r}: {error.message}"
            ) from error
        if safe != child:
            raise InvalidParameterValueError(
                f"Refusing the server's listing of {relative or '/'!r}: bad name {name!r}."
            )
        return child

    # -- the repository interface ------------------------------------------------------------

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        self._upload(local_file, file_destination(local_file, artifact_path))

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        if not os.path.isdir(local_dir):
            raise InvalidParameterValueError(f"No such directory to log: {local_dir!r}.")
        base = safe_relative(artifact_path)
        uploads: list[tuple[str, str]] = []
        # Every path is checked before the first byte is sent.
        for folder, _dirs, files in os.walk(local_dir):
            relative = os.path.relpath(folder, local_dir)
            inside = base if relative == "." else "/".join(p for p in (base, relative) if p)
            inside = safe_relative(inside.replace(os.sep, "/"))
            for name in sorted(files):
                local_file = os.path.join(folder, name)
                if not os.path.isfile(local_file):
                    raise InvalidParameterValueError(f"No such file to log: {local_file!r}.")
                uploads.append((local_file, safe_relative(f"{inside}/{name}" if inside else name)))
        for local_file, target in uploads:
            self._upload(local_file, target)

    def _upload(self, local_file: str, relative: str) -> None:
        size = os.path.getsize(local_file)
        content_type = mimetypes.guess_type(local_file)[0] or "application/octet-stream"

        def body() -> IO[bytes]:
            return open(local_file, "rb")  # opened anew for each attempt

        response = self._http.send(
            "PUT",
            self._url(relative),
            body=body,
            headers={"Content-Type": content_type, "Content-Length": str(size)},
            idempotent=True,  # a PUT replaces: sending it twice stores it once
        )
        response.release_conn()

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        relative = safe_relative(path)
        answer = self._http.call("GET", PROXY_PATH, {"path": self._full(relative)})
        entries = []
        for item in answer.get("files") or ():
            if not isinstance(item, dict):
                raise InvalidParameterValueError("Refusing the server's listing: not an object.")
            child = self._child(relative, item.get("path"))
            is_dir = bool(item.get("is_dir", False))
            size = item.get("file_size")
            entries.append(FileInfo(child, is_dir, None if is_dir or size is None else int(size)))
        return sorted(entries, key=lambda entry: entry.path)

    def _entry(self, relative: str) -> FileInfo | None:
        """What is at `relative` (the root included), from its parent's listing; None if
        nothing is."""
        full = self._full(relative)
        if not full:
            return FileInfo("", True, None)  # the proxy's own root always exists
        parent, _, name = full.rpartition("/")
        answer = self._http.call("GET", PROXY_PATH, {"path": parent})
        for item in answer.get("files") or ():
            if isinstance(item, dict) and item.get("path") == name:
                return FileInfo(relative, bool(item.get("is_dir", False)), None)
        return None

    def download_artifacts(self, artifact_path: str, dst_path: str | None = None) -> str:
        relative = safe_relative(artifact_path)
        if relative:
            # Most downloads are one file: ask for it first; a folder or a missing path
            # answers with an error, and a listing says which.
            fetched = self._fetch_file(relative, dst_path)
            if fetched is not None:
                return fetched
        children = self.list_artifacts(relative)
        if not children:
            entry = self._entry(relative)
            if entry is None or not entry.is_dir:
                raise ResourceDoesNotExistError(f"No artifact at {artifact_path!r}.")
        # List and check the whole tree before anything is written.
        folders, files = self._tree(relative, children)
        destination = dst_path or tempfile.mkdtemp(prefix="cairn-artifacts-")
        target = os.path.join(destination, posixpath.basename(relative) or "artifacts")
        os.makedirs(target, exist_ok=True)
        cut = len(relative) + 1 if relative else 0
        for folder in folders:
            os.makedirs(os.path.join(target, *folder[cut:].split("/")), exist_ok=True)
        for file in files:
            local = os.path.join(target, *file[cut:].split("/"))
            self._stream_to(file, local)
        return target

    def _tree(self, relative: str, children: list[FileInfo]) -> tuple[list[str], list[str]]:
        """Every folder and file under `relative`, listed (and each name checked) first,
        within `_ListingBounds`: a hostile or broken server cannot make it run forever."""
        bounds = _ListingBounds(relative)
        folders: list[str] = []
        files: list[str] = []
        pending = list(children)
        while pending:
            entry = pending.pop()
            bounds.admit(entry.path)
            if entry.is_dir:
                folders.append(entry.path)
                pending.extend(self.list_artifacts(entry.path))
            else:
                files.append(entry.path)
        return sorted(folders), sorted(files)

    def _fetch_file(self, relative: str, dst_path: str | None) -> str | None:
        """Download `relative` if it is a file; None if the server says it is not one."""
        try:
            response = self._http.send("GET", self._url(relative), idempotent=True, stream=True)
        except ResourceDoesNotExistError:
            return None
        except CairnError as error:
            if error.error_code not in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST"):
                raise
            # A folder: MLflow's proxy answers 400. Only a listing can tell it from a
            # refusal, so a 400 on what is not a folder is raised as it came.
            entry = self._entry(relative)
            if entry is None or not entry.is_dir:
                raise
            return None
        destination = dst_path or tempfile.mkdtemp(prefix="cairn-artifacts-")
        os.makedirs(destination, exist_ok=True)
        target = os.path.join(destination, posixpath.basename(relative))
        self._write(response, target, relative)
        return target

    def _stream_to(self, relative: str, local: str) -> None:
        response = self._http.send("GET", self._url(relative), idempotent=True, stream=True)
        self._write(response, local, relative)

    @staticmethod
    def _write(response: BaseHTTPResponse, target: str, relative: str) -> None:
        """Stream a response into `target` through a temporary file beside it: a reader
        never sees half a file, and a failed transfer leaves the old file in place."""
        temporary = f"{target}.{uuid.uuid4().hex}.partial"
        written = 0
        try:
            with open(temporary, "wb") as out:
                try:
                    for chunk in response.stream(CHUNK):
                        out.write(chunk)
                        written += len(chunk)
                except HTTPError as error:
                    raise ServerUnavailableError(
                        f"The download of {relative!r} broke off after {written} bytes: {error}"
                    ) from error
            expected = response.headers.get("Content-Length")
            if expected is not None and expected.isdigit() and int(expected) != written:
                raise CairnError(
                    f"The download of {relative!r} stopped after {written} of {expected} bytes."
                )
            os.replace(temporary, target)
        except BaseException:
            if os.path.lexists(temporary):
                os.unlink(temporary)
            raise
        finally:
            response.release_conn()

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        relative = safe_relative(artifact_path)
        try:
            self._http.call("DELETE", PROXY_PATH + "/" + quote_path(self._full(relative)))
        except ResourceDoesNotExistError:
            pass  # nothing there: deleting it changes nothing, as in the other repositories


class _ListingBounds:
    """What one folder download may list from the server. A listing names one path
    segment per entry (`_child`), so a folder cannot be listed under a path seen before
    unless the server repeats an entry: a path listed twice is refused as a loop. A server
    that nests a folder in itself without end (`a/a/a/…`) is stopped by the depth bound,
    and one that lists without end in breadth by the count (settings in `cairn.env`)."""

    def __init__(self, relative: str) -> None:
        self._relative = relative
        self._base_depth = relative.count("/") + 1 if relative else 0
        self._max_depth = env.artifact_download_max_depth()
        self._max_entries = env.artifact_download_max_files()
        self._seen: set[str] = set()

    def admit(self, path: str) -> None:
        """Record one listed path; raise if it breaks a bound."""
        if path in self._seen:
            self._refuse(f"{path!r} is listed twice, so the listing loops")
        self._seen.add(path)
        if len(self._seen) > self._max_entries:
            self._refuse(
                f"it lists more than {self._max_entries} files and folders "
                "(CAIRN_ARTIFACT_DOWNLOAD_MAX_FILES)"
            )
        depth = path.count("/") + 1 - self._base_depth
        if depth > self._max_depth:
            self._refuse(
                f"{path[:200]!r} lies {depth} folders deep, past "
                f"CAIRN_ARTIFACT_DOWNLOAD_MAX_DEPTH={self._max_depth} (a folder listed "
                "inside itself?)"
            )

    def _refuse(self, why: str) -> NoReturn:
        raise InvalidParameterValueError(
            f"Refusing the server's listing of {self._relative or '/'!r}: {why}."
        )

"""The artifact proxy (MLflow's `MlflowArtifactsService`) and the tracking `artifacts/list`.

Served at `/api/2.0/mlflow-artifacts/artifacts` and `/ajax-api/2.0/mlflow-artifacts/artifacts`:

    PUT    …/artifacts/<path>        the raw body, streamed into place     200, empty body
    GET    …/artifacts/<path>        the file, streamed, as an attachment  404 if missing
    GET    …/artifacts?path=<dir>    {"files": [{path (a basename), is_dir, file_size?}]}
    DELETE …/artifacts/<path>        {}

Every path is read from the raw request target (`scope["raw_path"]`, before anything
decoded or normalised it), decoded once as MLflow's client encoded it, and must then pass
`artifact_paths.safe_relative` (which looks through up to ten more decodings): the traversal vectors
of MLflow's CVEs answer 400 INVALID_PARAMETER_VALUE and touch nothing. Local files are
reached through `artifact_paths.join_inside`, so a symbolic link inside the destination that leads
outside is refused as well.

Uploads never sit in memory: the body goes to a temporary file beside the target, 1 MiB
at a time, and is renamed over it when complete (readers never see half a file); for a
remote destination (S3) the temporary file is then handed to the repository, which streams
it on. A body larger than `Context.max_artifact_upload_bytes` is cut off with 413.
"""

from __future__ import annotations

import mimetypes
import os
import posixpath
import re
import shutil
import tempfile
import uuid
from dataclasses import replace
from typing import IO, Any
from urllib.parse import unquote, unquote_to_bytes

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from cairn import wire
from cairn.artifact_paths import join_inside, safe_relative
from cairn.artifact_store.base import ArtifactRepository
from cairn.artifact_store.local import LocalArtifactRepository
from cairn.artifact_store.uri import artifact_repository
from cairn.entities import FileInfo
from cairn.exceptions import CairnError, InvalidParameterValueError, ResourceDoesNotExistError
from cairn.server import errors, proxy_usage, security
from cairn.server.access import READ, Access, Source
from cairn.server.context import Context
from cairn.server.messages import Message
from cairn.server.responses import json_response
from cairn.server.routes import Endpoint
from cairn.wire.scalars import ascii_digits

PROXY_PREFIXES = (
    "/api/2.0/mlflow-artifacts/artifacts",
    "/ajax-api/2.0/mlflow-artifacts/artifacts",
)
WRITE_CHUNK_BYTES = 1024 * 1024
"""Received body bytes gathered before one write to disk (off the event loop)."""
_TEMPORARY_PREFIX = ".cairn-upload-"
# Types a browser would render or run if it ever ignored `attachment`: served as text.
_ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/javascript",
        "application/javascript",
        "text/xml",
        "application/xml",
    }
)
_DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


class UploadTooLargeError(CairnError):
    error_code = "BAD_REQUEST"
    http_status = 413


# -- the proxy ----------------------------------------------------------------------------


class ArtifactProxy:
    """The four proxy calls over the repository of `context.artifacts_destination`."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.repository: ArtifactRepository = artifact_repository(context.artifacts_destination)
        self.local_root: str | None = (
            self.repository.root if isinstance(self.repository, LocalArtifactRepository) else None
        )

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = []
        for prefix in PROXY_PREFIXES:
            routes.append(Route(prefix, self.list, methods=["GET"]))
            routes.append(
                _AnyPathRoute(prefix + "/{path:path}", self.file, methods=["GET", "PUT", "DELETE"])
            )
        return routes

    async def list(self, request: Request) -> Response:
        values = request.query_params.getlist("path")
        if len(values) > 1:
            raise InvalidParameterValueError("Give the parameter 'path' at most once.")
        relative = experiment_folder(safe_relative(values[0] if values else None))
        found = await run_in_threadpool(self.repository.list_artifacts, relative)
        return json_response({"files": [_listed(entry) for entry in found if _shown(entry)]})

    async def file(self, request: Request) -> Response:
        relative = raw_artifact_path(request)
        if request.method == "PUT":
            return await self.upload(request, relative)
        if request.method == "DELETE":
            if not relative:
                raise InvalidParameterValueError("Refusing to delete the whole artifact store.")
            tracking = self.context.tracking
            removed = await run_in_threadpool(
                proxy_usage.removal, tracking, self.repository, relative
            )
            await run_in_threadpool(self.repository.delete_artifacts, relative)
            await run_in_threadpool(proxy_usage.record_delete, tracking, removed)
            return json_response({})
        return await self.download(relative)

    # Uploads ------------------------------------------------------------------------------

    async def upload(self, request: Request, relative: str) -> Response:
        if not relative:
            raise InvalidParameterValueError("An artifact upload needs a file path.")
        limit = self.context.max_artifact_upload_bytes
        declared = request.headers.get("content-length", "")
        try:
            if limit is not None and ascii_digits(declared) and int(declared) > limit:
                raise UploadTooLargeError(_too_large(limit))
            if self.local_root is not None:
                await self._upload_local(request, self.local_root, relative, limit)
            else:
                await self._upload_remote(request, relative, limit)
        except UploadTooLargeError as error:
            # The rest of the body is not wanted: closing the connection is the only way
            # to stop a client sending it (uvicorn would otherwise read and discard it).
            response = errors.error_response(error)
            response.headers["Connection"] = "close"
            return response
        except ClientDisconnect:
            return Response(status_code=400)  # nobody left to read it; the upload is gone
        return Response(status_code=200)

    async def _upload_local(
        self, request: Request, root: str, relative: str, limit: int | None
    ) -> None:
        target = await run_in_threadpool(_prepare_local_target, root, relative)
        temporary = os.path.join(os.path.dirname(target), _TEMPORARY_PREFIX + uuid.uuid4().hex)
        try:
            stream = await run_in_threadpool(open, temporary, "xb")
            try:
                size = await _receive_into(request, stream, limit)
            finally:
                await run_in_threadpool(stream.close)
            replaced = await run_in_threadpool(_file_size, target)
            await run_in_threadpool(_replace, temporary, target, relative)
        except BaseException:
            _remove_quietly(temporary)  # not awaited: this also runs when cancelled
            raise
        tracking = self.context.tracking
        await run_in_threadpool(proxy_usage.record_upload, tracking, relative, size, replaced)

    async def _upload_remote(self, request: Request, relative: str, limit: int | None) -> None:
        folder, _, name = relative.rpartition("/")
        scratch = await run_in_threadpool(tempfile.mkdtemp, None, "cairn-upload-")
        try:
            local = os.path.join(scratch, name)  # log_artifact names the file after it
            stream = await run_in_threadpool(open, local, "xb")
            try:
                size = await _receive_into(request, stream, limit)
            finally:
                await run_in_threadpool(stream.close)
            await run_in_threadpool(self.repository.log_artifact, local, folder or None)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)  # not awaited: this also runs when cancelled
        tracking = self.context.tracking
        await run_in_threadpool(proxy_usage.record_upload, tracking, relative, size, None)

    # Downloads ----------------------------------------------------------------------------

    async def download(self, relative: str) -> Response:
        return await download_response(self.repository, relative)


async def download_response(repository: ArtifactRepository, relative: str) -> Response:
    """The file at `relative` in `repository`, as an attachment: streamed from disk, or from
    a scratch copy of a remote file that is removed once it has been sent."""
    if not relative:
        raise InvalidParameterValueError("The artifact root is a directory, not a file.")
    name = posixpath.basename(relative)
    if isinstance(repository, LocalArtifactRepository):
        path = await run_in_threadpool(_existing_local_file, repository.root, relative)
        return _file_response(path, name)
    entry = await run_in_threadpool(_remote_entry, repository, relative)
    if entry.is_dir:
        raise InvalidParameterValueError(f"{relative!r} is a directory, not a file.")
    scratch = await run_in_threadpool(tempfile.mkdtemp, None, "cairn-download-")
    try:
        local = await run_in_threadpool(repository.download_artifacts, relative, scratch)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return _file_response(local, name, BackgroundTask(shutil.rmtree, scratch, True))


def _remote_entry(repository: ArtifactRepository, relative: str) -> FileInfo:
    folder = relative.rpartition("/")[0]
    for entry in repository.list_artifacts(folder or None):
        if entry.path == relative:
            return entry
    raise ResourceDoesNotExistError(f"No artifact at {relative!r}.")


class _AnyPathRoute(Route):
    """A Route whose `{path:path}` matches any path, newlines included (Starlette's `.*`
    stops at one): such a path gets MLflow's 400 JSON from the checks, not a bare 404."""

    def __init__(self, path: str, endpoint: Any, methods: list[str]) -> None:
        super().__init__(path, endpoint, methods=methods)
        self.path_regex = re.compile(self.path_regex.pattern, re.DOTALL)


def raw_artifact_path(request: Request) -> str:
    """The artifact path of a `…/artifacts/<path>` request, taken from the raw request
    target and checked; a query string that smuggles traversal (`x?/../../y`) is refused."""
    scope = request.scope
    raw: bytes | None = scope.get("raw_path")
    if raw is None:  # servers need not give raw_path; the decoded path is the fallback
        text = str(next(iter(request.path_params.values()), ""))
    else:
        root = str(scope.get("root_path", "")).encode()
        if root and raw.startswith(root):
            raw = raw[len(root) :]
        from cairn.server.multipart_api import MULTIPART_PREFIXES

        for prefix in PROXY_PREFIXES + MULTIPART_PREFIXES:
            head = prefix.encode() + b"/"
            if raw.startswith(head):
                rest = raw[len(head) :]
                break
        else:
            raise InvalidParameterValueError(f"Invalid artifact path {raw!r}.")
        try:
            text = unquote_to_bytes(rest).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidParameterValueError(
                f"Invalid artifact path {rest!r}: it is not UTF-8."
            ) from None
    query: bytes = scope.get("query_string", b"")
    if query:
        safe_relative(unquote(query.decode("latin-1")))
    return experiment_folder(safe_relative(text))


def experiment_folder(relative: str) -> str:
    """`relative`, unless its first folder spells a number in other digits than 0-9 ("٢",
    "¹"): `int` reads some of those as an experiment's id, so such a folder would pass for
    one it is not. Experiment folders are ASCII digits (cairn.wire.scalars.ascii_digits)."""
    first = relative.split("/", 1)[0]
    if first.isnumeric() and not ascii_digits(first):
        raise InvalidParameterValueError(
            f"Invalid artifact path {relative!r}: an experiment's folder is named by the "
            "ASCII digits 0-9."
        )
    return relative


async def _receive_into(request: Request, stream: IO[bytes], limit: int | None) -> int:
    """Write the body to `stream`; returns its size."""
    buffer = bytearray()
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if limit is not None and received > limit:
            raise UploadTooLargeError(_too_large(limit))
        buffer += chunk
        if len(buffer) >= WRITE_CHUNK_BYTES:
            await run_in_threadpool(stream.write, buffer)
            buffer.clear()
    if buffer:
        await run_in_threadpool(stream.write, buffer)
    return received


def _too_large(limit: int) -> str:
    return f"The artifact is larger than this server's upload limit of {limit} bytes."


def _prepare_local_target(root: str, relative: str) -> str:
    target = join_inside(root, relative)
    folder = os.path.dirname(target)
    try:
        os.makedirs(folder, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InvalidParameterValueError(
            f"Cannot store {relative!r}: a file is in the way of its folder."
        ) from None
    join_inside(root, relative)  # again: the folders exist now, links among them are checked
    if os.path.isdir(target) and not os.path.islink(target):
        raise InvalidParameterValueError(f"A folder already exists at {relative!r}.")
    return target


def _replace(temporary: str, target: str, relative: str) -> None:
    if os.path.isdir(target) and not os.path.islink(target):  # made while we received
        raise InvalidParameterValueError(f"A folder already exists at {relative!r}.")
    os.replace(temporary, target)  # replaces a link itself, never writes through it


def _file_size(path: str) -> int | None:
    """The size of the file an upload is about to replace (None: none there)."""
    return os.path.getsize(path) if os.path.isfile(path) else None


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _existing_local_file(root: str, relative: str) -> str:
    path = join_inside(root, relative)
    if os.path.isdir(path):
        raise InvalidParameterValueError(f"{relative!r} is a directory, not a file.")
    if not os.path.isfile(path):
        raise ResourceDoesNotExistError(f"No artifact at {relative!r}.")
    return path


def _file_response(path: str, name: str, background: BackgroundTask | None = None) -> Response:
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if media_type in _ACTIVE_TYPES:
        media_type = "text/plain"
    return FileResponse(
        path,
        media_type=media_type,
        filename=name,
        content_disposition_type="attachment",
        headers=_DOWNLOAD_HEADERS,
        background=background,
    )


def _shown(entry: FileInfo) -> bool:
    """Uploads still being received are not artifacts yet."""
    return not posixpath.basename(entry.path).startswith(_TEMPORARY_PREFIX)


def _listed(entry: FileInfo) -> dict[str, Any]:
    """A proxy listing names entries by basename (MLflow's client joins them itself)."""
    return wire.file_info(replace(entry, path=posixpath.basename(entry.path)))


# -- GET /api/2.0/mlflow/artifacts/list ---------------------------------------------------


def list_run_artifacts(ctx: Context, msg: Message) -> dict[str, Any]:
    """The files of a run's artifact folder; paths relative to the run's artifact root."""
    run = ctx.tracking.get_run(msg.run_id())
    return list_under(ctx, run.info.artifact_uri, msg.string("path"))


async def get_run_artifact(ctx: Context, request: Request) -> Response:
    """`GET …/cairn/artifacts/get?run_id=…&path=…`: one file of a run's artifacts, wherever
    the run keeps them (the proxy's destination, a local folder the run was logged to without
    a server, S3), for the UI's previews and downloads. The run's location must lie inside
    the server's allowed roots, and `path` inside the run's folder."""
    msg = await Message.read(request)
    run = await run_in_threadpool(ctx.tracking.get_run, msg.run_id())
    relative = safe_relative(msg.string("path", required=True))
    location = security.artifact_repository_uri(run.info.artifact_uri, ctx)
    return await download_response(artifact_repository(location), relative)


def list_under(ctx: Context, root_uri: str, path: str | None) -> dict[str, Any]:
    """`{root_uri, files}` for the folder `path` under an artifact root (a run's, a model's)."""
    relative = safe_relative(path)
    repository = artifact_repository(security.artifact_repository_uri(root_uri, ctx))
    files = [wire.file_info(e) for e in repository.list_artifacts(relative) if _shown(e)]
    return {"root_uri": root_uri, "files": files}


TRACKING_ENDPOINTS = [
    Endpoint("GET", "/artifacts/list", list_run_artifacts, access=Access(READ, Source.RUN))
]

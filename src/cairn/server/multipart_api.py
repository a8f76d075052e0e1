"""Multipart uploads through presigned URLs (MLflow's `/mlflow-artifacts/mpu/...`).

    POST …/mpu/create/<dir>    {path, num_parts}          {upload_id, credentials[]}
    POST …/mpu/complete/<dir>  {path, upload_id, parts[]} {}
    POST …/mpu/abort/<dir>     {path, upload_id}          {}

(a credential is `{url, part_number, headers}`, a part `{part_number, etag, url}`).

The client PUTs each part straight to the storage, so the server never carries the bytes.
Only a destination that can presign (S3) offers this, and `server-info` says so; any other
answers 501 with the message MLflow's client takes as "fall back to a plain PUT". `path` is
the client's local file name: only its last segment is used.
"""

from __future__ import annotations

import posixpath
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cairn.artifact_paths import safe_relative
from cairn.artifact_store.base import ArtifactRepository, MultipartUpload
from cairn.exceptions import InvalidParameterValueError, NotImplementedByServerError
from cairn.server.messages import Message
from cairn.server.responses import json_response

ACTIONS = ("create", "complete", "abort")
MULTIPART_PREFIXES = tuple(
    f"{api}/mlflow-artifacts/mpu/{action}"
    for api in ("/api/2.0", "/ajax-api/2.0")
    for action in ACTIONS
)
PART_URL_SECONDS = 3600
# MLflow's client recognises an unsupported destination by this exact start of the message.
UNSUPPORTED_MESSAGE = "Multipart upload is not supported for the current artifact repository"


class MultipartRoutes:
    def __init__(self, repository: ArtifactRepository) -> None:
        self.repository = repository

    @property
    def enabled(self) -> bool:
        return isinstance(self.repository, MultipartUpload)

    def routes(self) -> list[BaseRoute]:
        return [
            # Not `{path}`: path fields join the message, and the body has its own `path`.
            Route(prefix + "/{folder:path}", self.handle, methods=["POST"])
            for prefix in MULTIPART_PREFIXES
        ]

    async def handle(self, request: Request) -> Response:
        from cairn.server.artifacts_api import raw_artifact_path

        folder = raw_artifact_path(request)
        message = await Message.read(request)
        if not isinstance(self.repository, MultipartUpload):
            raise NotImplementedByServerError(f"{UNSUPPORTED_MESSAGE}.")
        name = safe_relative(posixpath.basename(message.string("path", required=True) or ""))
        target = f"{folder}/{name}" if folder else name
        action = request.url.path.split("/mpu/", 1)[1].split("/", 1)[0]
        work = {"create": _create, "complete": _complete, "abort": _abort}[action]
        return json_response(await run_in_threadpool(work, self.repository, target, message))


def _create(repository: MultipartUpload, target: str, message: Message) -> dict[str, Any]:
    parts = message.integer("num_parts", default=1) or 0
    upload_id, urls = repository.create_multipart_upload(target, parts, PART_URL_SECONDS)
    credentials = [{"url": u.url, "part_number": u.part_number, "headers": u.headers} for u in urls]
    return {"upload_id": upload_id, "credentials": credentials}


def _complete(repository: MultipartUpload, target: str, message: Message) -> dict[str, Any]:
    parts = []
    for i, item in enumerate(message.repeated("parts")):
        fields = item if isinstance(item, dict) else {}
        number, etag = fields.get("part_number"), fields.get("etag")
        if not isinstance(number, int) or isinstance(number, bool) or not isinstance(etag, str):
            raise InvalidParameterValueError(f"parts[{i}] needs an integer part_number and etag.")
        parts.append((number, etag))
    repository.complete_multipart_upload(target, _upload_id(message), parts)
    return {}


def _abort(repository: MultipartUpload, target: str, message: Message) -> dict[str, Any]:
    repository.abort_multipart_upload(target, _upload_id(message))
    return {}


def _upload_id(message: Message) -> str:
    return message.string("upload_id", required=True) or ""

"""A registered version's model files, for the UI's version page, under `/ajax-api/2.0/cairn`:

* `GET /model-versions/mlmodel?name=…&version=…`: the version's MLmodel file as JSON, its
  signature's `inputs`, `outputs` and `params` (JSON strings inside the YAML) parsed;
  RESOURCE_DOES_NOT_EXIST when the version's folder holds no MLmodel.
* `GET /model-versions/artifact?name=…&version=…&path=…`: one file of that folder (the
  input example, say), as an attachment.

The server resolves the source, so the page need not know where a model lives: `runs:/<run>/
<path>` is that path among the run's artifacts, `models:/<model_id>` the logged model's
folder, any other URI itself. Every location must lie inside the server's allowed roots
(`security.artifact_repository_uri`), and `path` inside the model's folder. With `--auth`
both need READ on the registered model.
"""

from __future__ import annotations

import json
import posixpath
import tempfile
from typing import Any

import yaml
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from cairn.artifact_paths import safe_relative
from cairn.artifact_store.base import ArtifactRepository
from cairn.artifact_store.uri import artifact_repository
from cairn.entities import ModelVersion
from cairn.entities.logged_model import MLMODEL_FILE_NAME
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError
from cairn.server import security
from cairn.server.artifacts_api import download_response
from cairn.server.context import Context
from cairn.server.messages import Message
from cairn.store.ids import logged_model_id_in

_SIGNATURE_PARTS = ("inputs", "outputs", "params")


def model_folder(ctx: Context, version: ModelVersion) -> tuple[ArtifactRepository, str]:
    """The repository holding the version's model, and the model's folder inside it."""
    source = version.source
    if source.startswith("runs:/"):
        run_id, _, path = source.removeprefix("runs:/").partition("/")
        root, inside = ctx.tracking.get_run(run_id).info.artifact_uri, safe_relative(path)
    elif (model_id := logged_model_id_in(source)) is not None:
        root, inside = ctx.tracking.get_logged_model(model_id).artifact_uri, ""
    else:
        root, inside = source, ""
    return artifact_repository(security.artifact_repository_uri(root, ctx)), inside


def _version(ctx: Context, msg: Message) -> ModelVersion:
    name = msg.string("name", required=True) or ""
    version = msg.string("version", required=True) or ""
    return ctx.models.get_model_version(name, version)


def get_mlmodel(ctx: Context, msg: Message) -> dict[str, Any]:
    repository, inside = model_folder(ctx, _version(ctx, msg))
    with tempfile.TemporaryDirectory(prefix="cairn-mlmodel-") as scratch:
        try:
            local = repository.download_artifacts(
                posixpath.join(inside, MLMODEL_FILE_NAME), scratch
            )
        except (ResourceDoesNotExistError, FileNotFoundError):
            raise ResourceDoesNotExistError("The version's folder holds no MLmodel.") from None
        with open(local, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        raise InvalidParameterValueError("This version's MLmodel file is not a mapping.")
    signature = data.get("signature")
    if isinstance(signature, dict):
        data["signature"] = {k: _parsed(signature.get(k)) for k in _SIGNATURE_PARTS}
    return {"mlmodel": json.loads(json.dumps(data, default=str))}


def _parsed(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return None


async def get_model_artifact(ctx: Context, request: Request) -> Response:
    msg = await Message.read(request)
    version = await run_in_threadpool(_version, ctx, msg)
    repository, inside = await run_in_threadpool(model_folder, ctx, version)
    relative = safe_relative(msg.string("path", required=True))
    return await download_response(repository, posixpath.join(inside, relative))

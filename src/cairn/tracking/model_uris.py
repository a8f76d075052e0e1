"""Model URIs to local model directories.

Forms understood:

- a local path or `file://` URI: used in place;
- `runs:/<run_id>/<name>`: as in MLflow 3, the run's artifacts at `<name>/` if they hold an
  MLmodel file (models logged by MLflow 2 or with `log_artifacts`), else the LoggedModel
  named `<name>` that the run output;
- `models:/<model_id>` (`m-` and 32 hex digits): a LoggedModel, from its artifact URI;
- `models:/<name>/<version|stage|latest>` and `models:/<name>@<alias>`: the registered
  version's source, itself one of the forms above;
- any other artifact URI (`s3://…`, `mlflow-artifacts:/…`): downloaded.

Models stored in a local folder are read where they are, not copied, unless `dst_path` is
given: a model directory is never written to by loading, and copying a large model only to
read it once is slow.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import TYPE_CHECKING

from cairn.artifact_paths import local_path_of, safe_relative
from cairn.artifact_store.uri import artifact_repository, scheme_of
from cairn.entities.logged_model import MLMODEL_FILE_NAME
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError
from cairn.store.ids import logged_model_id_in
from cairn.tracking.client import Client

if TYPE_CHECKING:
    from cairn.entities import LoggedModel, ModelVersion


def download_model(model_uri: str, dst_path: str | None = None) -> str:
    """The local directory holding the model at `model_uri` (see the module docstring)."""
    if model_uri.startswith("runs:/"):
        run_id, _, name = model_uri[len("runs:/") :].strip("/").partition("/")
        return _from_run(run_id, safe_relative(name), dst_path)
    if model_uri.startswith("models:/"):
        return _from_models_uri(model_uri, dst_path)
    return fetch_directory(model_uri, "", dst_path)


def fetch_directory(root_uri: str, relative: str, dst_path: str | None) -> str:
    """`relative` under `root_uri` as a local directory: in place for local folders."""
    if scheme_of(root_uri) == "file" and dst_path is None:
        local = (
            os.path.join(local_path_of(root_uri), relative) if relative else local_path_of(root_uri)
        )
        if not os.path.isdir(local):
            raise ResourceDoesNotExistError(f"No model directory at {local!r}.")
        return os.path.abspath(local)
    if scheme_of(root_uri) == "file":
        source = fetch_directory(root_uri, relative, None)
        target = os.path.join(dst_path or "", os.path.basename(source))
        shutil.copytree(source, target)
        return target
    destination = dst_path or tempfile.mkdtemp(prefix="cairn-model-")
    repository = artifact_repository(root_uri, _client().tracking_uri)
    return repository.download_artifacts(relative, destination)


def _client() -> Client:
    return Client()


def run_model_target(run_id: str, name: str) -> str | None:
    """What `runs:/<run_id>/<name>` names: None for a model directory among the run's own
    artifacts, else the id of the LoggedModel called `name` that the run output."""
    client = _client()
    name = safe_relative(name)
    # The run's own files only: Client.list_artifacts would list the logged model here too.
    own = artifact_repository(client.get_run(run_id).info.artifact_uri, client.tracking_uri)
    if name and any(
        entry.path == f"{name}/{MLMODEL_FILE_NAME}" for entry in own.list_artifacts(name)
    ):
        return None
    return _run_output_model(client, run_id, name).model_id


def _from_run(run_id: str, name: str, dst_path: str | None) -> str:
    client = _client()
    model_id = run_model_target(run_id, name)
    if model_id is None:
        return fetch_directory(client.get_run(run_id).info.artifact_uri, name, dst_path)
    return fetch_directory(client.get_logged_model(model_id).artifact_uri, "", dst_path)


def _run_output_model(client: Client, run_id: str, name: str) -> LoggedModel:
    """The latest model named `name` among the run's outputs (MLflow 3's `runs:/` rule)."""
    outputs = client.get_run(run_id).outputs.model_outputs
    models = [client.get_logged_model(output.model_id) for output in outputs]
    named = [m for m in models if m.name == name]
    if not named:
        raise ResourceDoesNotExistError(
            f"Run {run_id} has no model artifacts at {name!r} and logged no model named "
            f"{name!r} (its models: {sorted(m.name for m in models)})."
        )
    return max(named, key=lambda m: m.creation_timestamp)


def _from_models_uri(model_uri: str, dst_path: str | None) -> str:
    model_id = logged_model_id_in(model_uri)
    if model_id is not None:
        return fetch_directory(_client().get_logged_model(model_id).artifact_uri, "", dst_path)
    source = _registered_source(model_uri, resolve_model_version(model_uri))
    if source.startswith("models:/") and logged_model_id_in(source) is None:
        raise InvalidParameterValueError(f"{model_uri!r} points at another registered model.")
    return download_model(source, dst_path)


def resolve_model_version(model_uri: str, client: Client | None = None) -> ModelVersion:
    """The registered version a `models:/<name>/<version|stage|latest>` or
    `models:/<name>@<alias>` URI names (stage names are case-insensitive, as MLflow's)."""
    rest = model_uri[len("models:/") :].strip("/")
    registry = client or _client()
    if "@" in rest:
        name, _, alias = rest.partition("@")
        return registry.get_model_version_by_alias(name, alias)
    name, _, selector = rest.partition("/")
    if not name or not selector or "/" in selector:
        raise InvalidParameterValueError(
            f"Invalid model URI {model_uri!r}: expected models:/<model_id>, "
            "models:/<name>/<version|stage|latest> or models:/<name>@<alias>."
        )
    if selector.isdigit():
        return registry.get_model_version(name, selector)
    if selector.lower() == "latest":
        return registry.get_model_version_by_alias(name, "latest")
    found = registry.get_latest_versions(name, [selector])
    if not found:
        raise ResourceDoesNotExistError(
            f"Registered model {name!r} has no version in {selector!r}."
        )
    return found[0]


def _registered_source(model_uri: str, version: ModelVersion) -> str:
    """A version's source, where its files are; `runs:/` and `models:/<id>` are resolved
    by `download_model` in turn."""
    if not version.source:
        raise ResourceDoesNotExistError(f"{model_uri!r} has no source.")
    return version.source

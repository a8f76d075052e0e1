"""The artifact proxy's share in keeping storage figures (cairn.store.base.StorageAccounting):
what a PUT adds and a DELETE removes, counted for the run or logged model that owns the path.

A path `<location>/<run id>/artifacts/…` whose run has the root `mlflow-artifacts:/
<location>/<run id>/artifacts` counts for that run; `<location>/models/<model id>/
artifacts/…` for that logged model; any other path for nobody. An upload that replaces a
file counts the difference where the destination is a folder (on S3 the old size is not
looked up); a multipart upload, which goes straight to S3, is not counted.
`cairn storage --recount` corrects all of these.
"""

from __future__ import annotations

from dataclasses import dataclass

from cairn.artifact_store.base import ArtifactRepository
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError
from cairn.maintenance.storage import usage_under
from cairn.store.base import StorageAccounting, TrackingStore

PROXY_ROOT = "mlflow-artifacts:/"
_ARTIFACTS = "artifacts"
_MODELS = "models"
# Candidate owners tried per path: a location may itself hold a folder named `artifacts`.
_MAX_CANDIDATES = 3


@dataclass(frozen=True)
class Owner:
    """The run or logged model whose artifact folder holds a proxy path."""

    kind: str  # "run" | "logged_model"
    id: str

    def add(self, store: StorageAccounting, size_bytes: int, files: int) -> None:
        if self.kind == "run":
            store.add_artifact_usage(self.id, size_bytes, files)
        else:
            store.add_model_artifact_usage(self.id, size_bytes, files)


def owner_of(tracking: TrackingStore, relative: str) -> Owner | None:
    """Whose artifacts the proxy path `relative` (a checked, relative path) lies in."""
    parts = relative.split("/")
    tried = 0
    for index in range(len(parts) - 1):
        if parts[index + 1] != _ARTIFACTS or tried == _MAX_CANDIDATES:
            continue
        tried += 1
        root = PROXY_ROOT + "/".join(parts[: index + 2])
        is_model = index > 0 and parts[index - 1] == _MODELS
        found = _model_owner(tracking, parts[index], root) if is_model else None
        found = found or _run_owner(tracking, parts[index], root)
        if found is not None:
            return found
    return None


def _run_owner(tracking: TrackingStore, run_id: str, root: str) -> Owner | None:
    try:
        held = tracking.get_run(run_id).info.artifact_uri
    except (ResourceDoesNotExistError, InvalidParameterValueError):
        return None
    return Owner("run", run_id) if _same_root(held, root) else None


def _model_owner(tracking: TrackingStore, model_id: str, root: str) -> Owner | None:
    try:
        held = tracking.get_logged_model(model_id, allow_deleted=True).artifact_uri
    except (ResourceDoesNotExistError, InvalidParameterValueError):
        return None
    return Owner("logged_model", model_id) if _same_root(held, root) else None


def _same_root(held: str | None, root: str) -> bool:
    """`mlflow-artifacts:/1/x/artifacts` and `mlflow-artifacts:///1/x/artifacts/` alike."""
    if not held or not held.startswith(PROXY_ROOT.rstrip("/")):
        return False
    return held.partition(":")[2].strip("/") == root.partition(":")[2].strip("/")


def record_upload(tracking: TrackingStore, relative: str, size: int, replaced: int | None) -> None:
    """After a proxy PUT of `size` bytes at `relative`, over a file of `replaced` bytes
    (None: no file was there, or its size is unknown)."""
    if not isinstance(tracking, StorageAccounting):
        return
    owner = owner_of(tracking, relative)
    if owner is not None:
        owner.add(tracking, size - (replaced or 0), 0 if replaced is not None else 1)


def removal(
    tracking: TrackingStore, repository: ArtifactRepository, relative: str
) -> tuple[Owner, int, int] | None:
    """Before a proxy DELETE of `relative`: its owner and the bytes and files under it
    (walked: a deletion is rare, and costs a listing anyway). None: nobody's."""
    if not isinstance(tracking, StorageAccounting):
        return None
    owner = owner_of(tracking, relative)
    if owner is None:
        return None
    size, files = usage_under(repository, relative)
    return owner, size, files


def record_delete(tracking: TrackingStore, removed: tuple[Owner, int, int] | None) -> None:
    """After the DELETE that `removal` measured."""
    if removed is not None and isinstance(tracking, StorageAccounting):
        owner, size, files = removed
        owner.add(tracking, -size, -files)

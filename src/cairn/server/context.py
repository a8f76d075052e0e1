"""What every handler is given: the stores and the server's settings, injected, never global."""

from __future__ import annotations

from dataclasses import dataclass, field

from cairn.store.base import TrackingStore

DEFAULT_MAX_ARTIFACT_UPLOAD_BYTES = 5 * 1024**3
"""The largest single artifact the proxy accepts unless configured otherwise (5 GiB)."""


@dataclass(frozen=True)
class Context:
    tracking: TrackingStore
    artifacts_destination: str
    """Where the artifact proxy keeps files (a folder or s3://…); experiments created through
    the server get `mlflow-artifacts:/<id>` locations that resolve under it."""
    allowed_artifact_roots: tuple[str, ...] = field(default_factory=tuple)
    """Experiment artifact locations must lie inside one of these (MLflow 3.18 accepts any)."""
    max_artifact_upload_bytes: int | None = DEFAULT_MAX_ARTIFACT_UPLOAD_BYTES
    """The largest body `PUT /mlflow-artifacts/artifacts/<path>` takes; None: no limit."""

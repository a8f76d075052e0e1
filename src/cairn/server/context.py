"""What every handler is given: the stores and the server's settings, injected, never global;
and who is calling, when `--auth` knows it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from cairn.exceptions import NotImplementedByServerError
from cairn.store.base import RegistryStore, TrackingStore
from cairn.store.traces import TraceStore

DEFAULT_MAX_ARTIFACT_UPLOAD_BYTES = 5 * 1024**3
"""The largest single artifact the proxy accepts unless configured otherwise (5 GiB)."""

# Request-scoped, not process state: the auth middleware sets it in the request's own task,
# and Starlette's thread pool copies the task's context into the handler's thread.
_authenticated_user: ContextVar[str | None] = ContextVar("cairn_authenticated_user", default=None)


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
    registry: RegistryStore | None = None
    """The model registry (create_app always gives one; None only in bare test contexts)."""
    traces: TraceStore | None = None
    """MLflow 3's traces (create_app gives the one on the tracking store's database)."""

    @property
    def models(self) -> RegistryStore:
        """The registry, or NOT_IMPLEMENTED when this server was built without one."""
        if self.registry is None:
            raise NotImplementedByServerError("This server has no model registry.")
        return self.registry

    @property
    def trace_store(self) -> TraceStore:
        """The trace store, or NOT_IMPLEMENTED when this server was built without one."""
        if self.traces is None:
            raise NotImplementedByServerError("This server keeps no traces.")
        return self.traces


def authenticated_user() -> str | None:
    """The username `--auth` authenticated for the request being handled; None without auth."""
    return _authenticated_user.get()


@contextmanager
def acting_as(username: str) -> Iterator[None]:
    """Within the block (one request), `authenticated_user()` is `username`."""
    token = _authenticated_user.set(username)
    try:
        yield
    finally:
        _authenticated_user.reset(token)

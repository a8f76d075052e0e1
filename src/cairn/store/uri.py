"""Tracking URIs to stores: scheme registries fed by the `cairn.tracking_store` and
`cairn.registry_store` entry points (the registry lives in the tracking database, or behind
the same server).

Cairn's own backends register there exactly as a third-party one would.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Protocol

from cairn import env
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError
from cairn.store.base import RegistryStore, TrackingStore

if TYPE_CHECKING:
    from importlib import metadata

DEFAULT_DB_NAME = "cairn.db"


class StoreBuilder(Protocol):
    def __call__(self, uri: str, artifact_root: str) -> TrackingStore: ...


class RegistryBuilder(Protocol):
    def __call__(self, uri: str) -> RegistryStore: ...


def default_tracking_uri() -> str:
    """`CAIRN_TRACKING_URI`, else SQLite in ./cairn-data/ of the working directory."""
    return env.tracking_uri() or local_tracking_uri()


def local_tracking_uri() -> str:
    """The local store: SQLite in ./cairn-data/ of the working directory."""
    return f"sqlite:///{os.path.abspath(os.path.join(env.DEFAULT_DATA_DIR, DEFAULT_DB_NAME))}"


def scheme_of(uri: str) -> str:
    scheme, sep, _ = uri.partition(":")
    if not sep or not scheme:
        raise InvalidParameterValueError(
            f"Invalid tracking URI {uri!r}: expected sqlite:///…, postgresql://…, "
            "mysql+pymysql://… or http(s)://…"
        )
    return scheme.split("+", 1)[0].lower()


def default_artifact_root(uri: str) -> str:
    """`CAIRN_ARTIFACT_ROOT`, else `artifacts/` beside a SQLite file, else cairn-data/artifacts."""
    configured = env.artifact_root()
    if configured:
        return configured
    if scheme_of(uri) == "sqlite":
        path = uri.partition(":///")[2]
        if path and path != ":memory:":
            return os.path.join(os.path.dirname(os.path.abspath(path)), "artifacts")
    return os.path.abspath(os.path.join(env.DEFAULT_DATA_DIR, "artifacts"))


def _entry_point(group: str, scheme: str) -> metadata.EntryPoint:
    # Imported here: importlib.metadata costs `import cairn` a fifth of its time.
    from importlib import metadata

    for entry in metadata.entry_points(group=group):
        if entry.name == scheme:
            return entry
    raise InvalidParameterValueError(
        f"No store for URI scheme {scheme!r}. Known: sqlite, postgresql, mysql, http(s)."
    )


def _builder(scheme: str) -> StoreBuilder:
    builder: StoreBuilder = _entry_point("cairn.tracking_store", scheme).load()
    return builder


def tracking_store(uri: str) -> TrackingStore:
    """A new store for `uri`; `StoreCache` keeps one per URI for a process."""
    return _builder(scheme_of(uri))(uri, default_artifact_root(uri))


def registry_store(uri: str) -> RegistryStore:
    """A new model registry for `uri` (the tracking database, or the same server)."""
    builder: RegistryBuilder = _entry_point("cairn.registry_store", scheme_of(uri)).load()
    return builder(uri)


def require_existing(uri: str, doing: str) -> None:
    """Refuse a SQLite store that is not there when it is to be read: opening it would
    create an empty one (a `cairn sync` or `cairn export` run in the wrong folder must say
    so, not copy nothing). `doing`: what would have been done, for the message."""
    if scheme_of(uri) != "sqlite":
        return
    path = uri.partition(":///")[2].partition("?")[0]
    if path and path != ":memory:" and not os.path.exists(path):
        raise ResourceDoesNotExistError(f"No tracking store at {path}: nothing to {doing}.")


class StoreCache:
    """One tracking store and one registry per URI, built on first use.

    Building a store opens a connection pool and checks the schema, so Clients share them.
    A cache belongs to one process: the fluent session that owns it is replaced in a forked
    child, which then builds its own stores rather than reuse the parent's connections.
    """

    def __init__(self) -> None:
        self._tracking: dict[str, TrackingStore] = {}
        self._registries: dict[str, RegistryStore] = {}
        self._lock = threading.Lock()

    def tracking(self, uri: str) -> TrackingStore:
        store = self._tracking.get(uri)
        if store is None:
            with self._lock:
                store = self._tracking.get(uri)
                if store is None:
                    store = self._tracking[uri] = tracking_store(uri)
        return store

    def registry(self, uri: str) -> RegistryStore:
        store = self._registries.get(uri)
        if store is None:
            with self._lock:
                store = self._registries.get(uri)
                if store is None:
                    store = self._registries[uri] = registry_store(uri)
        return store

    def close(self) -> None:
        """Release every store's connections (a reset: nothing may use them afterwards)."""
        with self._lock:
            stores: list[TrackingStore | RegistryStore] = [
                *self._tracking.values(),
                *self._registries.values(),
            ]
            self._tracking.clear()
            self._registries.clear()
        for store in stores:
            store.close()

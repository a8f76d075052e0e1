"""Tracking URIs to stores: scheme registries fed by the `cairn.tracking_store` and
`cairn.registry_store` entry points (the registry lives in the tracking database, or behind
the same server).

Cairn's own backends register there exactly as a third-party one would.
"""

from __future__ import annotations

import os
import threading
from importlib import metadata
from typing import Protocol

from cairn import env
from cairn.exceptions import InvalidParameterValueError
from cairn.store.base import RegistryStore, TrackingStore

DEFAULT_DB_NAME = "cairn.db"


class StoreBuilder(Protocol):
    def __call__(self, uri: str, artifact_root: str) -> TrackingStore: ...


class RegistryBuilder(Protocol):
    def __call__(self, uri: str) -> RegistryStore: ...


_stores: dict[str, TrackingStore] = {}
_registries: dict[str, RegistryStore] = {}
_lock = threading.Lock()
_current: str | None = None


def set_current(uri: str | None) -> None:
    """The URI `cairn.set_tracking_uri` chose; Client() and the fluent API both follow it."""
    global _current
    _current = uri


def current_tracking_uri() -> str:
    """The URI set with `cairn.set_tracking_uri`, else the default."""
    return _current or default_tracking_uri()


def default_tracking_uri() -> str:
    """`CAIRN_TRACKING_URI`, else SQLite in ./cairn-data/ of the working directory."""
    configured = env.tracking_uri()
    if configured:
        return configured
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
    for entry in metadata.entry_points(group=group):
        if entry.name == scheme:
            return entry
    raise InvalidParameterValueError(
        f"No store for URI scheme {scheme!r}. Known: sqlite, postgresql, mysql, http(s)."
    )


def _builder(scheme: str) -> StoreBuilder:
    builder: StoreBuilder = _entry_point("cairn.tracking_store", scheme).load()
    return builder


def tracking_store(uri: str | None = None) -> TrackingStore:
    """The process's store for `uri` (default: default_tracking_uri()), built once."""
    uri = uri or current_tracking_uri()
    store = _stores.get(uri)
    if store is not None:
        return store
    with _lock:
        store = _stores.get(uri)
        if store is None:
            store = _builder(scheme_of(uri))(uri, default_artifact_root(uri))
            _stores[uri] = store
    return store


def registry_store(uri: str | None = None) -> RegistryStore:
    """The process's model registry for `uri` (default: the current tracking URI), built once."""
    uri = uri or current_tracking_uri()
    store = _registries.get(uri)
    if store is not None:
        return store
    with _lock:
        store = _registries.get(uri)
        if store is None:
            builder: RegistryBuilder = _entry_point("cairn.registry_store", scheme_of(uri)).load()
            store = builder(uri)
            _registries[uri] = store
    return store

"""Artifact locations as the collector sees them: where a URI's files really are, which
folder belongs to a run, a logged model or an experiment, and whether two locations overlap.

A location becomes a key, (scheme, host, *path parts): local paths resolved (symbolic links
followed, as cairn.store.model_source compares them), others normalised. One location lies
within another when its key starts with the other's, so "does anything that stays lie in,
or hold, this folder?" is a few set lookups however many runs stay.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cairn.artifact_paths import local_path_of, safe_relative
from cairn.artifact_store.uri import scheme_of
from cairn.exceptions import InvalidParameterValueError

PROXY_SCHEME = "mlflow-artifacts"

Key = tuple[str, ...]


class UnreachableError(Exception):
    """A location whose files this process cannot reach (the reason is the message)."""


def resolve(uri: str, destination: str | None) -> str:
    """A URI a repository can open for `uri`: `mlflow-artifacts:/x` lies at
    `<destination>/x`; a plain path must be absolute. Raises UnreachableError otherwise."""
    scheme = scheme_of(uri)
    if scheme == PROXY_SCHEME:
        rest = uri.partition(":")[2]
        if rest.startswith("//"):
            raise UnreachableError(f"{uri} names another server's artifact proxy")
        if destination is None:
            raise UnreachableError(
                f"its files are at {uri}, behind a server's artifact proxy: run gc through "
                "the server or pass --artifacts-destination"
            )
        try:
            relative = safe_relative(rest.lstrip("/"))
        except InvalidParameterValueError as error:
            raise UnreachableError(error.message) from None
        if scheme_of(destination) == "file":  # as the server resolves it: from its cwd
            destination = os.path.abspath(local_path_of(destination))
        return f"{destination.rstrip('/')}/{relative}" if relative else destination
    if scheme == "file" and not os.path.isabs(local_path_of(uri)):
        raise UnreachableError(f"its artifact location {uri!r} is a relative path")
    return uri


def key_of(uri: str) -> Key:
    """The comparable key of a resolved URI."""
    if scheme_of(uri) == "file":
        path = os.path.realpath(local_path_of(uri))
        return ("file", "", *(p for p in path.split(os.sep) if p))
    parts = urlsplit(uri)
    path = posixpath.normpath(parts.path) if parts.path else ""
    return (parts.scheme.lower(), parts.netloc, *(p for p in path.split("/") if p and p != "."))


def join(uri: str, *names: str) -> str:
    return "/".join((uri.rstrip("/"), *names))


def parent(uri: str) -> str:
    return uri.rstrip("/").rpartition("/")[0]


def own_folder(location: str, owner_id: str, id_anywhere: bool = True) -> str | None:
    """The folder that is wholly `owner_id`'s: `…/<id>` for the usual `…/<id>/artifacts`
    layout; the location itself when it ends in the id, or (`id_anywhere`: a run's or a
    model's 32-digit id, never there by chance) has it as one of its parts; else None: a
    location chosen by hand, which may hold other files, and is never removed."""
    trimmed = location.rstrip("/")
    if not trimmed:
        return None
    if trimmed.endswith(f"/{owner_id}/artifacts"):
        return parent(trimmed)
    if trimmed.rpartition("/")[2] == owner_id:
        return trimmed
    try:
        path_parts = urlsplit(trimmed).path.split("/")
    except ValueError:
        return None
    return trimmed if id_anywhere and owner_id in path_parts else None


@dataclass
class LocationIndex:
    """Locations that stay, each with a description of its owner ("run abc…").

    An *owned* location (a run's or model's artifacts, a registered version's source)
    conflicts with a folder that holds it, lies in it, or is it. A *marked* one (an
    experiment's location, which holds its runs' folders by design) conflicts only with a
    folder that holds it or is it.
    """

    owned: dict[Key, str] = field(default_factory=dict)
    marked: dict[Key, str] = field(default_factory=dict)
    below: dict[Key, str] = field(default_factory=dict)

    def add(self, key: Key, owner: str, holds_others: bool = False) -> None:
        (self.marked if holds_others else self.owned).setdefault(key, owner)
        for end in range(2, len(key)):
            self.below.setdefault(key[:end], owner)

    def conflict(self, key: Key) -> str | None:
        """The owner of something that stays in, over or at the folder `key`; None if none."""
        found = self.below.get(key) or self.owned.get(key) or self.marked.get(key)
        if found:
            return found
        for end in range(len(key) - 1, 1, -1):
            holder = self.owned.get(key[:end])
            if holder:
                return holder
        return None

"""Artifact URIs to repositories, through the `cairn.artifact_repository` entry points
(Cairn's own local and S3 repositories register there as a third party would)."""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Protocol

from cairn.artifact_store.base import ArtifactRepository
from cairn.exceptions import InvalidParameterValueError

if TYPE_CHECKING:
    from importlib import metadata


class RepositoryBuilder(Protocol):
    def __call__(self, root_uri: str) -> ArtifactRepository: ...


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")
# Schemes whose URIs may have a single slash after the colon, as MLflow writes them.
_SINGLE_SLASH_SCHEMES = ("mlflow-artifacts", "file")
_HTTP = ("http", "https")


def scheme_of(uri: str) -> str:
    """`file` for plain paths and file: URIs, else the URI's scheme (`mlflow-artifacts:/1/…`
    included, though it has no `//`)."""
    match = _SCHEME.match(uri)
    if match is None:
        return "file"  # a plain path (or a Windows drive letter: one letter is no scheme)
    scheme = match.group(1).lower()
    if uri[match.end() :].startswith("//") or scheme in _SINGLE_SLASH_SCHEMES:
        return scheme
    return "file"


def artifact_repository(root_uri: str, tracking_uri: str | None = None) -> ArtifactRepository:
    """The repository for a run's (or experiment's) artifact root; an `mlflow-artifacts:`
    root lies on the server at `tracking_uri` when that is http(s) (else the process's)."""
    scheme = scheme_of(root_uri)
    if scheme == "mlflow-artifacts" and tracking_uri and scheme_of(tracking_uri) in _HTTP:
        from cairn.artifact_store.http import proxy_url

        root_uri = proxy_url(root_uri, tracking_uri)
        scheme = scheme_of(root_uri)
    return _builder(scheme, root_uri)(root_uri)


@functools.cache
def _builders() -> dict[str, metadata.EntryPoint]:
    """Read once, on first use: scanning the installed distributions costs milliseconds, and
    importing importlib.metadata alone costs `import cairn` a fifth of its time."""
    from importlib import metadata

    return {e.name: e for e in metadata.entry_points(group="cairn.artifact_repository")}


def _builder(scheme: str, root_uri: str) -> RepositoryBuilder:
    entry = _builders().get(scheme)
    if entry is None:
        raise InvalidParameterValueError(
            f"No artifact repository for URI scheme {scheme!r} ({root_uri!r}). Known: "
            f"{', '.join(sorted(_builders()))}."
        )
    builder: RepositoryBuilder = entry.load()
    return builder

"""Which `source` a model version may be registered from.

MLflow was broken into through this field again and again (CVE-2023-1177, -1176, -2356,
-2780, -6909, -6977, CVE-2024-1483, -1558, -3573, CVE-2026-2614): a version whose source
is `/etc`, `file:///`, `//proc/self`, `http://…`, or a path that climbs out of a run with
`..` (plain, `%2e%2e`, `%252e%252e`, `\\..\\`, hidden after `#` or `?`) turns the server's
artifact download into a file reader or an HTTP client.

So a source is accepted in three forms only, and every URL-decoding of it (up to ten deep)
must be free of control characters, backslashes, `#`, `?` and `..` segments:

- `runs:/<run_id>/<relative path>`: the run must exist;
- `models:/<model_id>` (MLflow 3's form) or `models:/<name>/<version>`: the logged model or
  registered version must exist;
- any other URI that lies inside the artifact location of the `run_id` or `model_id` the
  version is registered with, compared after normalisation (local paths resolved, so a
  symbolic link cannot lead out);
- an object-store URI (`s3://`, `gs://`, `wasbs://`, `dbfs:/`) under a prefix the operator
  allowed (`cairn server --allowed-model-sources`; by default the bucket of an object-store
  artifact destination). It is accepted without being read: the server never opens it, the
  client that loads the version does, with its own credentials.

This module parses and compares; the store looks the runs and models up.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, unquote, urlsplit

from cairn.artifact_paths import local_path_of, safe_relative
from cairn.exceptions import InvalidParameterValueError
from cairn.store.ids import LOGGED_MODEL_ID

MAX_SOURCE_LENGTH = 8192

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_DECODINGS = 10
_RUN_ID = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")
_VERSION = re.compile(r"^[0-9]{1,9}$")
_LOCAL_SCHEMES = ("", "file")
EXTERNAL_PREFIXES = ("s3://", "gs://", "wasbs://", "dbfs:/")
"""The object stores a model version's source may point into when the operator allows it."""
ALLOWED_SOURCES_OPTION = "--allowed-model-sources"


@dataclass(frozen=True, slots=True)
class SourceReference:
    """A source that names a run (`ids` = (run_id, path)), a logged model ((model_id,)) or a
    registered model version ((name, version))."""

    kind: str
    ids: tuple[str, ...]


def refuse(source: str, why: str) -> InvalidParameterValueError:
    return InvalidParameterValueError(f"Invalid model version source {source!r}: {why}.")


def check_safe(source: object) -> str:
    """The source, if no decoding of it hides a traversal; raises otherwise."""
    if not isinstance(source, str) or not source.strip():
        raise InvalidParameterValueError("A model version needs a non-empty source.")
    if len(source) > MAX_SOURCE_LENGTH:
        raise refuse(source[:80] + "…", f"it is longer than {MAX_SOURCE_LENGTH} characters")
    for form in _decodings(source):
        _refuse_unsafe(source, form)
    if source.startswith("//"):
        raise refuse(source, "it names a host or an absolute path with '//'")
    return source


def _decodings(source: str) -> list[str]:
    forms = [source]
    for _ in range(_MAX_DECODINGS):
        decoded = unquote(forms[-1])
        if decoded == forms[-1]:
            return forms
        forms.append(decoded)
    raise refuse(source, "it is URL-encoded too many times")


def _refuse_unsafe(source: str, form: str) -> None:
    if _CONTROL.search(form):
        raise refuse(source, "it contains a control character")
    if "\\" in form:
        raise refuse(source, "it contains a backslash")
    for char in "#?":
        if char in form:
            raise refuse(source, f"it contains {char!r}")
    if ".." in re.split(r"[/;]", form):
        raise refuse(source, "it contains a '..' segment")


def reference(source: str) -> SourceReference | None:
    """The run, logged model or version a `runs:/` or `models:/` source names; None for any
    other URI. A malformed `runs:/` or `models:/` URI is refused."""
    if source.startswith("runs:"):
        return _run_reference(source)
    if source.startswith("models:"):
        return _model_reference(source)
    return None


def _run_reference(source: str) -> SourceReference:
    rest = source[len("runs:") :]
    if not rest.startswith("/") or rest.startswith("//"):
        raise refuse(source, "expected runs:/<run_id>/<path>")
    run_id, _, path = rest[1:].partition("/")
    if not _RUN_ID.match(run_id):
        raise refuse(source, f"{run_id!r} is not a run id")
    try:
        relative = safe_relative(path)
    except InvalidParameterValueError:
        raise refuse(source, "its path leaves the run's artifacts") from None
    return SourceReference("run", (run_id, relative))


def _model_reference(source: str) -> SourceReference:
    rest = source[len("models:") :]
    parts = rest[1:].split("/") if rest.startswith("/") and not rest.startswith("//") else []
    if len(parts) == 1 and LOGGED_MODEL_ID.fullmatch(parts[0]):
        return SourceReference("model", (parts[0],))
    if len(parts) == 2 and parts[0] and _VERSION.match(parts[1]):
        return SourceReference("version", (parts[0], str(int(parts[1]))))
    raise refuse(source, "expected models:/<model_id> or models:/<name>/<version>")


def lies_within(source: str, root: str) -> bool:
    """Whether `source` is `root` or below it, once both are normalised. Call check_safe
    on `source` first: no `..` may be left to climb out after the comparison."""
    inner, outer = _location(source), _location(root)
    if inner is None or outer is None or inner[:2] != outer[:2]:
        return False
    base = outer[2].rstrip("/")
    return inner[2] == outer[2] or inner[2].startswith(base + "/")


def _location(uri: str) -> tuple[str, str, str] | None:
    """(scheme, host, normalised path); local paths as `file` with their real path."""
    try:
        parts: SplitResult = urlsplit(uri)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme in _LOCAL_SCHEMES:
        if parts.netloc or uri.startswith("//"):
            return None  # file://host/… and //host/… reach another machine
        path = local_path_of(uri)
        if not path.startswith("/"):
            return None  # a relative path lies inside nothing we know
        return "file", "", os.path.realpath(path)
    if not parts.path:
        return scheme, parts.netloc, ""
    return scheme, parts.netloc, posixpath.normpath(parts.path)


def is_external(source: str) -> bool:
    """Whether `source` names an object store (s3://, gs://, wasbs://, dbfs:/)."""
    return source.lower().startswith(EXTERNAL_PREFIXES)


def allowed_prefix(prefix: str) -> str:
    """An operator's allowed-source prefix, checked and ending in "/" (so `s3://bucket`
    does not also allow `s3://bucket-other/…`); raises ValueError for anything but an
    object-store prefix free of traversals: local paths are never allowed this way."""
    text = prefix.strip()
    if not is_external(text):
        raise ValueError(
            f"{prefix!r} is not an object-store prefix: give one starting with "
            f"{', '.join(EXTERNAL_PREFIXES)}."
        )
    try:
        check_safe(text)
    except InvalidParameterValueError as error:
        raise ValueError(error.message) from None
    text = _lower_scheme(text)
    return text if text.endswith("/") else text + "/"


def default_allowed_prefixes(destination: str) -> tuple[str, ...]:
    """What an artifact destination allows by default: its scheme and bucket when it is an
    object store (`s3://bucket/store` allows `s3://bucket/`), nothing for a folder."""
    if not is_external(destination) or destination.lower().startswith("dbfs:"):
        return ()
    parts = urlsplit(destination)
    if not parts.netloc:
        return ()
    return (f"{parts.scheme.lower()}://{parts.netloc}/",)


def under_allowed_prefix(source: str, prefixes: Sequence[str]) -> bool:
    """Whether a checked (`check_safe`) `source` lies under one of `prefixes` (made by
    `allowed_prefix`). The scheme compares without case, the rest exactly."""
    return is_external(source) and _lower_scheme(source).startswith(tuple(prefixes))


def _lower_scheme(uri: str) -> str:
    scheme, sep, rest = uri.partition(":")
    return scheme.lower() + sep + rest


def refuse_external(source: str) -> InvalidParameterValueError:
    return refuse(
        source,
        "it lies under no allowed model source prefix; the server's operator can allow "
        f"object-store prefixes with {ALLOWED_SOURCES_OPTION}",
    )

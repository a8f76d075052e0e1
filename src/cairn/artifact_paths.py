"""Artifact paths that cannot leave their root.

MLflow's server was broken into through artifact paths again and again (its CVEs list
`../`, `..\\`, `%2e%2e%2f`, `%252e%252e%252f`, `;/../`, `#/../`, absolute and drive-letter
paths, NUL bytes). A path here is refused if any of its URL-decodings, up to ten deep, has
such a part; what is left is a normalised POSIX path relative to the root.

A literal `%` or `#` is part of a name, not an attack: MLflow names a keyed image
`images/<key, "/" as "#">%step%<step>%timestamp%<ms>%<uuid>.png`, whose decodings hold
bytes such as 0x17 (from "%17…"). So a control character is refused only in the path as
given, NUL in every decoding, and every decoding is checked for what leaves the root.
"""

from __future__ import annotations

import os
import posixpath
import re
from urllib.parse import unquote

from cairn.exceptions import InvalidParameterValueError

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[a-zA-Z]:")
_MAX_DECODINGS = 10


def safe_relative(path: str | None) -> str:
    """`path` as a normalised relative POSIX path ("" for the root), or refused."""
    if path is None or path in ("", ".", "/"):
        return ""
    if not isinstance(path, str):
        raise InvalidParameterValueError(f"Artifact path must be a string, got {path!r}.")
    if _CONTROL.search(path):
        _refuse(path, "it contains a control character")
    for form in _decodings(path):
        _refuse_unsafe(path, form)
    normal = posixpath.normpath(path.strip("/") if path.endswith("/") else path)
    if normal in (".", ""):
        return ""
    if normal == ".." or normal.startswith(("../", "/")):  # "..notes.txt" is just a name
        _refuse(path, "it leaves the artifact root")
    return normal


def _decodings(path: str) -> list[str]:
    forms = [path]
    for _ in range(_MAX_DECODINGS):
        decoded = unquote(forms[-1])
        if decoded == forms[-1]:
            break
        forms.append(decoded)
    else:
        _refuse(path, "it is URL-encoded too many times")
    return forms


def _refuse_unsafe(original: str, form: str) -> None:
    if "\x00" in form:
        _refuse(original, "it contains a NUL byte")
    if "\\" in form:
        _refuse(original, "it contains a backslash")
    if form.startswith("/") and form.strip("/"):
        _refuse(original, "it is absolute")
    if _DRIVE.match(form):
        _refuse(original, "it names a drive")
    if ".." in re.split(r"[/;?#]", form):
        _refuse(original, "it contains a '..' segment")


def _refuse(path: str, why: str) -> None:
    raise InvalidParameterValueError(f"Invalid artifact path {path!r}: {why}.")


def file_destination(local_file: str, artifact_path: str | None) -> str:
    """Where `log_artifact(local_file, artifact_path)` puts the file, relative to the root."""
    if not os.path.isfile(local_file):
        raise InvalidParameterValueError(f"No such file to log: {local_file!r}.")
    folder = safe_relative(artifact_path)
    name = os.path.basename(local_file)
    return safe_relative(f"{folder}/{name}" if folder else name)


def join_inside(root: str, relative: str) -> str:
    """The local path of `relative` (a safe_relative path) under `root`, a resolved folder;
    refused if a symbolic link below the root leads it outside.

    Only the components below the root are examined: resolving the whole path from / for
    every file would cost a stat per component of the root too."""
    target = root
    for part in relative.split("/") if relative else ():
        target = os.path.join(target, part)
        if os.path.islink(target):
            resolved = os.path.realpath(target)
            if resolved != root and not resolved.startswith(root + os.sep):
                _refuse(relative, "a symbolic link leads it outside the artifact root")
    return target


def local_path_of(uri: str) -> str:
    """A local folder from `file:///x`, `file:/x` or a plain path."""
    if uri.startswith("file://"):
        return unquote(uri[len("file://") :]) or "/"
    if uri.startswith("file:"):
        return unquote(uri[len("file:") :])
    return uri

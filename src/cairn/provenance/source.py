"""The code that is running: its entry point (a script, a notebook or the console) and
MLflow's source tags for it (user, source name and type, git commit, branch and remote).

Cheap and synchronous (a few stats and small reads): `start_run` calls it on every run, and
a dataset built in code records it as its source.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from cairn.provenance.git import GitRepository, find_git_repository
from cairn.provenance.user import USER_TAG, current_user

SOURCE_NAME_TAG = "mlflow.source.name"
SOURCE_TYPE_TAG = "mlflow.source.type"

CONSOLE = "<console>"
NOTEBOOK = "<notebook>"
LOCAL_SOURCE = "LOCAL"
NOTEBOOK_SOURCE = "NOTEBOOK"


@dataclass(frozen=True)
class EntryPoint:
    """The code that started the process: `name` is the tag value, `path` the file if any."""

    name: str
    source_type: str
    path: str | None


def detect_entry_point() -> EntryPoint:
    """A notebook (best effort), else the main script's absolute path, else `<console>`."""
    notebook = _notebook_name()
    if notebook is not None:
        path = notebook if os.path.isfile(notebook) else None
        return EntryPoint(notebook or NOTEBOOK, NOTEBOOK_SOURCE, path)
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)  # absolute, chdir-proof
    argv0 = sys.argv[0] if sys.argv else ""
    script = main_file if isinstance(main_file, str) else argv0
    if script in ("", "-c", "-"):
        return EntryPoint(CONSOLE, LOCAL_SOURCE, None)
    return script_entry_point(script)


def script_entry_point(path: str | os.PathLike[str]) -> EntryPoint:
    """A script given by path, named absolutely so the tag survives a later chdir."""
    absolute = os.path.abspath(path)
    return EntryPoint(absolute, LOCAL_SOURCE, absolute)


def _notebook_name() -> str | None:
    """None outside a Jupyter kernel; inside one, the notebook's path when the front end
    says it (VS Code, JupyterLab), else ""."""
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    shell = get_ipython() if callable(get_ipython) else None
    if shell is None:
        return None
    if "ZMQInteractiveShell" not in {cls.__name__ for cls in type(shell).__mro__}:
        return None  # a terminal IPython: like the console
    namespace = getattr(shell, "user_ns", None)
    names = namespace if isinstance(namespace, dict) else {}
    for candidate in (names.get("__vsc_ipynb_file__"), names.get("__session__")):
        if isinstance(candidate, str) and candidate:
            return candidate
    return os.environ.get("JPY_SESSION_NAME", "")


def source_tags(entry_point: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """MLflow's start-of-run tags for the code that is running (or for `entry_point`)."""
    entry = detect_entry_point() if entry_point is None else script_entry_point(entry_point)
    repo = find_git_repository(entry.path) if entry.path else None
    return source_tags_for(entry, repo)


def source_tags_for(entry: EntryPoint, repo: GitRepository | None) -> dict[str, str]:
    """The tags for an entry point already found, and its repository (None: not in one)."""
    tags = {
        USER_TAG: current_user(),
        SOURCE_NAME_TAG: entry.name,
        SOURCE_TYPE_TAG: entry.source_type,
    }
    if repo is not None:
        tags.update(repo.tags())
    return tags

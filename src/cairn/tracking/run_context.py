"""The slow part of what code produced a run, captured beside the training code.

`start_capture()` returns MLflow's source tags at once (`cairn.provenance.source`) and runs
the slow parts in a daemon thread: `git status` and `git diff HEAD` (`cairn.provenance.git`,
subprocesses with a timeout), reading the script, listing the installed packages. The run
collects them with `Capture.result` (see `shared_capture`).

Artifacts, by path inside the run's artifacts:

* `source/<script file name>`: the entry point's bytes (cap `DEFAULT_MAX_SCRIPT_BYTES`).
* `source/uncommitted.diff`: `git diff HEAD --binary`, when tracked files changed, so
  `git apply` on the commit restores the code that ran (cap `DEFAULT_MAX_DIFF_BYTES`).
* `source/untracked.txt`: names (never contents) of untracked, non-ignored files.
* `environment/requirements.txt`, `environment/python_env.yaml` (see `environment`).

Tags known only once the thread is done (`CaptureResult.late_tags`):

* `cairn.source.git.dirty`: "true" when `git status` reports tracked changes or untracked
  files (code that HEAD alone does not reproduce), else "false"; absent when git could not run.
* `cairn.source.skipped`: comma-separated artifact paths left out for being over their cap
  (a file cut short would mislead more than a missing one).

`CAIRN_CAPTURE_SOURCE=false` turns off the source artifacts and the git subprocesses (so no
dirty tag); MLflow's tags are still set. `CAIRN_CAPTURE_ENVIRONMENT=false` drops the
environment files.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from cairn import env
from cairn.provenance import git
from cairn.provenance.git import GitRepository, find_git_repository
from cairn.provenance.source import detect_entry_point, script_entry_point, source_tags_for
from cairn.tracking import environment

GIT_DIRTY_TAG = "cairn.source.git.dirty"
SKIPPED_TAG = "cairn.source.skipped"

SOURCE_DIR = "source"
DIFF_ARTIFACT = "source/uncommitted.diff"
UNTRACKED_ARTIFACT = "source/untracked.txt"
DEFAULT_MAX_DIFF_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_SCRIPT_BYTES = 5 * 1024 * 1024
DEFAULT_GIT_TIMEOUT_SECONDS = 10.0

_logger = logging.getLogger(__name__)


def capture_source_enabled() -> bool:
    """`CAIRN_CAPTURE_SOURCE`: store the script and uncommitted diff with each run (default on)."""
    return env.capture_source()


@dataclass
class CaptureResult:
    """What the capture produced: artifact path → bytes, tags, and paths over their cap."""

    artifacts: dict[str, bytes] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    complete: bool = True

    def add(self, path: str, data: bytes, max_bytes: int) -> None:
        if len(data) > max_bytes:
            self.skipped.append(path)
        else:
            self.artifacts[path] = data

    def merge(self, other: CaptureResult) -> None:
        self.artifacts.update(other.artifacts)
        self.tags.update(other.tags)
        self.skipped.extend(p for p in other.skipped if p not in self.skipped)

    def late_tags(self) -> dict[str, str]:
        """The tags to set on the run once the capture is done."""
        tags = dict(self.tags)
        if self.skipped:
            tags[SKIPPED_TAG] = ",".join(self.skipped)
        return tags

    def write_to(self, directory: str | os.PathLike[str]) -> list[str]:
        """Write each artifact under `directory` at its relative path; return the paths."""
        for path, data in self.artifacts.items():
            parts = path.split("/")
            if path.startswith("/") or ".." in parts or "" in parts:
                raise ValueError(f"Artifact path {path!r} must be relative and normalised.")
            target = os.path.join(directory, *parts)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as file:
                file.write(data)
        return sorted(self.artifacts)


Step = Callable[[], CaptureResult]


class Capture:
    """Cheap tags now (`tags`), slow artifacts and tags later (`result`).

    The steps run one after another in a daemon thread; each one's output becomes visible as
    it finishes, so a `result(timeout)` that times out still returns what is ready."""

    def __init__(self, tags: Mapping[str, str], steps: Sequence[Step], background: bool = True):
        self.tags: dict[str, str] = dict(tags)
        self._steps = list(steps)
        self._collected = CaptureResult()
        self._lock = threading.Lock()
        self._done = threading.Event()
        if not self._steps:
            self._done.set()
        elif background:
            threading.Thread(target=self._run, name="cairn-source-capture", daemon=True).start()
        else:
            self._run()

    def _run(self) -> None:
        try:
            for step in self._steps:
                try:
                    piece = step()
                except Exception:  # one failed piece must not cost the others
                    _logger.warning(
                        "Cairn could not capture part of the run context", exc_info=True
                    )
                    continue
                with self._lock:
                    self._collected.merge(piece)
        finally:
            self._done.set()

    def done(self) -> bool:
        return self._done.is_set()

    def result(self, timeout: float | None = None) -> CaptureResult:
        """Wait up to `timeout` seconds (None: until done); `complete` says whether it was."""
        finished = self._done.wait(timeout)
        with self._lock:
            collected = self._collected
            return CaptureResult(
                dict(collected.artifacts), dict(collected.tags), list(collected.skipped), finished
            )


def start_capture(
    entry_point: str | os.PathLike[str] | None = None,
    *,
    max_diff_bytes: int = DEFAULT_MAX_DIFF_BYTES,
    max_script_bytes: int = DEFAULT_MAX_SCRIPT_BYTES,
    git_timeout: float = DEFAULT_GIT_TIMEOUT_SECONDS,
    background: bool = True,
) -> Capture:
    """Compute the cheap tags now and start the slow capture in a thread (see module doc)."""
    entry = detect_entry_point() if entry_point is None else script_entry_point(entry_point)
    repo = find_git_repository(entry.path) if entry.path else None
    tags = source_tags_for(entry, repo)
    steps: list[Step] = []
    source = capture_source_enabled()
    if source and entry.path is not None:
        steps.append(functools.partial(_script_step, entry.path, max_script_bytes))
    if environment.capture_environment_enabled():
        steps.append(_environment_step)
    if source and repo is not None:
        need_head = git.GIT_COMMIT_TAG not in tags
        steps.append(functools.partial(_git_step, repo, need_head, max_diff_bytes, git_timeout))
    return Capture(tags, steps, background)


def script_artifact_path(script: str) -> str:
    """`source/<file name>`, moved aside if the name is one the capture itself uses."""
    name = os.path.basename(script)
    path = f"{SOURCE_DIR}/{name}"
    return (
        f"{SOURCE_DIR}/entry-point-{name}" if path in (DIFF_ARTIFACT, UNTRACKED_ARTIFACT) else path
    )


def _script_step(script: str, max_bytes: int) -> CaptureResult:
    out = CaptureResult()
    path = script_artifact_path(script)
    try:
        if not os.path.isfile(script):
            return out
        if os.path.getsize(script) > max_bytes:
            out.skipped.append(path)
            return out
        with open(script, "rb") as file:
            out.add(path, file.read(max_bytes + 1), max_bytes)
    except OSError:
        pass  # deleted or unreadable since the run started: nothing to store
    return out


def _environment_step() -> CaptureResult:
    return CaptureResult(artifacts=environment.environment_artifacts())


def _git_step(
    repo: GitRepository, need_head: bool, max_diff_bytes: int, timeout: float
) -> CaptureResult:
    out = CaptureResult()
    if need_head:  # refs the direct reader could not read: ask git, if it has a commit
        commit, branch = git.git_head_via_git(repo, timeout)
        if commit is None:
            return out
        out.tags.update(repo.tags_for(commit, branch))
    status, status_over_cap = git.status(repo, timeout)
    if status_over_cap:  # certainly dirty, but too many entries to list
        out.tags[GIT_DIRTY_TAG] = "true"
        out.skipped.append(UNTRACKED_ARTIFACT)
        changed = True
    elif status is None:
        return out  # git missing or failing: say nothing rather than guess
    else:
        changed, untracked = git.parse_status(status)
        out.tags[GIT_DIRTY_TAG] = "true" if changed or untracked else "false"
        if untracked:
            out.add(UNTRACKED_ARTIFACT, b"\n".join(untracked) + b"\n", max_diff_bytes)
    if changed:
        _add_diff(out, repo, max_diff_bytes, timeout)
    return out


def _add_diff(out: CaptureResult, repo: GitRepository, max_bytes: int, timeout: float) -> None:
    diff, over_cap = git.diff_head(repo, max_bytes, timeout)
    if over_cap:
        out.skipped.append(DIFF_ARTIFACT)
    elif diff:
        out.artifacts[DIFF_ARTIFACT] = diff

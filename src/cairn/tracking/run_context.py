"""What code produced a run: MLflow's source tags, plus the script and its uncommitted changes.

Split in two so `start_run` stays fast:

* `source_tags()` is synchronous and cheap (a few stats and small reads): the user, the entry
  point, and the git commit, branch and remote read straight from `.git` (HEAD, refs,
  packed-refs, config; worktrees and submodules through their `gitdir:` files). No subprocess,
  no gitpython.
* `start_capture()` returns those tags at once and runs the slow parts in a daemon thread:
  `git status` and `git diff HEAD` (subprocesses with a timeout), reading the script, listing
  the installed packages. `Capture.finish(log_artifacts)` collects them at `end_run`.

Artifacts, by path inside the run's artifacts:

* `source/<script file name>`: the entry point's bytes (cap `DEFAULT_MAX_SCRIPT_BYTES`).
* `source/uncommitted.diff`: `git diff HEAD --binary`, when tracked files changed, so
  `git apply` on the commit restores the code that ran (cap `DEFAULT_MAX_DIFF_BYTES`).
* `source/untracked.txt`: names (never contents) of untracked, non-ignored files.
* `environment/requirements.txt`, `environment/python_env.yaml` (see `environment`).

Tags known only once the thread is done (returned by `finish`):

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
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from cairn import env
from cairn.tracking import environment
from cairn.tracking.user import USER_TAG, current_user

SOURCE_NAME_TAG = "mlflow.source.name"
SOURCE_TYPE_TAG = "mlflow.source.type"
GIT_COMMIT_TAG = "mlflow.source.git.commit"
GIT_BRANCH_TAG = "mlflow.source.git.branch"
GIT_REPO_URL_TAG = "mlflow.source.git.repoURL"
GIT_DIRTY_TAG = "cairn.source.git.dirty"
SKIPPED_TAG = "cairn.source.skipped"

SOURCE_DIR = "source"
DIFF_ARTIFACT = "source/uncommitted.diff"
UNTRACKED_ARTIFACT = "source/untracked.txt"
DEFAULT_MAX_DIFF_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_SCRIPT_BYTES = 5 * 1024 * 1024
STATUS_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_GIT_TIMEOUT_SECONDS = 10.0
DEFAULT_FINISH_TIMEOUT_SECONDS = 30.0

CONSOLE = "<console>"
NOTEBOOK = "<notebook>"
LOCAL_SOURCE = "LOCAL"
NOTEBOOK_SOURCE = "NOTEBOOK"

_logger = logging.getLogger(__name__)
_OBJECT_ID = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")  # SHA-1 or SHA-256
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")
_SECTION = re.compile(r'\[\s*([A-Za-z0-9.-]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]')
_ESCAPES = {"n": "\n", "t": "\t", "b": "\b"}
# Variables a git hook or wrapper may set that would point git at another repository.
_GIT_LOCATION_VARIABLES = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR")


def capture_source_enabled() -> bool:
    """`CAIRN_CAPTURE_SOURCE`: store the script and uncommitted diff with each run (default on)."""
    return env.capture_source()


# -- who and what ran ---------------------------------------------------------------------------


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
    return _tags(entry, repo)


def _tags(entry: EntryPoint, repo: GitRepository | None) -> dict[str, str]:
    tags = {
        USER_TAG: current_user(),
        SOURCE_NAME_TAG: entry.name,
        SOURCE_TYPE_TAG: entry.source_type,
    }
    if repo is not None:
        tags.update(repo.tags())
    return tags


# -- git, read directly -------------------------------------------------------------------------


@dataclass(frozen=True)
class GitRepository:
    """A working tree and its git directories; `common_dir` differs from `git_dir` in a
    linked worktree (refs and config are shared, HEAD is not)."""

    work_tree: str
    git_dir: str
    common_dir: str

    def head(self) -> tuple[str | None, str | None]:
        """(commit, branch); branch is None on a detached HEAD, commit None before the first
        commit or when refs are not plain files (reftable)."""
        text = _read_text(os.path.join(self.git_dir, "HEAD"))
        if text is None:
            return None, None
        text = text.strip()
        if not text.startswith("ref:"):
            return (text if _OBJECT_ID.fullmatch(text) else None), None
        ref = text[4:].strip()
        branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
        return self.resolve(ref), branch

    def resolve(self, ref: str, depth: int = 0) -> str | None:
        """The object id a ref names: loose file (this worktree's, then shared), then
        packed-refs; symbolic refs are followed as git does (5 levels)."""
        if depth > 5 or ".." in ref.split("/"):
            return None
        for base in (self.git_dir, self.common_dir):
            text = _read_text(os.path.join(base, *ref.split("/")))
            if text is None:
                continue
            text = text.strip()
            if text.startswith("ref:"):
                return self.resolve(text[4:].strip(), depth + 1)
            return text if _OBJECT_ID.fullmatch(text) else None
        return self.packed_ref(ref)

    def packed_ref(self, ref: str) -> str | None:
        """A ref's object id from packed-refs, found by search rather than parsed whole:
        large repositories pack hundreds of thousands of tags there."""
        text = _read_text(os.path.join(self.common_dir, "packed-refs"))
        if not text:
            return None
        text += "\n"
        end = text.find(f" {ref}\n")
        if end < 0:
            return None
        object_id = text[text.rfind("\n", 0, end) + 1 : end]
        return object_id if _OBJECT_ID.fullmatch(object_id) else None

    def remote_url(self) -> str | None:
        """Remote "origin"'s URL, else the first remote's, without embedded credentials."""
        urls = remote_urls(_read_text(os.path.join(self.common_dir, "config")) or "")
        url = urls.get("origin") or next(iter(urls.values()), None)
        return strip_credentials(url) if url else None

    def tags(self) -> dict[str, str]:
        """MLflow's git tags; none at all without a commit, as MLflow."""
        commit, branch = self.head()
        return self.tags_for(commit, branch)

    def tags_for(self, commit: str | None, branch: str | None) -> dict[str, str]:
        if commit is None:
            return {}
        tags = {GIT_COMMIT_TAG: commit}
        if branch:
            tags[GIT_BRANCH_TAG] = branch
        url = self.remote_url()
        if url:
            tags[GIT_REPO_URL_TAG] = url
        return tags


def find_git_repository(path: str | os.PathLike[str]) -> GitRepository | None:
    """The repository whose working tree holds `path`, searched upwards as git does."""
    directory = os.path.abspath(path)
    if not os.path.isdir(directory):
        directory = os.path.dirname(directory)
    while True:
        repo = _repository_at(directory)
        if repo is not None:
            return repo
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def _repository_at(directory: str) -> GitRepository | None:
    dotgit = os.path.join(directory, ".git")
    if os.path.isdir(dotgit):
        git_dir = dotgit
    else:  # a worktree or submodule: `.git` is a file saying where the git directory is
        text = _read_text(dotgit)
        if text is None or not text.startswith("gitdir:"):
            return None
        git_dir = os.path.normpath(os.path.join(directory, text[len("gitdir:") :].strip()))
    if not os.path.isfile(os.path.join(git_dir, "HEAD")):
        return None
    common = _read_text(os.path.join(git_dir, "commondir"))
    common_dir = os.path.normpath(os.path.join(git_dir, common.strip())) if common else git_dir
    return GitRepository(directory, git_dir, common_dir)


def remote_urls(config: str) -> dict[str, str]:
    """Each remote's first `url` in a git config file's text, in file order."""
    urls: dict[str, str] = {}
    remote: str | None = None
    for line in _logical_lines(config):
        line = line.strip()
        if line.startswith("["):
            header = _SECTION.match(line)
            remote = _remote_name(header.group(1), header.group(2)) if header else None
            line = line[header.end() :].strip() if header else ""
        if remote is None or not line or line[0] in "#;":
            continue
        key, equals, value = line.partition("=")
        if equals and key.strip().lower() == "url":
            urls.setdefault(remote, _config_value(value))
    return urls


def _remote_name(section: str, subsection: str | None) -> str | None:
    if subsection is not None:  # [remote "origin"]
        return re.sub(r"\\(.)", r"\1", subsection) if section.lower() == "remote" else None
    kind, dot, name = section.partition(".")  # the old [remote.origin] spelling
    return name.lower() if dot and kind.lower() == "remote" else None


def _logical_lines(text: str) -> Iterator[str]:
    """Lines with git's backslash-newline continuations joined."""
    pending = ""
    for line in text.splitlines():
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2:
            pending += line[:-1]
            continue
        yield pending + line
        pending = ""
    if pending:
        yield pending


def _config_value(raw: str) -> str:
    """A config value with quotes, escapes and trailing comments handled as git does."""
    out: list[str] = []
    quoted = False
    index = 0
    while index < len(raw):
        char = raw[index]
        if char == '"':
            quoted = not quoted
        elif char == "\\" and index + 1 < len(raw):
            index += 1
            out.append(_ESCAPES.get(raw[index], raw[index]))
        elif char in "#;" and not quoted:
            break
        else:
            out.append(char)
        index += 1
    return "".join(out).strip()


def strip_credentials(url: str) -> str:
    """Drop the user-info of a URL (`https://user:token@host/x` → `https://host/x`): tags are
    shown to everyone who can read the run. scp-style `git@host:repo` has no secret and stays."""
    return _USERINFO.sub(r"\1", url, count=1)


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except (OSError, UnicodeDecodeError):
        return None


# -- git, through the git binary (background only) -----------------------------------------------


def _git_command(repo: GitRepository, args: Sequence[str]) -> list[str]:
    return ["git", "--git-dir", repo.git_dir, "--work-tree", repo.work_tree, *args]


def _git_environment() -> dict[str, str]:
    """The caller's environment, minus variables that would redirect git, and with optional
    locks off so `git status` never takes index.lock from under the user's own git."""
    env = {k: v for k, v in os.environ.items() if k not in _GIT_LOCATION_VARIABLES}
    env["GIT_OPTIONAL_LOCKS"] = "0"
    return env


def run_git(
    repo: GitRepository, args: Sequence[str], max_bytes: int, timeout: float
) -> tuple[bytes | None, bool]:
    """(stdout, over_cap). stdout is None when git is missing, fails or times out; reading
    stops at `max_bytes` + 1 so a huge diff never sits in memory."""
    try:
        proc = subprocess.Popen(
            _git_command(repo, args),
            cwd=repo.work_tree,
            env=_git_environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except OSError:  # no git on PATH, or not executable
        return None, False
    timer = threading.Timer(timeout, proc.kill)
    timer.daemon = True
    timer.start()
    try:
        with proc:
            assert proc.stdout is not None
            data = bytearray()
            while len(data) <= max_bytes:
                chunk = proc.stdout.read(1 << 16)
                if not chunk:
                    break
                data += chunk
            over_cap = len(data) > max_bytes
            if over_cap:
                proc.kill()
            code = proc.wait()
    finally:
        timer.cancel()
    if over_cap:
        return None, True
    return (bytes(data) if code == 0 else None), False


def git_head_via_git(repo: GitRepository, timeout: float) -> tuple[str | None, str | None]:
    """(commit, branch) asked of git itself: for ref stores the direct reader cannot read."""
    commit, _ = run_git(repo, ["rev-parse", "--verify", "-q", "HEAD"], 1024, timeout)
    if not commit:
        return None, None
    branch, _ = run_git(repo, ["symbolic-ref", "--short", "-q", "HEAD"], 1024, timeout)
    branch_name = branch.decode().strip() if branch else ""
    return commit.decode().strip(), branch_name or None


def parse_status(output: bytes) -> tuple[bool, list[bytes]]:
    """(tracked changes?, untracked paths) from `git status --porcelain=v1 -z`."""
    changed = False
    untracked: list[bytes] = []
    entries = iter(output.split(b"\0"))
    for entry in entries:
        if len(entry) < 4:
            continue
        code, path = entry[:2], entry[3:]
        if code == b"??":
            untracked.append(path)
            continue
        changed = True
        if b"R" in code or b"C" in code:
            next(entries, None)  # a rename's second field is the old path
    return changed, untracked


# -- the background capture ---------------------------------------------------------------------


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
    """Cheap tags now (`tags`), slow artifacts and tags later (`result`, `finish`).

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

    def finish(
        self,
        log_artifacts: Callable[[str], object],
        timeout: float | None = DEFAULT_FINISH_TIMEOUT_SECONDS,
    ) -> dict[str, str]:
        """Wait for the capture, write its artifacts to a temporary directory, hand that to
        `log_artifacts` (e.g. the run's `log_artifacts(dir)`), and return the late tags."""
        result = self.result(timeout)
        if result.artifacts:
            with tempfile.TemporaryDirectory(prefix="cairn-capture-") as directory:
                result.write_to(directory)
                log_artifacts(directory)
        return result.late_tags()


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
    tags = _tags(entry, repo)
    steps: list[Step] = []
    source = capture_source_enabled()
    if source and entry.path is not None:
        steps.append(functools.partial(_script_step, entry.path, max_script_bytes))
    if environment.capture_environment_enabled():
        steps.append(_environment_step)
    if source and repo is not None:
        need_head = GIT_COMMIT_TAG not in tags
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
        commit, branch = git_head_via_git(repo, timeout)
        if commit is None:
            return out
        out.tags.update(repo.tags_for(commit, branch))
    status_args = ["status", "--porcelain=v1", "-z", "--untracked-files=normal"]
    status, status_over_cap = run_git(repo, status_args, STATUS_MAX_BYTES, timeout)
    if status_over_cap:  # certainly dirty, but too many entries to list
        out.tags[GIT_DIRTY_TAG] = "true"
        out.skipped.append(UNTRACKED_ARTIFACT)
        changed = True
    elif status is None:
        return out  # git missing or failing: say nothing rather than guess
    else:
        changed, untracked = parse_status(status)
        out.tags[GIT_DIRTY_TAG] = "true" if changed or untracked else "false"
        if untracked:
            out.add(UNTRACKED_ARTIFACT, b"\n".join(untracked) + b"\n", max_diff_bytes)
    if changed:
        _add_diff(out, repo, max_diff_bytes, timeout)
    return out


def _add_diff(out: CaptureResult, repo: GitRepository, max_bytes: int, timeout: float) -> None:
    """`git diff HEAD`, binary-safe and in plain patch form whatever the user's config says."""
    args = [
        "-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false",
        "diff", "HEAD", "--binary", "--no-color", "--no-ext-diff", "--no-textconv",
    ]  # fmt: skip
    diff, over_cap = run_git(repo, args, max_bytes, timeout)
    if over_cap:
        out.skipped.append(DIFF_ARTIFACT)
    elif diff:
        out.artifacts[DIFF_ARTIFACT] = diff

"""A git checkout read for MLflow's source tags: commit, branch and remote straight from
`.git` (HEAD, refs, packed-refs, config; worktrees and submodules through their `gitdir:`
files), with no subprocess and no gitpython, so a run can start without waiting.

What only git itself can tell (whether the tree is dirty, the uncommitted diff, refs in a
store the direct reader cannot read) goes through the git binary, with a timeout and a cap
on what is read: `cairn.tracking.run_context` asks for it in a background thread.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

GIT_COMMIT_TAG = "mlflow.source.git.commit"
GIT_BRANCH_TAG = "mlflow.source.git.branch"
GIT_REPO_URL_TAG = "mlflow.source.git.repoURL"
STATUS_MAX_BYTES = 64 * 1024 * 1024

_OBJECT_ID = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")  # SHA-1 or SHA-256
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")
_SECTION = re.compile(r'\[\s*([A-Za-z0-9.-]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]')
_ESCAPES = {"n": "\n", "t": "\t", "b": "\b"}
# Variables a git hook or wrapper may set that would point git at another repository.
_GIT_LOCATION_VARIABLES = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR")


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


def status(repo: GitRepository, timeout: float) -> tuple[bytes | None, bool]:
    """`git status --porcelain=v1 -z` (read with `parse_status`), as `run_git` returns it."""
    args = ["status", "--porcelain=v1", "-z", "--untracked-files=normal"]
    return run_git(repo, args, STATUS_MAX_BYTES, timeout)


def diff_head(repo: GitRepository, max_bytes: int, timeout: float) -> tuple[bytes | None, bool]:
    """`git diff HEAD`, binary-safe and in plain patch form whatever the user's config says,
    so `git apply` on the commit restores the working tree."""
    args = [
        "-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false",
        "diff", "HEAD", "--binary", "--no-color", "--no-ext-diff", "--no-textconv",
    ]  # fmt: skip
    return run_git(repo, args, max_bytes, timeout)

"""Source capture against real git repositories made in tmp_path (no mocks).

Each test runs git with a private configuration (GIT_CONFIG_GLOBAL=/dev/null, no system
config, fixed author), so the machine's own git settings cannot change the outcome.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cairn.provenance.git import (
    GIT_BRANCH_TAG,
    GIT_COMMIT_TAG,
    GIT_REPO_URL_TAG,
    find_git_repository,
    git_head_via_git,
    parse_status,
    remote_urls,
    strip_credentials,
)
from cairn.provenance.source import SOURCE_NAME_TAG, SOURCE_TYPE_TAG, source_tags
from cairn.provenance.user import USER_TAG, current_user
from cairn.tracking import run_context as rc

SCRIPT = "print('training')\n"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


@pytest.fixture(autouse=True)
def git_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Cairn Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.com")
    for name in ("CAIRN_CAPTURE_SOURCE", "CAIRN_TRACKING_USERNAME", "MLFLOW_TRACKING_USERNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CAIRN_CAPTURE_ENVIRONMENT", "false")  # tested on its own below


def make_repo(path: Path, script: str = SCRIPT) -> Path:
    """A repository with one commit holding train.py; returns the script's path."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    (path / "train.py").write_text(script)
    git(path, "add", "train.py")
    git(path, "commit", "-q", "-m", "first")
    return path / "train.py"


@pytest.fixture
def script(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "project")


def capture(script: Path, **options: int) -> rc.CaptureResult:
    result = rc.start_capture(script, **options).result(timeout=60)
    assert result.complete
    return result


# -- tags read directly from .git ---------------------------------------------------------------


def test_clean_repository_tags_match_git(script: Path) -> None:
    tags = source_tags(script)
    assert tags[GIT_COMMIT_TAG] == git(script.parent, "rev-parse", "HEAD")
    assert tags[GIT_BRANCH_TAG] == "main"
    assert tags[SOURCE_NAME_TAG] == str(script)
    assert tags[SOURCE_TYPE_TAG] == "LOCAL"
    assert tags[USER_TAG]
    assert GIT_REPO_URL_TAG not in tags  # no remote configured


def test_script_in_a_subdirectory_finds_the_repository_above(script: Path) -> None:
    nested = script.parent / "src" / "deep" / "job.py"
    nested.parent.mkdir(parents=True)
    nested.write_text(SCRIPT)
    tags = source_tags(nested)
    assert tags[GIT_COMMIT_TAG] == git(script.parent, "rev-parse", "HEAD")


def test_detached_head_has_a_commit_but_no_branch(script: Path) -> None:
    git(script.parent, "checkout", "-q", "--detach")
    tags = source_tags(script)
    assert tags[GIT_COMMIT_TAG] == git(script.parent, "rev-parse", "HEAD")
    assert GIT_BRANCH_TAG not in tags


def test_packed_refs_are_read_when_loose_refs_are_gone(script: Path) -> None:
    git(script.parent, "pack-refs", "--all")
    assert not (script.parent / ".git" / "refs" / "heads" / "main").exists()
    tags = source_tags(script)
    assert tags[GIT_COMMIT_TAG] == git(script.parent, "rev-parse", "HEAD")
    assert tags[GIT_BRANCH_TAG] == "main"


def test_branch_names_with_slashes(script: Path) -> None:
    git(script.parent, "checkout", "-q", "-b", "feature/faster-loader")
    assert source_tags(script)[GIT_BRANCH_TAG] == "feature/faster-loader"


def test_remote_url_has_credentials_stripped(script: Path) -> None:
    git(script.parent, "remote", "add", "origin", "https://user:s3cret@example.com/org/repo.git")
    tags = source_tags(script)
    assert tags[GIT_REPO_URL_TAG] == "https://example.com/org/repo.git"
    assert "s3cret" not in json.dumps(tags)


def test_origin_is_preferred_over_earlier_remotes(script: Path) -> None:
    git(script.parent, "remote", "add", "upstream", "https://example.com/upstream.git")
    git(script.parent, "remote", "add", "origin", "git@example.com:me/fork.git")
    assert source_tags(script)[GIT_REPO_URL_TAG] == "git@example.com:me/fork.git"


def test_first_remote_is_used_without_origin(script: Path) -> None:
    git(script.parent, "remote", "add", "upstream", "https://example.com/upstream.git")
    git(script.parent, "remote", "add", "mirror", "https://example.com/mirror.git")
    assert source_tags(script)[GIT_REPO_URL_TAG] == "https://example.com/upstream.git"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:token@host.example/org/repo.git", "https://host.example/org/repo.git"),
        ("https://ghp_token@github.com/org/repo", "https://github.com/org/repo"),
        ("https://user:p@ss@host.example/x", "https://host.example/x"),
        ("ssh://git@host.example:2222/org/repo.git", "ssh://host.example:2222/org/repo.git"),
        ("https://host.example/path/with@sign", "https://host.example/path/with@sign"),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
        ("/srv/git/repo.git", "/srv/git/repo.git"),
    ],
)
def test_strip_credentials(url: str, expected: str) -> None:
    assert strip_credentials(url) == expected


def test_remote_urls_follow_git_config_syntax() -> None:
    config = (
        "[core]\n\tbare = false\n"
        '[remote "origin"] url = "https://example.com/a b.git" ; a comment\n'
        "\tfetch = +refs/heads/*:refs/remotes/origin/*\n"
        "[remote.Backup]\n\tURL = https://example.com/\\\nbackup.git # comment\n"
        '[branch "main"]\n\turl = not-a-remote\n'
    )
    assert remote_urls(config) == {
        "origin": "https://example.com/a b.git",
        "backup": "https://example.com/backup.git",
    }


def test_worktree_reads_its_own_head_and_the_shared_refs(script: Path) -> None:
    worktree = script.parent.parent / "wt"
    git(script.parent, "remote", "add", "origin", "https://example.com/org/repo.git")
    git(script.parent, "worktree", "add", "-q", "-b", "feature", str(worktree))
    (worktree / "train.py").write_text(SCRIPT + "print('feature')\n")
    git(worktree, "commit", "-q", "-am", "feature work")
    tags = source_tags(worktree / "train.py")
    assert tags[GIT_COMMIT_TAG] == git(worktree, "rev-parse", "HEAD")
    assert tags[GIT_COMMIT_TAG] != git(script.parent, "rev-parse", "HEAD")
    assert tags[GIT_BRANCH_TAG] == "feature"
    assert tags[GIT_REPO_URL_TAG] == "https://example.com/org/repo.git"


def test_worktree_dirty_state_is_its_own(script: Path) -> None:
    worktree = script.parent.parent / "wt"
    git(script.parent, "worktree", "add", "-q", "-b", "feature", str(worktree))
    (worktree / "train.py").write_text("print('edited in the worktree')\n")
    in_worktree = capture(worktree / "train.py")
    assert in_worktree.tags[rc.GIT_DIRTY_TAG] == "true"
    assert b"+print('edited in the worktree')" in in_worktree.artifacts[rc.DIFF_ARTIFACT]
    assert capture(script).tags[rc.GIT_DIRTY_TAG] == "false"


def test_submodule_reports_its_own_commit_and_remote(tmp_path: Path) -> None:
    library = make_repo(tmp_path / "library").parent
    main = make_repo(tmp_path / "main").parent
    git(main, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(library), "lib")
    git(main, "commit", "-q", "-m", "add submodule")
    assert (main / "lib" / ".git").is_file()  # a gitdir: file, not a directory
    tags = source_tags(main / "lib" / "train.py")
    assert tags[GIT_COMMIT_TAG] == git(library, "rev-parse", "HEAD")
    assert tags[GIT_COMMIT_TAG] != git(main, "rev-parse", "HEAD")
    assert tags[GIT_REPO_URL_TAG] == str(library)
    assert capture(main / "lib" / "train.py").tags[rc.GIT_DIRTY_TAG] == "false"


def test_git_itself_agrees_with_the_direct_reader(script: Path) -> None:
    """The fallback for ref stores the direct reader cannot read (reftable) gives the same."""
    git(script.parent, "checkout", "-q", "-b", "topic")
    repo = find_git_repository(script)
    assert repo is not None
    assert (
        git_head_via_git(repo, 30)
        == repo.head()
        == (
            git(script.parent, "rev-parse", "HEAD"),
            "topic",
        )
    )


def test_repository_without_commits_has_no_git_tags(tmp_path: Path) -> None:
    project = tmp_path / "fresh"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    (project / "train.py").write_text(SCRIPT)
    tags = source_tags(project / "train.py")
    assert not any(key.startswith("mlflow.source.git.") for key in tags)
    result = capture(project / "train.py")
    assert rc.GIT_DIRTY_TAG not in result.tags
    assert result.artifacts == {"source/train.py": SCRIPT.encode()}


def test_script_outside_any_repository(tmp_path: Path) -> None:
    loose = tmp_path / "loose" / "train.py"
    loose.parent.mkdir()
    loose.write_text(SCRIPT)
    assert find_git_repository(loose) is None
    tags = source_tags(loose)
    assert not any("git" in key for key in tags)
    result = capture(loose)
    assert result.late_tags() == {}
    assert result.artifacts == {"source/train.py": SCRIPT.encode()}


# -- the background capture ---------------------------------------------------------------------


def test_clean_repository_is_not_dirty_and_stores_the_script(script: Path) -> None:
    result = capture(script)
    assert result.late_tags() == {rc.GIT_DIRTY_TAG: "false"}
    assert result.artifacts == {"source/train.py": SCRIPT.encode()}


def test_dirty_repository_diff_holds_the_change_and_applies(script: Path) -> None:
    script.write_text(SCRIPT + "print('changed')\n")
    result = capture(script)
    diff = result.artifacts[rc.DIFF_ARTIFACT]
    assert result.tags[rc.GIT_DIRTY_TAG] == "true"
    assert b"+print('changed')" in diff
    patch = script.parent.parent / "change.diff"
    patch.write_bytes(diff)
    git(script.parent, "apply", "--check", "--reverse", str(patch))  # a real, exact patch
    assert result.artifacts["source/train.py"] == script.read_bytes()


def test_untracked_files_are_listed_by_name_only(script: Path) -> None:
    (script.parent / "notes.txt").write_text("private notes\n")
    (script.parent / "data").mkdir()
    (script.parent / "data" / "x.csv").write_text("1,2\n")
    (script.parent / ".gitignore").write_text("ignored.log\n")
    (script.parent / "ignored.log").write_text("noise\n")
    result = capture(script)
    assert result.tags[rc.GIT_DIRTY_TAG] == "true"
    names = result.artifacts[rc.UNTRACKED_ARTIFACT].decode().splitlines()
    assert names == [".gitignore", "data/", "notes.txt"]
    assert rc.DIFF_ARTIFACT not in result.artifacts  # no tracked change to diff
    assert all(b"private notes" not in data for data in result.artifacts.values())


def test_binary_change_is_stored_as_an_applicable_binary_patch(script: Path) -> None:
    blob = script.parent / "weights.bin"
    blob.write_bytes(bytes(range(256)) * 4)
    git(script.parent, "add", "weights.bin")
    git(script.parent, "commit", "-q", "-m", "weights")
    blob.write_bytes(bytes(reversed(range(256))) * 4)
    diff = capture(script).artifacts[rc.DIFF_ARTIFACT]
    assert b"GIT binary patch" in diff
    patch = script.parent.parent / "binary.diff"
    patch.write_bytes(diff)
    git(script.parent, "apply", "--check", "--reverse", str(patch))


def test_staged_rename_counts_as_a_change(script: Path) -> None:
    git(script.parent, "mv", "train.py", "fit.py")
    moved = script.parent / "fit.py"
    result = capture(moved)
    assert result.tags[rc.GIT_DIRTY_TAG] == "true"
    assert b"rename from train.py" in result.artifacts[rc.DIFF_ARTIFACT]
    assert rc.UNTRACKED_ARTIFACT not in result.artifacts
    assert "source/fit.py" in result.artifacts


def test_without_a_git_binary_the_direct_tags_remain(
    script: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script.write_text(SCRIPT + "print('changed')\n")
    empty = tmp_path / "no-git-here"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert shutil.which("git") is None
    capture_ = rc.start_capture(script)
    assert capture_.tags[GIT_BRANCH_TAG] == "main"
    assert len(capture_.tags[GIT_COMMIT_TAG]) == 40
    result = capture_.result(timeout=60)
    assert rc.GIT_DIRTY_TAG not in result.tags
    assert set(result.artifacts) == {"source/train.py"}


def test_over_cap_artifacts_are_skipped_and_named_in_a_tag(script: Path) -> None:
    script.write_text(SCRIPT + "print('changed')\n" * 50)
    result = capture(script, max_diff_bytes=100, max_script_bytes=10)
    assert result.artifacts == {}
    assert result.late_tags()[rc.SKIPPED_TAG] == "source/train.py,source/uncommitted.diff"
    assert result.tags[rc.GIT_DIRTY_TAG] == "true"


def test_under_cap_artifacts_are_kept_whole(script: Path) -> None:
    script.write_text(SCRIPT + "print('changed')\n")
    size = len(script.read_bytes())
    result = capture(script, max_diff_bytes=10_000, max_script_bytes=size)
    assert result.artifacts["source/train.py"] == script.read_bytes()
    assert rc.DIFF_ARTIFACT in result.artifacts
    assert rc.SKIPPED_TAG not in result.late_tags()


def test_capture_source_false_keeps_only_the_cheap_tags(
    script: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script.write_text("print('changed')\n")
    monkeypatch.setenv("CAIRN_CAPTURE_SOURCE", "false")
    capture_ = rc.start_capture(script)
    result = capture_.result(timeout=60)
    assert result.artifacts == {} and result.late_tags() == {}
    assert capture_.tags[GIT_COMMIT_TAG] == git(script.parent, "rev-parse", "HEAD")


def test_environment_files_are_captured_too(script: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAIRN_CAPTURE_ENVIRONMENT", "true")
    monkeypatch.setenv("CAIRN_CAPTURE_SOURCE", "false")
    result = capture(script)
    assert set(result.artifacts) == {
        "environment/requirements.txt",
        "environment/python_env.yaml",
    }
    assert b"pytest==" in result.artifacts["environment/requirements.txt"]


def test_a_finished_capture_gives_its_files_and_late_tags(script: Path, tmp_path: Path) -> None:
    script.write_text(SCRIPT + "print('changed')\n")
    result = rc.start_capture(script).result(timeout=60)
    assert result.complete and result.late_tags() == {rc.GIT_DIRTY_TAG: "true"}
    written = result.write_to(tmp_path / "capture")
    assert written == ["source/train.py", "source/uncommitted.diff"]
    assert (tmp_path / "capture" / "source" / "train.py").read_bytes() == script.read_bytes()


def test_a_capture_switched_off_has_no_files_and_no_late_tags(
    script: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAIRN_CAPTURE_SOURCE", "false")
    result = rc.start_capture(script).result(timeout=60)
    assert result.artifacts == {} and result.late_tags() == {}


def test_result_before_the_end_returns_what_is_ready() -> None:
    started = threading.Event()
    release = threading.Event()

    def quick() -> rc.CaptureResult:
        return rc.CaptureResult(artifacts={"source/a.py": b"a"})

    def slow() -> rc.CaptureResult:
        started.set()
        release.wait(60)
        return rc.CaptureResult(tags={rc.GIT_DIRTY_TAG: "false"})

    capture_ = rc.Capture({"k": "v"}, [quick, slow])
    assert started.wait(60)  # `quick` has been merged before `slow` began
    partial = capture_.result(timeout=0)
    assert not partial.complete and not capture_.done()
    assert partial.artifacts == {"source/a.py": b"a"} and partial.tags == {}
    release.set()
    whole = capture_.result(timeout=60)
    assert whole.complete and whole.tags == {rc.GIT_DIRTY_TAG: "false"}
    assert capture_.tags == {"k": "v"}


def test_a_failing_step_does_not_lose_the_others(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> rc.CaptureResult:
        raise RuntimeError("disk on fire")

    def fine() -> rc.CaptureResult:
        return rc.CaptureResult(artifacts={"source/b.py": b"b"})

    result = rc.Capture({}, [broken, fine], background=False).result(timeout=0)
    assert result.complete and result.artifacts == {"source/b.py": b"b"}
    assert "disk on fire" in caplog.text


def test_write_to_refuses_paths_that_leave_the_directory(tmp_path: Path) -> None:
    for bad in ("../escape.txt", "/abs.txt", "source//x"):
        with pytest.raises(ValueError, match="relative"):
            rc.CaptureResult(artifacts={bad: b"x"}).write_to(tmp_path)


def test_script_names_that_clash_with_capture_files_are_moved_aside() -> None:
    assert rc.script_artifact_path("/x/uncommitted.diff") == "source/entry-point-uncommitted.diff"
    assert rc.script_artifact_path("/x/train.py") == "source/train.py"


# -- who and what ran ---------------------------------------------------------------------------


def test_user_comes_from_cairn_then_mlflow_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "mlflow-user")
    assert current_user() == "mlflow-user"
    monkeypatch.setenv("CAIRN_TRACKING_USERNAME", "cairn-user")
    assert source_tags()[USER_TAG] == "cairn-user"


def _tags_in_subprocess(args: list[str], cwd: Path) -> dict[str, str]:
    code = "import json; from cairn.provenance.source import source_tags; "
    code += "print(json.dumps(source_tags()))"
    if args == ["-c"]:
        argv = [sys.executable, "-c", code]
    else:
        (cwd / args[0]).write_text(code + "\n")
        argv = [sys.executable, *args]
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=True, timeout=120)
    tags: dict[str, str] = json.loads(done.stdout)
    return tags


def test_a_script_run_is_named_by_its_absolute_path(script: Path) -> None:
    tags = _tags_in_subprocess(["job.py"], script.parent)  # started with a relative path
    assert tags[SOURCE_NAME_TAG] == str(script.parent / "job.py")
    assert tags[SOURCE_TYPE_TAG] == "LOCAL"
    assert tags[GIT_COMMIT_TAG] == git(script.parent, "rev-parse", "HEAD")


def test_python_dash_c_is_the_console(script: Path) -> None:
    tags = _tags_in_subprocess(["-c"], script.parent)
    assert tags[SOURCE_NAME_TAG] == "<console>"
    assert tags[SOURCE_TYPE_TAG] == "LOCAL"
    assert GIT_COMMIT_TAG not in tags  # MLflow ties git tags to the script, not the cwd


def test_capture_source_flag_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    for raw, expected in [("", True), ("true", True), ("0", False), ("Off", False)]:
        monkeypatch.setenv("CAIRN_CAPTURE_SOURCE", raw)
        assert rc.capture_source_enabled() is expected


def test_synchronous_part_is_cheap(script: Path) -> None:
    """The start_run budget is 50 ms; the direct .git reader needs well under 1 ms."""
    git(script.parent, "remote", "add", "origin", "https://example.com/org/repo.git")
    samples = []
    for _ in range(9):
        started = time.perf_counter()
        capture_ = rc.start_capture(script)
        samples.append(time.perf_counter() - started)
        assert capture_.result(timeout=60).complete  # the background part is not timed
    assert statistics.median(samples) < 0.050


def test_status_parsing_skips_a_renames_old_path() -> None:
    """With -z, a rename is `R  new NUL old NUL`; the old path must not read as an entry."""
    output = b"R  new.py\0?? looks-untracked.py\0?? notes.txt\0 M train.py\0"
    assert parse_status(output) == (True, [b"notes.txt"])
    assert parse_status(b"?? a\0?? b/\0") == (False, [b"a", b"b/"])
    assert parse_status(b"") == (False, [])

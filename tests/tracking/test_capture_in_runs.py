"""start_run records which code and environment produced a run, and end_run stores it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import cairn

SCRIPT = """
import json, sys, cairn
cairn.set_tracking_uri(sys.argv[1])
with cairn.start_run() as run:
    with cairn.start_run(nested=True) as child:
        pass
print(json.dumps({"run": run.info.run_id, "child": child.info.run_id}))
"""


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def project(tmp_path: Path, workdir: Path) -> Path:
    """A git repository holding a training script, committed, with a remote."""
    repo = tmp_path / "project"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text(SCRIPT)
    (repo / "model.py").write_text("DEPTH = 3\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "first")
    _git(repo, "remote", "add", "origin", "https://user:secret@example.invalid/team/project.git")
    return repo


def _run_script(project: Path, tmp_path: Path, **env: str) -> tuple[cairn.Client, dict[str, str]]:
    uri = f"sqlite:///{tmp_path / 'store' / 'cairn.db'}"
    environment = {
        **os.environ,
        "CAIRN_CAPTURE_SOURCE": "true",
        "CAIRN_CAPTURE_ENVIRONMENT": "true",
        **env,
    }
    done = subprocess.run(
        [sys.executable, "train.py", uri],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    cairn.set_tracking_uri(uri)  # for cairn.artifacts.load_*, as for MLflow's
    return cairn.Client(uri), json.loads(done.stdout)


def _files(client: cairn.Client, run_id: str, path: str | None = None) -> list[str]:
    found = []
    for entry in client.list_artifacts(run_id, path):
        found.extend(_files(client, run_id, entry.path) if entry.is_dir else [entry.path])
    return found


def test_a_dirty_checkout_is_recorded_with_its_diff(project: Path, tmp_path: Path) -> None:
    (project / "model.py").write_text("DEPTH = 5\n")
    client, ids = _run_script(project, tmp_path)
    run = client.get_run(ids["run"])
    tags = run.data.tags
    assert tags["mlflow.source.name"] == str(project / "train.py")
    assert tags["mlflow.source.type"] == "LOCAL"
    assert tags["mlflow.source.git.commit"] == _git(project, "rev-parse", "HEAD")
    assert tags["mlflow.source.git.branch"] == "main"
    assert tags["mlflow.source.git.repoURL"] == "https://example.invalid/team/project.git"
    assert tags["cairn.source.git.dirty"] == "true"
    assert _files(client, ids["run"]) == [
        "environment/python_env.yaml",
        "environment/requirements.txt",
        "source/train.py",
        "source/uncommitted.diff",
    ]
    diff = cairn.artifacts.load_text(f"runs:/{ids['run']}/source/uncommitted.diff")
    assert "-DEPTH = 3" in diff and "+DEPTH = 5" in diff
    assert cairn.artifacts.load_text(f"runs:/{ids['run']}/source/train.py") == SCRIPT
    requirements = cairn.artifacts.load_text(
        f"runs:/{ids['run']}/environment/requirements.txt"
    ).lower()
    assert "sqlalchemy==" in requirements and "pandas==" in requirements


def test_a_clean_checkout_has_no_diff(project: Path, tmp_path: Path) -> None:
    client, ids = _run_script(project, tmp_path)
    assert client.get_run(ids["run"]).data.tags["cairn.source.git.dirty"] == "false"
    assert "source/uncommitted.diff" not in _files(client, ids["run"])


def test_nested_runs_get_the_tags_but_not_the_files(project: Path, tmp_path: Path) -> None:
    client, ids = _run_script(project, tmp_path)
    child = client.get_run(ids["child"])
    assert child.data.tags["mlflow.parentRunId"] == ids["run"]
    assert child.data.tags["mlflow.source.git.branch"] == "main"
    assert _files(client, ids["child"]) == []


def test_source_capture_can_be_switched_off(project: Path, tmp_path: Path) -> None:
    (project / "model.py").write_text("DEPTH = 7\n")
    client, ids = _run_script(project, tmp_path, CAIRN_CAPTURE_SOURCE="false")
    assert _files(client, ids["run"]) == [
        "environment/python_env.yaml",
        "environment/requirements.txt",
    ]
    tags = client.get_run(ids["run"]).data.tags
    assert "mlflow.source.git.commit" in tags  # the tags stay: they cost nothing
    assert "cairn.source.git.dirty" not in tags


def test_system_metrics_are_sampled_when_asked(workdir: Path) -> None:
    with cairn.start_run(log_system_metrics=True) as run:
        pass
    metrics = cairn.get_run(run.info.run_id).data.metrics
    assert 0 <= metrics["system/cpu_utilization_percentage"] <= 100 * (os.cpu_count() or 1)
    assert metrics["system/system_memory_usage_megabytes"] > 0


def test_system_metrics_follow_the_environment_variable(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAIRN_LOG_SYSTEM_METRICS", "true")
    with cairn.start_run() as run:
        pass
    with cairn.start_run(log_system_metrics=False) as quiet:
        pass
    assert "system/cpu_utilization_percentage" in cairn.get_run(run.info.run_id).data.metrics
    assert not any(k.startswith("system/") for k in cairn.get_run(quiet.info.run_id).data.metrics)

"""The docs tell the truth: the README's commands are the ones CI and users run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _readme_commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", README)


def test_readme_has_the_two_fresh_machine_commands() -> None:
    commands = _readme_commands()
    assert any("examples/quickstart.py" in c for c in commands)
    assert any("pytest" in c for c in commands)


def test_every_extra_the_docs_name_exists() -> None:
    """`cairn-tracker[x]` in the README and `'cairn-tracker[x]'` in an error message name
    extras that pyproject.toml defines, and no text still names the index's other `cairn`."""
    extras = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    )
    texts = [README, *(p.read_text() for p in (ROOT / "src" / "cairn").rglob("*.py"))]
    named = {
        x.strip()
        for t in texts
        for m in re.findall(r"cairn-tracker\[([^\]]+)\]", t)
        for x in m.split(",")
    }
    assert named and named <= extras, named - extras
    stale = [line for t in texts for line in t.splitlines() if re.search(r"'?cairn\[", line)]
    assert not stale


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    test_command = next(c for c in _readme_commands() if "pytest" in c)
    ci_script = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci_script.splitlines()


def test_quickstart_runs_on_the_default_store(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cairn-data" / "cairn.db").exists()
    assert "best run: 50 loss points" in result.stdout


@pytest.mark.parametrize(
    "command",
    [
        ["--help"],
        ["db", "--help"],
        ["db", "upgrade", "--help"],
        ["doctor", "--help"],
        ["gc", "--help"],
        ["storage", "--help"],
        ["server", "--help"],
        ["ui", "--help"],
        ["models", "--help"],
        ["models", "serve", "--help"],
        ["models", "predict", "--help"],
        ["models", "list", "--help"],
        ["models", "versions", "--help"],
        ["models", "transition", "--help"],
        ["models", "alias", "--help"],
        ["models", "history", "--help"],
        ["users", "grant-model", "--help"],
        ["import", "--help"],
        ["import", "mlflow", "--help"],
        ["import", "tensorboard", "--help"],
        ["export", "mlflow", "--help"],
    ],
)
def test_every_cli_command_has_help(command: list[str]) -> None:
    from click.testing import CliRunner

    from cairn.cli import cli

    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 0
    assert "Usage:" in result.output
    assert len(result.output.splitlines()) > 3


def test_cli_db_upgrade_migrates_and_reports(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cairn.cli import cli
    from cairn.store.sql import engine, migrate

    uri = f"sqlite:///{tmp_path / 'fresh.db'}"
    first = CliRunner().invoke(cli, ["db", "upgrade", uri])
    second = CliRunner().invoke(cli, ["db", "upgrade", uri])
    assert first.exit_code == 0 and "migrated from revision none" in first.output
    assert second.exit_code == 0 and "already at revision" in second.output
    assert migrate.current_revision(engine.create(uri)) == migrate.HEAD


def test_cli_db_upgrade_reports_a_bad_uri_as_an_error() -> None:
    from click.testing import CliRunner

    from cairn.cli import cli

    result = CliRunner().invoke(cli, ["db", "upgrade", "not-a-uri"])
    assert result.exit_code != 0
    assert "Invalid database URI" in result.output

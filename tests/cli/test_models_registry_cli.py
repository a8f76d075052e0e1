"""`cairn models list|versions|transition|alias|history` on a real SQLite store, checked by
reading the registry back through the Client, not by trusting the printed text."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import cairn
from cairn.cli import cli


@pytest.fixture
def registered(workdir: Path) -> str:
    """A registered model `churn` with versions 1 and 2 (registered from run artifacts)."""
    client = cairn.Client()
    with cairn.start_run() as run:
        cairn.log_text("weights", "model/MLmodel")
    for _ in range(2):
        client.register_model(f"runs:/{run.info.run_id}/model", "churn")
    return cairn.get_tracking_uri()


def _run(uri: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["models", *args, "--tracking-uri", uri])


def test_transition_and_alias_change_the_registry(registered: str) -> None:
    done = _run(registered, "transition", "churn", "1", "production")
    assert done.exit_code == 0, done.output
    assert "Production" in done.output
    assert _run(registered, "alias", "churn", "champion", "1").exit_code == 0
    client = cairn.Client()
    assert client.get_model_version("churn", 1).current_stage == "Production"
    assert client.get_model_version_by_alias("churn", "champion").version == "1"
    moved = _run(registered, "transition", "churn", "2", "Production", "--archive-existing")
    assert moved.exit_code == 0, moved.output
    assert client.get_model_version("churn", 1).current_stage == "Archived"
    assert _run(registered, "alias", "churn", "champion", "--delete").exit_code == 0
    assert client.get_registered_model("churn").aliases == {}


def test_list_versions_and_history_show_what_is_stored(registered: str) -> None:
    _run(registered, "transition", "churn", "2", "Staging")
    listed = _run(registered, "list")
    assert listed.exit_code == 0
    rows = [line.split("\t") for line in listed.output.splitlines()]
    assert rows[0][0] == "name" and rows[1][0] == "churn"
    assert "Staging:2" in rows[1][1]
    versions = _run(registered, "versions", "churn").output.splitlines()
    assert [line.split("\t")[:2] for line in versions[1:]] == [["2", "Staging"], ["1", "None"]]
    history = _run(registered, "history", "churn", "2").output.splitlines()
    assert any("\tstage\t" in line and "\tNone\tStaging\t" in line for line in history)


@pytest.mark.parametrize(
    "args",
    [
        ("transition", "churn", "1", "Live"),
        ("transition", "nobody", "1", "Staging"),
        ("versions", "nobody"),
        ("alias", "churn", "latest", "1"),
        ("history", "churn", "9"),
    ],
)
def test_bad_commands_fail_with_mlflows_error_code(registered: str, args: tuple[str, ...]) -> None:
    result = _run(registered, *args)
    assert result.exit_code == 1
    assert "INVALID_PARAMETER_VALUE" in result.output or "RESOURCE_DOES_NOT_EXIST" in result.output
    assert cairn.Client().get_model_version("churn", 1).current_stage == "None"


def test_alias_needs_a_version_or_delete(registered: str) -> None:
    assert _run(registered, "alias", "churn", "champion").exit_code == 2

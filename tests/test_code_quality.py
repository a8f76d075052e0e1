"""Lint and strict typing are part of the test run, so CI enforces them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_ruff_finds_nothing_in_the_package() -> None:
    result = _run("ruff", "check", "src")
    assert result.returncode == 0, result.stdout + result.stderr


def test_contributings_lint_command_passes_on_the_whole_tree() -> None:
    """CONTRIBUTING's `ruff check . && ruff format --check .`, as a contributor runs it."""
    assert (
        ".venv/bin/ruff check . && .venv/bin/ruff format --check ."
        in (ROOT / "CONTRIBUTING.md").read_text()
    )
    for command in (("check", "."), ("format", "--check", ".")):
        result = _run("ruff", *command)
        assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_passes_on_the_package() -> None:
    result = _run("mypy", "src/cairn")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_layers_import_only_downwards() -> None:
    """The import-linter contracts in pyproject.toml: each layer imports only those below it,
    nothing imports the server, and the public facades are for users only."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr

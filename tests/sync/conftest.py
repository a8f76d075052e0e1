"""Two SQLite stores for the sync tests: a source and a destination, in a clean working
directory (no Cairn configuration)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import cairn


@pytest.fixture
def source(workdir: Path) -> Iterator[cairn.Client]:
    yield cairn.Client(f"sqlite:///{workdir}/source/cairn.db")


@pytest.fixture
def destination(workdir: Path) -> Iterator[cairn.Client]:
    yield cairn.Client(f"sqlite:///{workdir}/destination/cairn.db")

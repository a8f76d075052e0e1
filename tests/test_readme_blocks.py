"""Every code block in the README runs as written, in order, from one fresh folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from readme_walkthrough import ROOT, SERVING, Walkthrough, port_free, readme_blocks, server_port

README = (ROOT / "README.md").read_text()
BLOCKS = readme_blocks(README)


def test_the_readme_has_blocks_of_both_kinds() -> None:
    assert {b.language for b in BLOCKS} == {"python", "sh", "yaml"}
    assert len(BLOCKS) >= 15


def test_every_readme_block_runs_as_written_in_order(tmp_path: Path) -> None:
    ports = {
        server_port(line)
        for b in BLOCKS
        for line in b.text.splitlines()
        if line.startswith(SERVING)
    }
    taken = sorted(p for p in ports if not port_free(p))
    if taken:
        pytest.fail(f"the README's ports {taken} are taken on 127.0.0.1; free them to run this")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    reader = Walkthrough(tmp_path)
    try:
        for block in BLOCKS:
            reader.run_block(block)
    finally:
        reader.close()
    # What the blocks left behind is what the README says they make.
    assert (tmp_path / "cairn-data" / "cairn.db").exists()
    assert (tmp_path / "team" / "cairn.db").exists()
    assert (tmp_path / "back-to-mlflow.db").exists()
    report = json.loads((tmp_path / "report.json").read_text())
    assert report
    predictions = json.loads((tmp_path / "out.json").read_text())["predictions"]
    assert len(predictions) == 3

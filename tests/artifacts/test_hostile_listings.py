"""A hostile artifact proxy cannot make a download run forever (issue 19).

A real HTTP server on 127.0.0.1 answers MLflow's listing JSON with a folder nested in itself
without end, a path listed twice, or more files than allowed; each download stops with a
clear error after a bounded number of requests, having written nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# A plain module beside this file (conftest modules cannot be imported reliably).
from hostile_listing_support import (
    legitimate,
    lists_twice,
    nests_itself,
    run_corpus,
    serve,
    try_listing,
    wide,
)

import cairn
from cairn.artifact_store.http import HttpArtifactRepository
from cairn.exceptions import InvalidParameterValueError

# Before the bounds, a listing nested in itself made a download run forever.
pytestmark = pytest.mark.timeout(60)


def test_a_folder_nested_in_itself_stops_at_the_depth_bound() -> None:
    outcome = try_listing("nests-itself", nests_itself, hostile=True)
    assert isinstance(outcome.error, InvalidParameterValueError), outcome.error
    assert "CAIRN_ARTIFACT_DOWNLOAD_MAX_DEPTH=64" in outcome.error.message
    assert "loop/loop/loop" in outcome.error.message
    assert outcome.listings <= 66  # one listing per level, then the refusal


def test_the_depth_bound_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAIRN_ARTIFACT_DOWNLOAD_MAX_DEPTH", "3")
    outcome = try_listing("nests-itself", nests_itself, hostile=True)
    assert isinstance(outcome.error, InvalidParameterValueError)
    assert "MAX_DEPTH=3" in outcome.error.message
    assert outcome.listings <= 5


def test_a_path_listed_twice_is_refused_as_a_loop() -> None:
    outcome = try_listing("lists-twice", lists_twice, hostile=True)
    assert isinstance(outcome.error, InvalidParameterValueError), outcome.error
    assert "'a.txt' is listed twice" in outcome.error.message


def test_too_many_files_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAIRN_ARTIFACT_DOWNLOAD_MAX_FILES", "100")
    outcome = try_listing("wide", wide(101), hostile=True)
    assert isinstance(outcome.error, InvalidParameterValueError), outcome.error
    assert "more than 100 files and folders" in outcome.error.message
    assert "CAIRN_ARTIFACT_DOWNLOAD_MAX_FILES" in outcome.error.message
    assert try_listing("wide", wide(100), hostile=False).error is None  # the bound itself


def test_an_honest_tree_still_downloads(tmp_path: Path) -> None:
    with serve(legitimate) as server:
        local = Path(HttpArtifactRepository(server.url).download_artifacts("", str(tmp_path)))
    found = sorted(str(p.relative_to(local)) for p in local.rglob("*") if p.is_file())
    assert found == ["a/b/deep.txt", "a/mid.txt", "top.txt"]


def test_the_public_download_is_bounded_too(tmp_path: Path) -> None:
    """`cairn.artifacts.download_artifacts` of a folder (first asked for as a file: the
    proxy answers 400, and the parent's listing says it is a folder)."""
    with serve(nests_itself) as server, pytest.raises(InvalidParameterValueError, match="DEPTH"):
        cairn.artifacts.download_artifacts(f"{server.url}/loop", dst_path=str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_the_corpus_refuses_every_hostile_listing() -> None:
    outcomes = run_corpus()
    assert [o.case for o in outcomes if o.hostile and not o.refused] == []
    assert all(o.error is None for o in outcomes if not o.hostile)

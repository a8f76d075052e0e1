"""The ArtifactRepository contract of tests/artifacts/, run again through a live server's
artifact proxy: an HttpArtifactRepository on a fresh root per test, in both spellings
(`mlflow-artifacts:/…` resolved against the tracking URI, and the proxy's http:// URL).

The tests about one implementation (S3 parsing, boto3 imports, which class an entry point
builds) are not collected; neither are those that need an empty folder to survive: the
proxy's protocol has no way to create one (MLflow's has none either), so an empty folder
logged is not stored. What the HTTP repository does with one instead is tested below.
"""

from __future__ import annotations

import inspect
import sys
import uuid
from pathlib import Path

import pytest

import cairn
from cairn.artifact_store.http import PROXY_PATH, HttpArtifactRepository
from cairn.artifact_store.uri import artifact_repository

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "artifacts"))
import test_repository_contract as contract
from artifact_surroundings import ROOT_PREFIX

# An empty folder is part of what these check ("a/empty" in the `nested` tree).
NEEDS_EMPTY_FOLDERS = {
    "test_a_tree_lists_at_every_depth",
    "test_a_folder_downloads_as_a_whole_tree",
    "test_the_root_downloads_as_artifacts",
    "test_an_empty_folder_logged_is_an_empty_folder",
    "test_deleting_a_folder_deletes_its_tree_and_only_it",
}
ABOUT_ONE_IMPLEMENTATION = {"test_the_entry_point_builds_the_repository_for_the_scheme"}
LEFT_OUT = NEEDS_EMPTY_FOLDERS | ABOUT_ONE_IMPLEMENTATION


def _contract_tests() -> dict[str, object]:
    found: dict[str, object] = {}
    for name, value in vars(contract).items():
        if name in ("src", "dst", "nested"):  # the contract's own fixtures
            found[name] = value
        elif (
            name.startswith("test_") and name not in NEEDS_EMPTY_FOLDERS | ABOUT_ONE_IMPLEMENTATION
        ):
            if "repository" in inspect.signature(value).parameters:
                found[name] = value
    return found


globals().update(_contract_tests())


@pytest.fixture(params=["mlflow-artifacts", "http"])
def repository(
    request: pytest.FixtureRequest, rest_server: object, workdir: Path
) -> HttpArtifactRepository:
    """A fresh root on the live server, per test; the tracking URI is the server."""
    url = rest_server.url  # type: ignore[attr-defined]
    cairn.set_tracking_uri(url)
    root = f"t-{uuid.uuid4().hex[:12]}/{ROOT_PREFIX}"
    if request.param == "http":
        return HttpArtifactRepository(f"{url}{PROXY_PATH}/{root}")
    repository = artifact_repository(f"mlflow-artifacts:/{root}", cairn.get_tracking_uri())
    assert isinstance(repository, HttpArtifactRepository)
    return repository

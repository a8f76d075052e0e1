"""HttpArtifactRepository beyond the shared contract: streaming a large file, refusing
traversal before any request, distrusting what a server lists, transfers cut short, and
the artifact roots a Cairn server hands out (`mlflow-artifacts:/…`) end to end."""

from __future__ import annotations

import hashlib
import json
import random
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from scripted_server import Scripted, running

import cairn
from cairn.artifact_store.http import PROXY_PATH, HttpArtifactRepository, proxy_url, resolve
from cairn.artifact_store.uri import artifact_repository
from cairn.entities import FileInfo
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError
from cairn.store.rest.http import HttpSession, RetryPolicy, ServerUnavailableError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "artifacts"))
from test_traversal import OPERATIONS, REFUSED, attempt

MIB = 1024 * 1024
LARGE = 50 * MIB
NO_RETRIES = RetryPolicy(max_retries=0, backoff_factor=0, backoff_max=0, deadline=0)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def tree_of(folder: Path) -> dict[str, bytes | None]:
    found: dict[str, bytes | None] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        found[relative] = None if path.is_dir() else path.read_bytes()
    return found


@pytest.fixture
def repository(rest_server: Any) -> HttpArtifactRepository:
    root = f"t-{uuid.uuid4().hex[:12]}/run/artifacts"
    return HttpArtifactRepository(f"{rest_server.url}{PROXY_PATH}/{root}")


@pytest.fixture
def stored(rest_server: Any, repository: HttpArtifactRepository) -> Path:
    """The repository's root in the server's own artifacts folder."""
    return Path(rest_server.artifacts) / repository.root


# -- round trips the contract run leaves out (it needs empty folders) ----------------------


def test_a_tree_goes_up_and_comes_back_whole(
    repository: HttpArtifactRepository, stored: Path, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    write(source / "top.txt", b"top")
    write(source / "a" / "one.txt", b"one")
    write(source / "a" / "b" / "two.bin", bytes(range(256)) * 3)
    write(source / "a" / "b" / "empty.txt", b"")
    repository.log_artifacts(str(source), "model")
    assert tree_of(stored / "model") == tree_of(source)  # on the server, byte for byte
    assert repository.list_artifacts("model/a") == [
        FileInfo("model/a/b", True),
        FileInfo("model/a/one.txt", False, 3),
    ]
    assert tree_of(Path(repository.download_artifacts("model", str(tmp_path / "d1")))) == (
        tree_of(source)
    )
    root = Path(repository.download_artifacts("", str(tmp_path / "d2")))
    assert root == tmp_path / "d2" / "artifacts"
    assert tree_of(root) == {"model": None, **{f"model/{k}": v for k, v in tree_of(source).items()}}
    repository.delete_artifacts("model/a/b")
    assert repository.list_artifacts("model/a") == [FileInfo("model/a/one.txt", False, 3)]
    assert not (stored / "model" / "a" / "b").exists()
    assert (stored / "model" / "top.txt").read_bytes() == b"top"


def test_an_empty_folder_logged_stores_nothing(
    repository: HttpArtifactRepository, tmp_path: Path
) -> None:
    """The proxy cannot create a folder without a file in it (nor can MLflow's)."""
    (tmp_path / "nothing" / "deeper").mkdir(parents=True)
    repository.log_artifacts(str(tmp_path / "nothing"), "kept")
    assert repository.list_artifacts() == []
    with pytest.raises(ResourceDoesNotExistError):
        repository.download_artifacts("kept", str(tmp_path / "dst"))


CHILD = """
import json, sys
from cairn.artifact_store.uri import artifact_repository

def peak_bytes():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")

root_uri, source, destination = sys.argv[1:4]
repository = artifact_repository(root_uri)
repository.list_artifacts()  # imports done and a connection open before the baseline
baseline = peak_bytes()
repository.log_artifact(source, "large")
after_upload = peak_bytes()
downloaded = repository.download_artifacts("large/big.bin", destination)
print(json.dumps({"baseline": baseline, "after_upload": after_upload,
                  "peak": peak_bytes(), "downloaded": downloaded}))
"""


def test_a_50_mib_file_streams_both_ways(
    repository: HttpArtifactRepository, stored: Path, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    generator = random.Random(7)
    digest = hashlib.sha256()
    with open(source, "wb") as out:
        for _ in range(LARGE // (2 * MIB)):
            chunk = generator.randbytes(2 * MIB)
            digest.update(chunk)
            out.write(chunk)
    child = subprocess.run(
        [sys.executable, "-c", CHILD, repository.root_uri, str(source), str(tmp_path / "dl")],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert child.returncode == 0, child.stderr
    measured = json.loads(child.stdout)
    print(
        f"\nhttp: peak RSS {measured['peak'] / MIB:.1f} MiB, grew "
        f"{(measured['peak'] - measured['baseline']) / MIB:.1f} MiB for a {LARGE // MIB} MiB file"
    )
    assert measured["peak"] - measured["baseline"] < 16 * MIB  # the file is 50 MiB
    downloaded = Path(measured["downloaded"])
    assert downloaded == tmp_path / "dl" / "big.bin"
    for copy in (downloaded, stored / "large" / "big.bin"):
        assert copy.stat().st_size == LARGE
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == digest.hexdigest()
    assert repository.list_artifacts("large") == [FileInfo("large/big.bin", False, LARGE)]


# -- refused before any request ------------------------------------------------------------


@pytest.fixture
def unreachable() -> HttpArtifactRepository:
    """A repository whose server is not there: any request it made would raise
    ServerUnavailableError, so an InvalidParameterValueError proves it sent none."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    return HttpArtifactRepository(
        f"{url}{PROXY_PATH}/1/run/artifacts", HttpSession(url, retry=NO_RETRIES)
    )


@pytest.fixture
def sources(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "src" / "folder"
    write(folder / "inner.txt", b"inner")
    return write(tmp_path / "src" / "single.txt", b"single"), folder


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("vector", [v for v, _ in REFUSED], ids=[i for _, i in REFUSED])
def test_a_traversal_vector_is_refused_without_a_request(
    unreachable: HttpArtifactRepository,
    sources: tuple[Path, Path],
    tmp_path: Path,
    operation: str,
    vector: str,
) -> None:
    with pytest.raises(InvalidParameterValueError):
        attempt(operation, unreachable, vector, sources, tmp_path / "dst")
    assert not (tmp_path / "dst").exists()


def test_the_unreachable_fixture_really_sends(unreachable: HttpArtifactRepository) -> None:
    with pytest.raises(ServerUnavailableError):
        unreachable.list_artifacts("fine")


@pytest.mark.parametrize(
    "root",
    [
        "mlflow-artifacts:/../x",
        "mlflow-artifacts:/a/../../x",
        "mlflow-artifacts:/a/%2e%2e/%2e%2e/x",
        "mlflow-artifacts://server/a/./b",
        "http://h/api/2.0/mlflow-artifacts/artifacts/../x",
        "http://h/api/2.0/mlflow-artifacts/artifacts/a?path=../../x",
        "http://h/somewhere/else",
        "http://h/api/2.0/mlflow-artifacts/artifactsX/a",
        "ftp://h/api/2.0/mlflow-artifacts/artifacts/a",
    ],
)
def test_a_bad_root_is_refused(workdir: Path, root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAIRN_TRACKING_URI", "http://127.0.0.1:5000")
    with pytest.raises(InvalidParameterValueError):
        HttpArtifactRepository(root)


def test_roots_resolve_against_the_tracking_server(workdir: Path) -> None:
    tracking = "https://tracking.example:8443/prefix/"
    assert resolve("mlflow-artifacts:/1/r/artifacts", tracking) == (
        "https://tracking.example:8443/prefix",
        "1/r/artifacts",
    )
    assert resolve("mlflow-artifacts://other:5000/1/r", tracking) == ("https://other:5000", "1/r")
    assert resolve("http://h:1/p/api/2.0/mlflow-artifacts/artifacts/a/b%20c") == (
        "http://h:1/p",
        "a/b c",
    )
    assert resolve("http://h/api/2.0/mlflow-artifacts/artifacts") == ("http://h", "")


def test_mlflow_artifacts_needs_an_http_tracking_uri(workdir: Path) -> None:
    cairn.set_tracking_uri(f"sqlite:///{workdir / 'cairn.db'}")
    with pytest.raises(InvalidParameterValueError, match="http"):
        HttpArtifactRepository("mlflow-artifacts:/1/r/artifacts")


# -- a server not to be trusted ------------------------------------------------------------


@pytest.fixture
def scripted() -> Any:
    with running(Scripted()) as server:
        yield server


def _on(server: Scripted) -> HttpArtifactRepository:
    session = HttpSession(server.url, retry=NO_RETRIES)
    return HttpArtifactRepository(f"{server.url}{PROXY_PATH}/1/run/artifacts", session)


@pytest.mark.parametrize(
    "name", ["..", "../../etc/passwd", "a/b", "", ".", "/abs", "x\x00y", "a\\..\\b", 7]
)
def test_a_listed_name_that_is_not_a_plain_name_is_refused(
    scripted: Scripted, name: object
) -> None:
    scripted.answer(200, {"files": [{"path": "fine.txt", "is_dir": False}, {"path": name}]})
    with pytest.raises(InvalidParameterValueError, match="listing"):
        _on(scripted).list_artifacts("d")
    assert scripted.received[0].query == {"path": ["1/run/artifacts/d"]}


def test_a_hostile_listing_stops_a_download_before_anything_is_written(
    scripted: Scripted, tmp_path: Path
) -> None:
    scripted.answer(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "a directory"})
    scripted.answer(200, {"files": [{"path": "d", "is_dir": True}]})  # the parent's listing
    scripted.answer(
        200,
        {
            "files": [
                {"path": "ok.txt", "is_dir": False, "file_size": 1},
                {"path": "sub", "is_dir": True},
            ]
        },
    )
    scripted.answer(200, {"files": [{"path": "../../../outside.txt", "is_dir": False}]})
    with pytest.raises(InvalidParameterValueError):
        _on(scripted).download_artifacts("d", str(tmp_path / "dst"))
    assert [r.method for r in scripted.received] == ["GET"] * 4  # no file fetched
    assert scripted.received[3].query == {"path": ["1/run/artifacts/d/sub"]}
    assert not (tmp_path / "dst").exists()
    assert not (tmp_path / "outside.txt").exists()


def test_a_download_cut_short_raises_and_keeps_the_old_file(
    scripted: Scripted, tmp_path: Path
) -> None:
    old = write(tmp_path / "dst" / "model.bin", b"the previous, complete copy")
    scripted.answer(200, b"only part", **{"Content-Length": "1000"})
    with pytest.raises(ServerUnavailableError, match="broke off"):
        _on(scripted).download_artifacts("model.bin", str(tmp_path / "dst"))
    assert old.read_bytes() == b"the previous, complete copy"
    assert [p.name for p in (tmp_path / "dst").iterdir()] == ["model.bin"]  # no leftovers


def test_an_upload_is_resent_whole_after_a_503(scripted: Scripted, tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000
    source = write(tmp_path / "weights.bin", data)
    scripted.answer(503, b"busy", **{"Content-Type": "text/plain"})
    scripted.answer(200, b"")
    session = HttpSession(
        scripted.url, retry=RetryPolicy(max_retries=2, backoff_factor=0.001, deadline=10)
    )
    repository = HttpArtifactRepository(f"{scripted.url}{PROXY_PATH}/1/r", session)
    repository.log_artifact(str(source), "m")
    assert [r.method for r in scripted.received] == ["PUT", "PUT"]
    assert all(r.body == data for r in scripted.received)
    assert scripted.received[0].path == f"{PROXY_PATH}/1/r/m/weights.bin"
    assert scripted.received[0].headers["content-length"] == str(len(data))


def test_names_are_percent_encoded_in_request_paths(scripted: Scripted, tmp_path: Path) -> None:
    source = write(tmp_path / "100% é?&.txt", b"x")
    _on(scripted).log_artifact(str(source), "dir with space")
    assert scripted.received[0].path == (
        f"{PROXY_PATH}/1/run/artifacts/dir%20with%20space/100%25%20%C3%A9%3F%26.txt"
    )


# -- the roots a Cairn server hands out ----------------------------------------------------

# `mlflow-artifacts:/1/<run>/artifacts` (one slash) is the form the server gives every
# experiment and run: it must reach the server, never a local folder of that name.


def test_the_entry_points_build_the_http_repository(workdir: Path, rest_server: Any) -> None:
    cairn.set_tracking_uri(rest_server.url)
    built = artifact_repository(f"{rest_server.url}{PROXY_PATH}/1/r/artifacts")
    assert isinstance(built, HttpArtifactRepository)
    # The single-slash form is what the server gives its experiments and runs.
    assert isinstance(
        artifact_repository("mlflow-artifacts:/1/r/artifacts", cairn.get_tracking_uri()),
        HttpArtifactRepository,
    )


def test_fluent_artifacts_land_behind_the_servers_proxy(workdir: Path, rest_server: Any) -> None:
    rest_server.wipe()
    cairn.set_tracking_uri(rest_server.url)
    cairn.set_experiment("with-artifacts")
    with cairn.start_run() as run:
        cairn.log_text("hello over http", "notes/hi.txt")
    location = run.info.artifact_uri
    assert location.startswith("mlflow-artifacts:/")
    on_server = Path(rest_server.artifacts) / location.removeprefix("mlflow-artifacts:/")
    assert (on_server / "notes" / "hi.txt").read_text() == "hello over http"
    assert not (workdir / "mlflow-artifacts:").exists()  # nothing written locally instead


def test_a_clients_own_server_holds_its_artifacts(workdir: Path, rest_server: Any) -> None:
    """A Client made for a server keeps its artifacts there, whatever the process's
    tracking URI says (here a local SQLite store)."""
    rest_server.wipe()
    cairn.set_tracking_uri(f"sqlite:///{workdir / 'local.db'}")
    client = cairn.Client(tracking_uri=rest_server.url)
    experiment = client.create_experiment("client-artifacts")
    run_id = client.create_run(experiment).info.run_id
    source = write(workdir / "notes.txt", b"kept on the server")
    client.log_artifact(run_id, str(source), "docs")
    root = client.get_run(run_id).info.artifact_uri
    assert root.startswith("mlflow-artifacts:/")
    on_server = Path(rest_server.artifacts) / root.removeprefix("mlflow-artifacts:/")
    assert (on_server / "docs" / "notes.txt").read_bytes() == b"kept on the server"
    assert [f.path for f in client.list_artifacts(run_id, "docs")] == ["docs/notes.txt"]
    fetched = client.download_artifacts(run_id, "docs/notes.txt", str(workdir / "back"))
    assert Path(fetched).read_bytes() == b"kept on the server"
    assert proxy_url(root, rest_server.url) == f"{rest_server.url}{PROXY_PATH}/{root[18:]}"

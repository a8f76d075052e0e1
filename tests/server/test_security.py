"""Attacks on a live `cairn server`: every path-traversal vector of MLflow's advisories against
the artifact proxy's PUT/GET/list/DELETE (raw targets, sent by http.client unnormalised),
symbolic links out of the destination, experiment artifact locations outside the allowed
roots, DNS rebinding (Host), cross-origin writes (Origin), and oversized uploads.

Sentinel files outside the destination are checked after every attack: none may be read,
changed, created or deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from live_server import LiveServer, start_server

API = "/api/2.0/mlflow-artifacts/artifacts"
AJAX = "/ajax-api/2.0/mlflow-artifacts/artifacts"
SECRET = b"top secret: must never leave the server\n"


class Surroundings:
    """A folder holding the server's destination and, beside it, files an attacker wants."""

    def __init__(self, top: Path) -> None:
        self.top = top
        self.outside = top / "outside"
        self.outside.mkdir(parents=True)
        (self.outside / "secret.txt").write_bytes(SECRET)
        (top / "sentinel.txt").write_bytes(SECRET)
        self.extra_root = top / "extra-root"
        self.extra_root.mkdir()

    def snapshot(self, destination: Path) -> dict[str, str]:
        """Every file and folder outside the destination, with a digest of each file."""
        found: dict[str, str] = {}
        for folder, dirs, files in os.walk(self.top, followlinks=False):
            if Path(folder) == destination or destination in Path(folder).parents:
                continue
            for name in dirs:
                found[os.path.relpath(os.path.join(folder, name), self.top)] = "dir"
            for name in files:
                path = os.path.join(folder, name)
                if name.startswith(("server-", "cairn.db")):
                    continue  # the server's own log and database change as it serves
                found[os.path.relpath(path, self.top)] = hashlib.sha256(
                    Path(path).read_bytes()
                ).hexdigest()
        return found


@pytest.fixture(scope="module")
def surroundings(tmp_path_factory: pytest.TempPathFactory) -> Surroundings:
    return Surroundings(tmp_path_factory.mktemp("attack"))


@pytest.fixture(scope="module")
def server(surroundings: Surroundings) -> Iterator[LiveServer]:
    live = start_server(
        surroundings.top,
        "--allowed-artifact-roots",
        f"{surroundings.extra_root},s3://allowed-bucket/team",
        "--max-upload-bytes",
        str(1024 * 1024),
    )
    destination = live.destination
    destination.mkdir(exist_ok=True)
    (destination / "inside.txt").write_bytes(b"inside")
    (destination / "leak-dir").symlink_to(surroundings.outside, target_is_directory=True)
    (destination / "leak-file.txt").symlink_to(surroundings.outside / "secret.txt")
    (destination / "fine-link.txt").symlink_to(destination / "inside.txt")
    yield live
    live.stop()


@pytest.fixture
def untouched(server: LiveServer, surroundings: Surroundings) -> Iterator[None]:
    """Fails the test if anything outside the destination changed during it."""
    before = surroundings.snapshot(server.destination)
    yield
    assert surroundings.snapshot(server.destination) == before
    assert (surroundings.outside / "secret.txt").read_bytes() == SECRET


def _absolute_sentinel(surroundings: Surroundings) -> str:
    return str(surroundings.top / "sentinel.txt").lstrip("/")


# Raw suffixes after `…/artifacts/`, each sent byte for byte. `{abs}` is the sentinel's
# absolute path without its leading slash.
PATH_VECTORS = [
    "../sentinel.txt",
    "../../sentinel.txt",
    "a/../../sentinel.txt",
    "a/b/../../../sentinel.txt",
    "..",
    "..%2fsentinel.txt",
    "%2e%2e/sentinel.txt",
    "%2e%2e%2fsentinel.txt",
    "%2E%2E%2Fsentinel.txt",
    ".%2e/sentinel.txt",
    "%252e%252e%252fsentinel.txt",
    "%25252e%25252e%25252fsentinel.txt",
    "..\\sentinel.txt",
    "..%5csentinel.txt",
    "a\\..\\..\\sentinel.txt",
    "a;/../../sentinel.txt",
    "a%3b/../../sentinel.txt",
    "a#/../../sentinel.txt",
    "a%23/../../sentinel.txt",
    "a?/../../sentinel.txt",
    "a%3f/../../sentinel.txt",
    "/{abs}",
    "%2f{abs}",
    "%252f{abs}",
    "//{abs}",
    "C:/Windows/win.ini",
    "C:..\\sentinel.txt",
    "c%3a/x",
    "x%00.txt",
    "x%2500.txt",
    "x%0a.txt",
    "x%0d%0aSet-Cookie:%20a=b",
    "x%1f",
    "x%7f",
]


def _vector(raw: str, surroundings: Surroundings) -> str:
    return raw.replace("{abs}", _absolute_sentinel(surroundings))


@pytest.mark.parametrize("raw", PATH_VECTORS)
@pytest.mark.parametrize("method", ["PUT", "GET", "DELETE"])
@pytest.mark.parametrize("prefix", [API, AJAX])
@pytest.mark.usefixtures("untouched")
def test_traversal_in_the_path_is_refused(
    server: LiveServer, surroundings: Surroundings, method: str, raw: str, prefix: str
) -> None:
    target = f"{prefix}/{_vector(raw, surroundings)}"
    body = b"pwned" if method == "PUT" else None
    reply = server.request(method, target, body=body)
    assert reply.status == 400, (target, reply.status, reply.body)
    assert reply.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert SECRET not in reply.body
    # Nothing was written inside the destination either (e.g. `a` from `a?/../../x`).
    assert sorted(os.listdir(server.destination)) == [
        "fine-link.txt",
        "inside.txt",
        "leak-dir",
        "leak-file.txt",
    ]


LIST_VECTORS = [
    "..",
    "../",
    "../outside",
    "a/../..",
    "%2e%2e",
    "%2e%2e%2f",
    "%252e%252e%252f",
    "..\\",
    "a;/../..",
    "a#/../..",
    "a?/../..",
    "/etc",
    "//etc",
    "/",
    "C:/",
    "C:",
    "x%00",
    "x\x01",
]


@pytest.mark.parametrize("raw", LIST_VECTORS)
@pytest.mark.usefixtures("untouched")
def test_traversal_in_a_listing_is_refused(server: LiveServer, raw: str) -> None:
    if raw == "/":  # the root itself is allowed; it must list the destination only
        reply = server.request("GET", f"{API}?path=%2F")
        assert reply.status in (200, 400)
        assert b"secret.txt" not in reply.body and b"sentinel" not in reply.body
        return
    reply = server.request("GET", f"{API}?path={quote(raw, safe='')}")
    assert reply.status == 400, (raw, reply.body)
    assert reply.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert b"secret.txt" not in reply.body


def test_a_repeated_path_parameter_is_refused(server: LiveServer) -> None:
    reply = server.request("GET", f"{API}?path=inside&path=..")
    assert reply.status == 400


@pytest.mark.parametrize("raw", ["x\x00y", "x\x01y", "x y"])
@pytest.mark.usefixtures("untouched")
def test_raw_control_bytes_in_the_request_line_are_refused(server: LiveServer, raw: str) -> None:
    """http.client will not send these; a raw socket does. uvicorn answers 400 itself."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        request = f"PUT {API}/{raw} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\n\r\nx"
        sock.sendall(request.encode("latin-1"))
        status_line = sock.recv(4096).split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 400"), status_line
    assert server.alive()


# -- symbolic links inside the destination -------------------------------------------------


@pytest.mark.usefixtures("untouched")
def test_links_leading_outside_are_refused(server: LiveServer, surroundings: Surroundings) -> None:
    for method, target in [
        ("GET", f"{API}/leak-file.txt"),
        ("GET", f"{API}/leak-dir/secret.txt"),
        ("PUT", f"{API}/leak-dir/planted.txt"),
        ("PUT", f"{API}/leak-dir/new/planted.txt"),
        ("DELETE", f"{API}/leak-dir/secret.txt"),
        ("DELETE", f"{API}/leak-dir"),
        ("DELETE", f"{API}/leak-file.txt"),
        ("GET", f"{API}?path=leak-dir"),
    ]:
        reply = server.request(method, target, body=b"x" if method == "PUT" else None)
        assert reply.status == 400, (method, target, reply.status, reply.body)
        assert SECRET not in reply.body
    assert not (surroundings.outside / "planted.txt").exists()
    assert not (surroundings.outside / "new").exists()


def test_a_listing_never_follows_a_link_outside(server: LiveServer) -> None:
    reply = server.request("GET", API)
    assert b"secret.txt" not in reply.body
    assert reply.status == 400 or "leak-dir" not in json.dumps(reply.json())


def test_links_inside_the_destination_still_work(server: LiveServer) -> None:
    reply = server.request("GET", f"{API}/fine-link.txt")
    assert (reply.status, reply.body) == (200, b"inside")


# -- experiment artifact locations ---------------------------------------------------------


def _create_experiment(server: LiveServer, name: str, location: str) -> tuple[int, dict]:
    reply = server.call(
        "POST", "/experiments/create", {"name": name, "artifact_location": location}
    )
    return reply.status, reply.json()


def _experiment_names(server: LiveServer) -> set[str]:
    reply = server.call("POST", "/experiments/search", {"max_results": 1000, "view_type": "ALL"})
    assert reply.status == 200, reply.body
    return {e["name"] for e in reply.json().get("experiments", [])}


def _location_attacks(surroundings: Surroundings) -> list[str]:
    extra = str(surroundings.extra_root)
    return [
        "file:///etc",
        "file:/etc",
        "file://localhost/etc",
        "file://evil-host/" + extra.lstrip("/"),
        "/etc",
        "/",
        "//etc/passwd",
        str(surroundings.outside),
        "relative/path",
        "http:///#/../../etc/",
        "http:///?/../../etc/",
        "http://169.254.169.254/latest/meta-data",
        "https://evil.example/artifacts",
        "ftp://evil.example/x",
        "sftp://evil.example/x",
        "runs:/0123456789abcdef/model",
        "models:/m/1",
        "mlflow-artifacts://evil/x",
        "mlflow-artifacts://127.0.0.1:5000/x",
        "mlflow-artifacts:/../../etc",
        "mlflow-artifacts:/a/%2e%2e/%2e%2e/etc",
        "mlflow-artifacts:/%252e%252e/x",
        "mlflow-artifacts:/a#/../../x",
        "mlflow-artifacts:/a;/../../x",
        "mlflow-artifacts:/a//b",
        "s3://bucket/..%2f..",
        "s3://allowed-bucket/team/..%2f..%2fother",
        "s3://allowed-bucket/team/../other",
        "s3://allowed-bucket/other-team/x",
        "s3://allowed-bucket/teammates/x",
        "s3://other-bucket/team/x",
        "s3://allowed-bucket/team//x",
        "s3:/allowed-bucket/team/x",
        f"{extra}/../outside",
        f"{extra}/sub/../../outside",
        f"{extra}/%2e%2e/outside",
        f"file://{extra}/../outside",
        f"{extra}-sibling/x",
        f"{extra}/x\x00y",
        f"{extra}/x\\..\\..\\outside",
        f"{extra}/x#/../../outside",
        f"{extra}/x;/../../outside",
        f"{extra}/x?/../../outside",
    ]


def test_experiment_locations_outside_the_roots_are_refused(
    server: LiveServer, surroundings: Surroundings
) -> None:
    refused: list[str] = []
    for index, location in enumerate(_location_attacks(surroundings)):
        status, body = _create_experiment(server, f"attack-{index}", location)
        assert status == 400, (location, status, body)
        assert body["error_code"] == "INVALID_PARAMETER_VALUE", (location, body)
        refused.append(f"attack-{index}")
    assert not set(refused) & _experiment_names(server)


def test_a_link_inside_an_allowed_root_cannot_lead_outside(
    server: LiveServer, surroundings: Surroundings
) -> None:
    link = surroundings.extra_root / "escape"
    link.symlink_to(surroundings.outside, target_is_directory=True)
    try:
        status, body = _create_experiment(server, "via-link", f"{link}/experiment")
        assert status == 400, body
    finally:
        link.unlink()


def test_experiment_locations_inside_the_roots_are_accepted(
    server: LiveServer, surroundings: Surroundings
) -> None:
    accepted = {
        "in-proxy": "mlflow-artifacts:/custom/place",
        "in-proxy-root": "mlflow-artifacts:/",
        "in-extra": f"{surroundings.extra_root}/exp",
        "in-extra-uri": f"file://{surroundings.extra_root}/exp-uri",
        "extra-itself": str(surroundings.extra_root),
        "in-destination": f"{server.destination}/direct",
        "in-bucket": "s3://allowed-bucket/team/exp",
        "default": "",
    }
    for name, location in accepted.items():
        status, body = _create_experiment(server, name, location)
        assert status == 200, (location, body)
        reply = server.call("GET", "/experiments/get", {"experiment_id": body["experiment_id"]})
        stored = reply.json()["experiment"]["artifact_location"]
        if location:
            assert stored == location
        else:
            assert stored == f"mlflow-artifacts:/{body['experiment_id']}"


def test_camel_case_field_is_checked_too(server: LiveServer) -> None:
    reply = server.request(
        "POST",
        "/api/2.0/mlflow/experiments/create",
        body=json.dumps({"name": "camel", "artifactLocation": "/etc"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert reply.status == 400, reply.body


def test_run_listing_refuses_a_location_outside_the_roots(
    server: LiveServer, surroundings: Surroundings
) -> None:
    """A run under an experiment stored before the rule (here: written straight to the
    database) cannot be used to list server folders."""
    from cairn.store.sql.tracking import SqlTrackingStore

    store = SqlTrackingStore(f"sqlite:///{server.database}", "mlflow-artifacts:")
    try:
        experiment_id = store.create_experiment("legacy", str(surroundings.outside))
        run = store.create_run(experiment_id, "someone", 0, [], "legacy-run")
    finally:
        store.close()
    reply = server.call("GET", "/artifacts/list", {"run_id": run.info.run_id})
    assert reply.status == 400, reply.body
    assert b"secret.txt" not in reply.body


# -- Host, Origin, framing -----------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["evil.com", "evil.com:5000", "localhost.evil.com", "127.0.0.1.nip.io", "", "a b"]
)
def test_foreign_host_headers_are_refused(server: LiveServer, host: str) -> None:
    reply = server.request(
        "GET", "/api/2.0/mlflow/experiments/get?experiment_id=0", headers={"Host": host}
    )
    assert reply.status == 403
    assert reply.body == b"Invalid Host header - possible DNS rebinding attack detected"
    assert reply.headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    "host", ["localhost", "LOCALHOST:5000", "127.0.0.1", "127.0.0.1:1", "[::1]:80", "10.1.2.3"]
)
def test_local_and_private_host_headers_are_accepted(server: LiveServer, host: str) -> None:
    reply = server.request(
        "GET", "/api/2.0/mlflow/experiments/get?experiment_id=0", headers={"Host": host}
    )
    assert reply.status == 200, reply.body
    assert reply.headers["X-Frame-Options"] == "SAMEORIGIN"


def test_health_answers_any_host(server: LiveServer) -> None:
    reply = server.request("GET", "/health", headers={"Host": "probe.internal"})
    assert (reply.status, reply.body) == (200, b"OK")


def test_foreign_host_cannot_upload(server: LiveServer) -> None:
    reply = server.request("PUT", f"{API}/rebound.txt", body=b"x", headers={"Host": "evil.com"})
    assert reply.status == 403
    assert not (server.destination / "rebound.txt").exists()


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "http://127.0.0.1.evil.example", "null", "http://localhost.evil"],
)
def test_cross_origin_writes_are_refused(server: LiveServer, origin: str) -> None:
    name = f"csrf-{hashlib.sha1(origin.encode()).hexdigest()[:8]}"
    reply = server.request(
        "POST",
        "/api/2.0/mlflow/experiments/create",
        body=json.dumps({"name": name}).encode(),
        headers={"Content-Type": "application/json", "Origin": origin},
    )
    assert (reply.status, reply.body) == (403, b"Cross-origin request blocked")
    assert name not in _experiment_names(server)
    reply = server.request("PUT", f"{API}/{name}.txt", body=b"x", headers={"Origin": origin})
    assert reply.status == 403
    assert not (server.destination / f"{name}.txt").exists()
    reply = server.request("DELETE", f"{API}/inside.txt", headers={"Origin": origin})
    assert reply.status == 403
    assert (server.destination / "inside.txt").exists()


def test_same_origin_and_local_origins_may_write(server: LiveServer) -> None:
    for index, origin in enumerate(
        [f"http://127.0.0.1:{server.port}", "http://localhost:3000", "http://[::1]:8080"]
    ):
        reply = server.request(
            "POST",
            "/api/2.0/mlflow/experiments/create",
            body=json.dumps({"name": f"same-origin-{index}"}).encode(),
            headers={"Content-Type": "application/json", "Origin": origin},
        )
        assert reply.status == 200, (origin, reply.body)
        assert reply.headers["Access-Control-Allow-Origin"] == origin
        assert "Origin" in reply.headers["Vary"]


def test_cross_origin_reads_get_no_cors_grant(server: LiveServer) -> None:
    reply = server.request(
        "GET",
        "/api/2.0/mlflow/experiments/get?experiment_id=0",
        headers={"Origin": "https://evil.example"},
    )
    assert reply.status == 200  # a plain read, but the browser may not hand it to the page
    assert "Access-Control-Allow-Origin" not in reply.headers


def test_preflight(server: LiveServer) -> None:
    ask = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    reply = server.request(
        "OPTIONS",
        "/api/2.0/mlflow/experiments/create",
        headers={**ask, "Origin": "https://evil.example"},
    )
    assert (reply.status, reply.body) == (403, b"Cross-origin request blocked")
    reply = server.request(
        "OPTIONS",
        "/api/2.0/mlflow/experiments/create",
        headers={**ask, "Origin": "http://localhost:3000"},
    )
    assert reply.status == 204
    assert reply.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "POST" in reply.headers["Access-Control-Allow-Methods"]
    assert reply.headers["Access-Control-Allow-Headers"] == "content-type"


def test_configured_hosts_and_origins_replace_the_defaults(tmp_path: Path) -> None:
    live = start_server(
        tmp_path,
        "--allowed-hosts",
        "tracking.example.com,*.corp.example,127.0.0.1",
        "--cors-allowed-origins",
        "https://ui.example.com,https://*.corp.example:*",
    )
    try:
        get = "/api/2.0/mlflow/experiments/get?experiment_id=0"
        assert live.request("GET", get, headers={"Host": "tracking.example.com"}).status == 200
        assert live.request("GET", get, headers={"Host": "a.corp.example:8443"}).status == 200
        assert live.request("GET", get, headers={"Host": "localhost"}).status == 403
        assert live.request("GET", get, headers={"Host": "10.0.0.1"}).status == 403

        def create(name: str, origin: str) -> int:
            return live.request(
                "POST",
                "/api/2.0/mlflow/experiments/create",
                body=json.dumps({"name": name}).encode(),
                headers={"Content-Type": "application/json", "Origin": origin},
            ).status

        assert create("from-ui", "https://ui.example.com") == 200
        assert create("from-corp", "https://team.corp.example:9000") == 200
        assert create("from-localhost", "http://localhost:3000") == 403
        assert create("from-http-ui", "http://ui.example.com") == 403
    finally:
        live.stop()


def test_wildcard_host_allows_any(tmp_path: Path) -> None:
    live = start_server(tmp_path, "--allowed-hosts", "*")
    try:
        reply = live.request(
            "GET",
            "/api/2.0/mlflow/experiments/get?experiment_id=0",
            headers={"Host": "anything.example"},
        )
        assert reply.status == 200
    finally:
        live.stop()


def test_bad_allow_lists_fail_the_command(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="Invalid allowed"):
        start_server(tmp_path, "--allowed-hosts", "bad host")


# -- upload size cap -----------------------------------------------------------------------

CAP = 1024 * 1024


def _send_unread(
    server: LiveServer,
    headers: dict[str, str],
    chunks: Iterator[bytes],
    name: str = "big.bin",
) -> bytes:
    """Send a PUT, then read whatever the server answered (it may answer and close the
    connection before the body is complete: that is the point, and http.client would
    stop at the broken pipe without reading the answer)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        head = f"PUT {API}/capped/{name} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        sock.sendall(head.encode())
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        received = b""
        try:
            while data := sock.recv(65536):
                received += data
        except ConnectionResetError:
            pass
    return received


def test_a_declared_oversized_upload_is_refused_unread(server: LiveServer) -> None:
    answer = _send_unread(server, {"Content-Length": str(5 * CAP)}, iter([b"x" * 65536]))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"upload limit" in answer
    assert not (server.destination / "capped").exists() or not os.listdir(
        server.destination / "capped"
    )
    assert server.request("GET", "/health").status == 200


def test_a_chunked_upload_is_cut_off_at_the_cap(server: LiveServer) -> None:
    piece = b"y" * 65536

    def chunked() -> Iterator[bytes]:
        for _ in range(3 * CAP // len(piece)):
            yield b"%x\r\n" % len(piece) + piece + b"\r\n"
        yield b"0\r\n\r\n"

    answer = _send_unread(server, {"Transfer-Encoding": "chunked"}, chunked())
    assert answer == b"" or answer.startswith(b"HTTP/1.1 413"), answer[:200]
    folder = server.destination / "capped"
    assert server.wait_for(lambda: not folder.exists() or not os.listdir(folder))
    assert server.request("GET", f"{API}/capped/big.bin").status == 404
    assert server.request("GET", "/health").status == 200


def test_an_upload_at_the_cap_is_accepted(server: LiveServer) -> None:
    reply = server.request("PUT", f"{API}/capped/exact.bin", body=b"z" * CAP)
    assert reply.status == 200
    assert (server.destination / "capped" / "exact.bin").stat().st_size == CAP
    answer = _send_unread(
        server, {"Content-Length": str(CAP + 1)}, iter([b"z" * (CAP + 1)]), name="over.bin"
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"error_code":"BAD_REQUEST"' in answer
    assert not (server.destination / "capped" / "over.bin").exists()

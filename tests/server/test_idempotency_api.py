"""The `Idempotency-Key` header and runs/create's `run_id` field, over a live `cairn server`
(SQLite and PostgreSQL), with raw HTTP requests; and under `--auth`, that a key cannot
suppress another user's write.

A replay is shown by sending the same key with a changed body: points at new timestamps
would be new points, so a history that does not grow proves the key skipped the call.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
from live_server import LiveServer, start_server

from local_processes import CLI

if TYPE_CHECKING:
    from conftest import TrackingServer

TIMEOUT = 60
KEY_HEADER = "Idempotency-Key"


def post(
    server: TrackingServer, path: str, body: dict[str, Any], key: str | None = None
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers[KEY_HEADER] = key
    response = requests.post(server.api + path, json=body, headers=headers, timeout=TIMEOUT)
    return response.status_code, response.json()


def ok(reply: tuple[int, Any]) -> Any:
    status, payload = reply
    assert status == 200, payload
    return payload


def history(server: TrackingServer, run_id: str, key: str) -> list[tuple[float, int, int]]:
    response = requests.get(
        server.api + "/metrics/get-history",
        params={"run_id": run_id, "metric_key": key},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    metrics = response.json().get("metrics", [])
    return sorted((m["value"], m["timestamp"], m["step"]) for m in metrics)


def get_run(server: TrackingServer, run_id: str) -> dict[str, Any]:
    response = requests.get(server.api + "/runs/get", params={"run_id": run_id}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    run: dict[str, Any] = response.json()["run"]
    return run


def new_run(server: TrackingServer, experiment_id: str = "0") -> str:
    body = {"experiment_id": experiment_id, "start_time": 1_000}
    run_id: str = ok(post(server, "/runs/create", body))["run"]["info"]["run_id"]
    return run_id


def batch(run_id: str, timestamp: int, tag: str = "train") -> dict[str, Any]:
    """Two different values at one step (two points) and a tag."""
    return {
        "run_id": run_id,
        "metrics": [
            {"key": "loss", "value": 0.5, "timestamp": timestamp, "step": 3},
            {"key": "loss", "value": 0.7, "timestamp": timestamp, "step": 3},
        ],
        "params": [{"key": "lr", "value": "0.1"}],
        "tags": [{"key": "phase", "value": tag}],
    }


def test_log_batch_sent_twice_with_one_key_is_stored_once(tracking_server: TrackingServer) -> None:
    run_id = new_run(tracking_server)
    key = f"k-{uuid.uuid4().hex}"
    ok(post(tracking_server, "/runs/log-batch", batch(run_id, 1_000), key))
    ok(post(tracking_server, "/runs/log-batch", batch(run_id, 1_000), key))
    ok(post(tracking_server, "/runs/log-batch", batch(run_id, 2_000, "eval"), key))
    assert history(tracking_server, run_id, "loss") == [(0.5, 1_000, 3), (0.7, 1_000, 3)]
    tags = {t["key"]: t["value"] for t in get_run(tracking_server, run_id)["data"]["tags"]}
    assert tags["phase"] == "train"

    ok(post(tracking_server, "/runs/log-batch", batch(run_id, 2_000, "eval")))  # no key
    assert len(history(tracking_server, run_id, "loss")) == 4


def test_single_value_calls_honour_the_key(tracking_server: TrackingServer) -> None:
    run_id = new_run(tracking_server)
    key = f"k-{uuid.uuid4().hex}"
    for timestamp in (1_000, 2_000):
        body = {"run_id": run_id, "key": "m", "value": 1.0, "timestamp": timestamp, "step": 0}
        ok(post(tracking_server, "/runs/log-metric", body, key))
    assert history(tracking_server, run_id, "m") == [(1.0, 1_000, 0)]
    tag_key = f"t-{uuid.uuid4().hex}"  # `key` is used on this run: a tag under it is skipped
    for value in ("first", "second"):
        ok(
            post(
                tracking_server,
                "/runs/set-tag",
                {"run_id": run_id, "key": "t", "value": value},
                tag_key,
            )
        )
    tags = {t["key"]: t["value"] for t in get_run(tracking_server, run_id)["data"]["tags"]}
    assert tags["t"] == "first"
    # log-parameter: a changed value under a used key is skipped, not refused
    param_key = f"p-{uuid.uuid4().hex}"
    for value in ("1", "2"):
        ok(
            post(
                tracking_server,
                "/runs/log-parameter",
                {"run_id": run_id, "key": "p", "value": value},
                param_key,
            )
        )
    params = {p["key"]: p["value"] for p in get_run(tracking_server, run_id)["data"]["params"]}
    assert params == {"p": "1"}


@pytest.mark.parametrize("bad", ["a" * 101, "with space", "a/b", "semi;colon"])
def test_a_bad_key_is_invalid_parameter_value(tracking_server: TrackingServer, bad: str) -> None:
    run_id = new_run(tracking_server)
    status, payload = post(tracking_server, "/runs/log-batch", batch(run_id, 1_000), bad)
    assert (status, payload["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert history(tracking_server, run_id, "loss") == []


def test_runs_create_with_a_run_id(tracking_server: TrackingServer) -> None:
    experiment = ok(
        post(tracking_server, "/experiments/create", {"name": f"e-{uuid.uuid4().hex[:8]}"})
    )["experiment_id"]
    run_id = uuid.uuid4().hex
    body = {"experiment_id": experiment, "start_time": 1_000, "run_id": run_id, "run_name": "a"}
    made = ok(post(tracking_server, "/runs/create", body))["run"]
    assert made["info"]["run_id"] == run_id
    again = ok(post(tracking_server, "/runs/create", {**body, "run_name": "b"}))["run"]
    assert again["info"] == made["info"]
    assert get_run(tracking_server, run_id)["info"]["run_name"] == "a"

    status, payload = post(
        tracking_server, "/runs/create", {"experiment_id": "0", "run_id": run_id}
    )
    assert (status, payload["error_code"]) == (400, "RESOURCE_ALREADY_EXISTS")
    status, payload = post(
        tracking_server, "/runs/create", {"experiment_id": "0", "run_id": run_id.upper()}
    )
    assert (status, payload["error_code"]) == (400, "INVALID_PARAMETER_VALUE")


# -- under --auth ---------------------------------------------------------------------------

PASSWORD = "correct-horse-battery"


def _basic(user: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()}


def _users(database: Path, *args: str, stdin: str | None = None) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CLI, "users", *args, "--backend-store-uri", f"sqlite:///{database}"],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def _call(
    server: LiveServer, path: str, body: dict[str, Any], user: str, key: str | None = None
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", **_basic(user)}
    if key is not None:
        headers[KEY_HEADER] = key
    reply = server.request(
        "POST", f"/api/2.0/mlflow{path}", body=json.dumps(body).encode(), headers=headers
    )
    return reply.status, reply.json()


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("idempotency-auth"), "--auth")
    try:
        _users(server.database, "create", "admin", "--password-stdin", "--admin", stdin=PASSWORD)
        for name in ("alice", "bob"):
            _users(server.database, "create", name, "--password-stdin", stdin=PASSWORD)
        yield server
    finally:
        server.stop()


def test_under_auth_a_key_only_matters_within_one_run(auth_server: LiveServer) -> None:
    runs = {}
    for user in ("alice", "bob"):
        status, answer = _call(auth_server, "/experiments/create", {"name": f"{user}-exp"}, user)
        assert status == 200, answer
        status, answer = _call(
            auth_server, "/runs/create", {"experiment_id": answer["experiment_id"]}, user
        )
        assert status == 200, answer
        runs[user] = answer["run"]["info"]["run_id"]
    key = "shared-key-1"
    for user in ("alice", "bob"):
        body = {
            "run_id": runs[user],
            "metrics": [{"key": "m", "value": 1.0, "timestamp": 5, "step": 0}],
        }
        status, answer = _call(auth_server, "/runs/log-batch", body, user, key)
        assert status == 200, answer
    # Bob cannot use the key on Alice's run: he may not write there at all.
    intrusion = {
        "run_id": runs["alice"],
        "metrics": [{"key": "m", "value": 9.0, "timestamp": 6, "step": 0}],
    }
    status, answer = _call(auth_server, "/runs/log-batch", intrusion, "bob", "other-key")
    assert (status, answer["error_code"]) == (403, "PERMISSION_DENIED")
    for user in ("alice", "bob"):
        reply = auth_server.request(
            "GET",
            f"/api/2.0/mlflow/metrics/get-history?run_id={runs[user]}&metric_key=m",
            headers=_basic(user),
        )
        assert reply.status == 200, reply.body
        assert [m["value"] for m in reply.json()["metrics"]] == [1.0]

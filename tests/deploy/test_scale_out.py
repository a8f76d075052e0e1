"""The scale-out deployment (deploy/) as local processes: nginx from deploy/nginx.conf in
front of 1, 2 or 4 `cairn server` processes over one PostgreSQL database and a moto S3 store.

What is checked: runs logged by Cairn's client and by the real mlflow client through nginx
are in PostgreSQL, their artifacts are in S3, nginx spreads requests over every process;
and with 16 clients logging, a `kill -9` of one process costs no client an exception and
no metric point is lost or stored twice.

Without nginx or PostgreSQL these tests skip with the reason, or fail under
CAIRN_REQUIRE_DATABASES=1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import topology
from scale_out_client import KEYS, timestamp, value

import moto_server
from cairn.store.sql.engine import normalize_uri
from local_processes import stop_process
from moto_server import S3_ENV

CLIENT = Path(__file__).with_name("scale_out_client.py")
CLIENT_MODES = ["fluent"] * 6 + ["client"] * 6 + ["mlflow"] * 4  # 16 clients
RUN_SECONDS = 60.0


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto S3 server with the deployment's bucket."""
    import boto3

    topology.require_nginx()
    moto, endpoint = moto_server.start_moto(tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        s3(endpoint, boto3).create_bucket(Bucket=topology.BUCKET)
        yield endpoint
    finally:
        moto_server.stop(moto)


def s3(endpoint: str, boto3: Any = None) -> Any:
    if boto3 is None:
        import boto3
    env = S3_ENV
    return boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    ).client("s3", endpoint_url=endpoint)


@pytest.fixture
def deployment(
    tmp_path: Path, s3_endpoint: str, new_server_database: Callable[[str, str], str]
) -> Iterator[Callable[[int], topology.Topology]]:
    """A factory: `deployment(n)` starts n servers and nginx over a fresh PostgreSQL
    database of this test's own (dropped at the end of the session)."""
    started: list[topology.Topology] = []

    def start(servers: int) -> topology.Topology:
        database = new_server_database("postgresql", f"scale-out-{uuid.uuid4().hex}")
        started.append(topology.start_topology(tmp_path, database, s3_endpoint, servers))
        return started[-1]

    yield start
    for deployed in started:
        deployed.stop()


def sql(deployed: topology.Topology) -> sa.Engine:
    return sa.create_engine(normalize_uri(deployed.database_uri), poolclass=sa.NullPool)


@pytest.mark.parametrize("servers", [1, 4])
def test_runs_through_nginx_land_in_postgresql_and_s3(
    servers: int,
    deployment: Callable[[int], topology.Topology],
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import cairn

    deployed = deployment(servers)
    cairn.set_tracking_uri(deployed.url)
    experiment_id = cairn.create_experiment(f"scale-out-{uuid.uuid4().hex[:8]}")
    with cairn.start_run(experiment_id=experiment_id) as run:
        cairn.log_params({"model": "x", "layers": 3})
        for step in range(20):
            cairn.log_metric("loss", 1.0 / (step + 1), step=step)
        cairn.log_text("written by cairn", "notes/cairn.txt")
    cairn_run = run.info.run_id

    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient(deployed.url)
    mlflow_run = client.create_run(experiment_id).info.run_id
    client.log_batch(
        mlflow_run, metrics=[Metric("acc", 0.5 + s / 100, 1_000 + s, s) for s in range(5)]
    )
    (workdir / "report.txt").write_text("written by mlflow")
    client.log_artifact(mlflow_run, str(workdir / "report.txt"), "reports")
    client.set_terminated(mlflow_run)
    for _ in range(4 * servers):  # enough reads for round-robin to reach every process
        assert client.search_runs([experiment_id], max_results=10)

    with sql(deployed).connect() as conn:
        points = conn.execute(
            sa.text("SELECT run_uuid, key, count(*) FROM metrics GROUP BY run_uuid, key")
        ).all()
        statuses = dict(
            conn.execute(
                sa.text("SELECT run_uuid, status FROM runs WHERE experiment_id = :e"),
                {"e": int(experiment_id)},
            ).all()
        )
    assert sorted(points) == sorted([(cairn_run, "loss", 20), (mlflow_run, "acc", 5)])
    assert statuses == {cairn_run: "FINISHED", mlflow_run: "FINISHED"}

    objects = s3(deployed.s3_endpoint).list_objects_v2(Bucket=topology.BUCKET)["Contents"]
    keys = {o["Key"]: o["Key"] for o in objects}
    stored = {key.rsplit("/", 2)[-2] + "/" + key.rsplit("/", 1)[-1]: key for key in keys}
    assert {"notes/cairn.txt", "reports/report.txt"} <= set(stored)
    body = s3(deployed.s3_endpoint).get_object(
        Bucket=topology.BUCKET, Key=stored["reports/report.txt"]
    )
    assert body["Body"].read() == b"written by mlflow"
    assert any(cairn_run in key for key in keys) and any(mlflow_run in key for key in keys)

    served = Counter(u for e in deployed.access_entries() for u in e.upstreams)
    assert set(served) == {s.address for s in deployed.servers}
    assert all(entry.status < 400 for entry in deployed.access_entries())


def test_kill_9_of_a_server_under_16_clients_loses_and_repeats_nothing(
    deployment: Callable[[int], topology.Topology], tmp_path: Path
) -> None:
    import cairn

    deployed = deployment(2)
    experiment_id = cairn.Client(deployed.url).create_experiment(f"kill-{uuid.uuid4().hex[:8]}")
    folder = tmp_path / "clients"
    folder.mkdir()
    clients = start_clients(deployed, experiment_id, folder)
    try:
        wait_until(
            lambda: all((folder / f"progress-{i}").exists() for i in range(len(clients))),
            clients,
            "every client's run",
        )
        for process in clients:  # go
            assert process.stdin is not None
            process.stdin.write(b"go\n")
            process.stdin.close()
        victim = deployed.servers[0]
        # Mid-run: every client is logging, and the victim has served log-batch calls.
        wait_until(
            lambda: (
                min(progress(folder, len(clients))) >= 20
                and served(deployed, victim.address, "/runs/log-batch") >= len(clients)
            ),
            clients,
            "clients logging through both servers",
        )
        before_kill = len(deployed.access_entries())
        at_kill = progress(folder, len(clients))
        victim.kill()
        # Every client goes on for at least three more batches, through the survivor.
        wait_until(
            lambda: all(
                now >= then + 30
                for now, then in zip(progress(folder, len(clients)), at_kill, strict=True)
            ),
            clients,
            "clients logging after the kill",
        )
        (folder / "stop").touch()
        results = finish_clients(clients, folder)
    finally:
        for process in clients:
            stop_process(process)

    after = deployed.access_entries()[before_kill:]
    failovers = [e for e in after if len(e.upstreams) > 1]
    refused = [e for e in after if e.status >= 500]
    # The kill was seen and retried: nginx sent requests on to the survivor (or a client
    # got a 502 and sent again; its request then shows up twice).
    assert failovers or refused, "no request of the clients met the killed process"
    assert {victim.address} <= {u for e in failovers for u in e.upstreams}

    lost, duplicated, unexpected = Counter[str](), Counter[str](), Counter[str]()
    with sql(deployed).connect() as conn:
        for result in results:
            rows = conn.execute(
                sa.text("SELECT key, step, value, timestamp FROM metrics WHERE run_uuid = :r"),
                {"r": result["run_id"]},
            ).all()
            expected = {
                (key, step, value(result["index"], key, step), timestamp(step))
                for step in range(result["steps"])
                for key in KEYS
            }
            stored = {tuple(row) for row in rows}
            lost[result["mode"]] += len(expected - stored)
            unexpected[result["mode"]] += len(stored - expected)
            duplicated[result["mode"]] += len(rows) - len({(k, s) for k, s, _, _ in rows})
        statuses = Counter(
            conn.execute(
                sa.text("SELECT status FROM runs WHERE experiment_id = :e"),
                {"e": int(experiment_id)},
            ).scalars()
        )
    assert sum(r["steps"] for r in results) > 0
    assert (sum(lost.values()), sum(duplicated.values()), sum(unexpected.values())) == (0, 0, 0), (
        lost,
        duplicated,
        unexpected,
    )
    assert statuses == {"FINISHED": len(clients)}
    print(  # the figures RELIABILITY.md keeps (pytest -s)
        f"{sum(r['steps'] for r in results) * len(KEYS):,} points from {len(clients)} clients;"
        f" {len(failovers)} requests sent on by nginx, {len(refused)} answered 5xx; 0 lost,"
        " 0 duplicated"
    )


def start_clients(
    deployed: topology.Topology, experiment_id: str, folder: Path
) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        "CAIRN_JOURNAL_DIR": str(folder / "journal"),
        "CAIRN_CAPTURE_SOURCE": "false",
        "CAIRN_CAPTURE_ENVIRONMENT": "false",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(CLIENT.parent), os.environ.get("PYTHONPATH")])
        ),
    }
    clients = []
    for index, mode in enumerate(CLIENT_MODES):
        command = [
            sys.executable,
            str(CLIENT),
            deployed.url,
            mode,
            str(index),
            experiment_id,
            str(folder),
        ]
        with open(folder / f"out-{index}", "wb") as out, open(folder / f"err-{index}", "wb") as err:
            clients.append(
                subprocess.Popen(
                    command, stdin=subprocess.PIPE, stdout=out, stderr=err, cwd=folder, env=env
                )
            )
    return clients


def progress(folder: Path, count: int) -> list[int]:
    """Steps each client has logged so far (0 before its first batch)."""
    steps = []
    for index in range(count):
        try:
            steps.append(int((folder / f"progress-{index}").read_text() or 0))
        except (FileNotFoundError, ValueError):
            steps.append(0)
    return steps


def served(deployed: topology.Topology, address: str, endpoint: str) -> int:
    return sum(
        1
        for e in deployed.access_entries()
        if e.uri.endswith(endpoint) and e.status == 200 and e.upstreams[-1:] == [address]
    )


def wait_until(
    condition: Callable[[], bool], clients: list[subprocess.Popen[bytes]], what: str
) -> None:
    """Poll `condition` until RUN_SECONDS pass; paced by waiting on a client, and failing at
    once if any client ended before it was told to stop."""
    deadline = time.monotonic() + RUN_SECONDS
    while not condition():
        ended = [i for i, p in enumerate(clients) if p.poll() is not None]
        assert not ended, f"clients {ended} ended early while waiting for {what}"
        assert time.monotonic() < deadline, f"no {what} within {RUN_SECONDS} s"
        try:
            clients[0].wait(topology.POLL_SECONDS)
        except subprocess.TimeoutExpired:
            continue


def finish_clients(clients: list[subprocess.Popen[bytes]], folder: Path) -> list[dict[str, Any]]:
    """Wait for every client; each must exit 0 with no traceback and print its result."""
    results = []
    deadline = time.monotonic() + RUN_SECONDS
    for index, process in enumerate(clients):
        code = process.wait(max(1.0, deadline - time.monotonic()))
        errors = (folder / f"err-{index}").read_text(errors="replace")
        assert code == 0 and "Traceback" not in errors, (
            f"client {index} ({CLIENT_MODES[index]}):\n{errors[-3000:]}"
        )
        # the last line: MLflow prints its "View run" links before it
        results.append(json.loads((folder / f"out-{index}").read_text().splitlines()[-1]))
    return results

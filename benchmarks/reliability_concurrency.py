"""Issue 19, concurrency: 16 writer processes at once on each database, straight to the
database and over HTTP through a `cairn server` on it, and a count of what arrived.

Every writer creates runs in one shared experiment and logs, batch by batch, metric points
(its own key, steps that never repeat), a param and a tag both into a run all writers share
and into a run of its own, through `cairn.Client.log_batch`. Afterwards the database is read
directly (SQLAlchemy): "stored" counts distinct points (run, key, step, timestamp, value),
params and tags; "duplicated" is rows beyond the distinct ones; "sent" counts what the
writers' calls accepted (a call that raised is counted as failed, its points not as sent).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from reliability_databases import BACKENDS, NAMES, fresh_database, reachable
from reliability_processes import Server, quiet_environment
from reliability_report import Row, Section

WRITERS = 16
COUNTS = ("points", "params", "tags", "runs")


def write(
    uri: str, experiment_id: str, shared_run: str, writer: int, batches: int, points: int
) -> dict[str, Any]:
    """One writer process: its figures of what the calls accepted."""
    from cairn.entities import Metric, Param, RunTag
    from cairn.tracking.client import Client

    client = Client(tracking_uri=uri)
    sent: dict[str, Any] = {
        "points": 0,
        "params": 0,
        "tags": 0,
        "runs": 0,
        "failed_calls": 0,
        "errors": [],
    }
    own = client.create_run(experiment_id, run_name=f"writer-{writer}").info.run_id
    sent["runs"] += 1
    now = int(time.time() * 1000)
    for batch in range(batches):
        metrics = [
            Metric(f"w{writer}", float(batch * points + i), now + batch, batch * points + i)
            for i in range(points)
        ]
        params = [Param(f"w{writer}-p{batch}", str(batch))]
        tags = [RunTag(f"w{writer}-t{batch}", "x")]
        for run_id in (shared_run, own):
            try:
                client.log_batch(run_id, metrics, params, tags)
                sent["points"] += len(metrics)
                sent["params"] += 1
                sent["tags"] += 1
            except Exception as error:  # counted: a refused write is a figure, not a crash
                sent["failed_calls"] += 1
                if len(sent["errors"]) < 3:
                    sent["errors"].append(f"{type(error).__name__}: {str(error)[:150]}")
    return sent


def concurrency(root: Path, options: argparse.Namespace) -> Section:
    batches, points = (10, 20) if options.quick else (40, 50)
    rows: list[Row] = []
    figures: dict[str, Any] = {}
    notes: list[str] = []
    for backend in BACKENDS:
        why = reachable(backend)
        if why:
            rows.append(Row(NAMES[backend], f"not reachable: {why}"))
            continue
        for over_http in (False, True):
            name = f"{NAMES[backend]}, {'over HTTP' if over_http else 'direct'}"
            folder = root / f"concurrency-{backend}-{'http' if over_http else 'direct'}"
            with fresh_database(backend, folder) as uri:
                counted = one_setting(folder, uri, over_http, batches, points)
            figures[name] = counted
            ok = counted["lost"] == 0 and counted["duplicated"] == 0 and not counted["failed_calls"]
            rows.append(
                Row(
                    f"{name}: points sent / stored / duplicated; "
                    "params, tags, runs lost; failed calls",
                    f"{counted['sent']['points']:,} / {counted['stored']:,} / "
                    f"{counted['duplicated']:,}; {counted['params_lost']}, {counted['tags_lost']}, "
                    f"{counted['runs_lost']}; {counted['failed_calls']}",
                    "0 lost, 0 duplicated, 0 failed",
                    ok,
                )
            )
            notes += [f"{name}: {e}" for e in counted["errors"][:3]]
    section = Section(f"{WRITERS} concurrent writers on every database", rows, figures=figures)
    section.notes = notes
    return section


def one_setting(
    folder: Path, uri: str, over_http: bool, batches: int, points: int
) -> dict[str, Any]:
    from cairn.tracking.client import Client

    server = Server.on(folder / "srv", uri, "--no-access-log") if over_http else None
    try:
        target = server.url if server else uri
        setup = Client(tracking_uri=target)
        experiment_id = setup.create_experiment("concurrency")
        shared = setup.create_run(experiment_id, run_name="shared").info.run_id
        writers = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    target,
                    experiment_id,
                    shared,
                    str(n),
                    str(batches),
                    str(points),
                ],
                stdout=subprocess.PIPE,
                env=quiet_environment(),
            )  # fmt: skip
            for n in range(WRITERS)
        ]
        results = [json.loads(w.communicate(timeout=900)[0] or b"{}") for w in writers]
        results = [r or {**dict.fromkeys(COUNTS, 0), "failed_calls": 1, "errors": ["died"]}
                   for r in results]  # fmt: skip
    finally:
        if server:
            server.stop()
    return counted(uri, experiment_id, results)


def counted(uri: str, experiment_id: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    import sqlalchemy as sa

    sent = {k: sum(r[k] for r in results) for k in COUNTS}
    engine = sa.create_engine(uri)
    runs = "(SELECT run_uuid FROM runs WHERE experiment_id = :e)"
    key = "`key`" if uri.startswith("mysql") else '"key"'  # a reserved word in MariaDB
    try:
        with engine.connect() as connection:

            def one(sql: str) -> int:
                return int(
                    connection.execute(sa.text(sql), {"e": int(experiment_id)}).scalar() or 0
                )

            rows = one(f"SELECT COUNT(*) FROM metrics WHERE run_uuid IN {runs}")
            distinct = one(
                f"SELECT COUNT(*) FROM (SELECT DISTINCT run_uuid, {key}, step, timestamp, value "
                f"FROM metrics WHERE run_uuid IN {runs}) AS d"
            )
            params = one(
                f"SELECT COUNT(*) FROM params WHERE run_uuid IN {runs} AND {key} LIKE 'w%'"
            )
            tags = one(f"SELECT COUNT(*) FROM tags WHERE run_uuid IN {runs} AND {key} LIKE 'w%-t%'")
            stored_runs = one("SELECT COUNT(*) FROM runs WHERE experiment_id = :e") - 1
    finally:
        engine.dispose()
    return {
        "sent": sent,
        "stored": distinct,
        "duplicated": rows - distinct,
        "lost": sent["points"] - distinct,
        "params_lost": sent["params"] - params,
        "tags_lost": sent["tags"] - tags,
        "runs_lost": sent["runs"] - stored_runs,
        "failed_calls": sum(r["failed_calls"] for r in results),
        "errors": [e for r in results for e in r["errors"]],
    }


if __name__ == "__main__":  # one writer: URI EXPERIMENT SHARED_RUN WRITER BATCHES POINTS
    uri, experiment, shared_run, writer, batches, points = sys.argv[1:7]
    print(json.dumps(write(uri, experiment, shared_run, int(writer), int(batches), int(points))))

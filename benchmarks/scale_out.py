"""Scale-out: 16 client processes through nginx in front of 1, 2 and 4 `cairn server`
processes over one PostgreSQL database, artifacts to S3 (a moto server).

The topology is tests/deploy/topology.py's: deploy/nginx.conf rendered for loopback, the
servers started as `cairn server` is. Each client runs `cairn.Client` over HTTP in a loop
of one run creation, five log-batch calls (100 metric points each), one filtered search
and one artifact upload (8 KB to S3 through the server's proxy), for `--seconds`; calls
per second are counted per operation. Every client is its own process (the GIL would
serialise threads). The machine's cores are shared by everything: clients, nginx, the
servers, PostgreSQL and moto, so the CPU seconds each part used are reported too.

PostgreSQL's own commit rate (single-row INSERT + COMMIT, 1 and 16 connections) is measured
beside, as the other possible bound.

    .venv/bin/python benchmarks/scale_out.py [--servers 1,2,4] [--seconds 20] [--clients 16]

Raw figures: benchmarks/results/scale-out-latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "deploy")]

import topology  # noqa: E402
from results_file import write_results  # noqa: E402

import moto_server  # noqa: E402

POSTGRES = os.environ.get("CAIRN_TEST_POSTGRES_URI", "postgresql://postgres@127.0.0.1:5432/test")
OPERATIONS = ("create_run", "log_batch", "search", "upload")
BATCHES_PER_LOOP = 5
POINTS_PER_BATCH = 100
ARTIFACT_BYTES = 8 * 1024


# -- one client process ----------------------------------------------------------------------


def client_main(url: str, experiment_id: str, index: int) -> None:
    """Wait for the go line on stdin (it carries the seconds to run), loop, print counts."""
    import cairn
    from cairn.entities import Metric

    client = cairn.Client(url)
    folder = Path(tempfile.mkdtemp(prefix=f"scale-out-client-{index}-"))
    artifact = folder / "blob.bin"
    artifact.write_bytes(os.urandom(ARTIFACT_BYTES))
    client.search_runs([experiment_id], max_results=1)  # connection pool warm
    print("ready", flush=True)
    seconds = float(sys.stdin.readline())
    counts = dict.fromkeys(OPERATIONS, 0)
    errors = 0
    cpu_before = os.times()
    end = time.monotonic() + seconds
    step = 0
    while time.monotonic() < end:
        try:
            run_id = client.create_run(experiment_id).info.run_id
            counts["create_run"] += 1
            for _ in range(BATCHES_PER_LOOP):
                now = int(time.time() * 1000)
                metrics = [
                    Metric(f"m{i % 5}", float(step + i), now, step + i)
                    for i in range(POINTS_PER_BATCH)
                ]
                client.log_batch(run_id, metrics=metrics)
                step += POINTS_PER_BATCH
                counts["log_batch"] += 1
            client.search_runs(
                [experiment_id], "metrics.m1 > 10 and params.model = 'x'", max_results=100
            )
            counts["search"] += 1
            client.log_artifact(run_id, str(artifact))
            counts["upload"] += 1
        except Exception:  # counted, and the loop goes on: the figure is throughput
            errors += 1
    cpu = os.times()
    used = (cpu.user - cpu_before.user) + (cpu.system - cpu_before.system)
    print(json.dumps({"counts": counts, "errors": errors, "cpu_seconds": used}))


# -- the run ---------------------------------------------------------------------------------


def process_cpu(pid: int) -> float:
    """CPU seconds of a process and its waited-for children so far (/proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its live children (nginx's workers)."""
    total = process_cpu(pid)
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        for child in children.read_text().split():
            try:
                total += process_cpu(int(child))
            except FileNotFoundError:
                pass
    return total


def postgres_cpu() -> float:
    """CPU seconds of every live PostgreSQL process on this machine (its backends come and
    go with connections, so this undercounts ones that ended during the window)."""
    total = 0.0
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "postgres":
                total += process_cpu(int(comm.parent.name))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def machine_cpu() -> float:
    """CPU seconds the whole machine has been busy (/proc/stat, all but idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    busy = sum(values) - values[3] - values[4]
    return busy / os.sysconf("SC_CLK_TCK")


def database(name: str, create: bool) -> str:
    import sqlalchemy as sa

    from cairn.store.sql.engine import normalize_uri

    engine = sa.create_engine(normalize_uri(POSTGRES), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if create:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return POSTGRES.rsplit("/", 1)[0] + f"/{name}"


def measure(
    servers: int, args: argparse.Namespace, folder: Path, endpoint: str, moto: int
) -> dict[str, Any]:
    import cairn

    name = f"cairn_scale_out_{os.getpid()}_{servers}"
    uri = database(name, create=True)
    try:
        deployed = topology.start_topology(folder / f"servers-{servers}", uri, endpoint, servers)
    except BaseException:
        database(name, create=False)
        raise
    clients: list[subprocess.Popen[str]] = []
    try:
        client = cairn.Client(deployed.url)
        experiment_id = client.create_experiment(f"scale-out-{uuid.uuid4().hex[:8]}")
        seed = client.create_run(experiment_id).info.run_id
        client.log_param(seed, "model", "x")
        env = {**os.environ, **topology.S3_ENV, "CAIRN_CAPTURE_SOURCE": "false"}
        for index in range(args.clients):
            command = [
                sys.executable,
                __file__,
                "--client",
                deployed.url,
                experiment_id,
                str(index),
            ]
            clients.append(
                subprocess.Popen(
                    command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
                )
            )
        for process in clients:  # all started and warm, then all go at once
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"
        before = cpu_snapshot(deployed, moto)
        started = time.monotonic()
        for process in clients:
            assert process.stdin is not None
            process.stdin.write(f"{args.seconds}\n")
            process.stdin.close()
        outputs = [process.stdout.read() for process in clients if process.stdout is not None]
        for process in clients:
            process.wait(120)
        elapsed = time.monotonic() - started
        after = cpu_snapshot(deployed, moto)
    finally:
        for process in clients:
            topology.stop_process(process)  # type: ignore[arg-type]
        deployed.stop()
        database(name, create=False)
    results = [json.loads(out.strip().splitlines()[-1]) for out in outputs]
    counts = {op: sum(r["counts"][op] for r in results) for op in OPERATIONS}
    seconds = args.seconds
    cpu = {part: after[part] - before[part] for part in before}
    cpu["clients"] = sum(r["cpu_seconds"] for r in results)
    cpu["other"] = cpu["machine"] - sum(v for k, v in cpu.items() if k != "machine")
    spread = topology_spread(deployed)
    return {
        "servers": servers,
        "seconds": seconds,
        "wall_seconds": elapsed,
        "requests_per_second": {op: counts[op] / seconds for op in OPERATIONS}
        | {"total": sum(counts.values()) / seconds},
        "counts": counts,
        "errors": sum(r["errors"] for r in results),
        "cpu_seconds": cpu,
        "cpu_share_of_machine": {k: v / (seconds * (os.cpu_count() or 1)) for k, v in cpu.items()},
        "requests_per_server": spread,
    }


def cpu_snapshot(deployed: topology.Topology, moto: int) -> dict[str, float]:
    """CPU seconds used so far by each part, and by the whole machine."""
    return {
        "servers": sum(process_cpu(s.process.pid) for s in deployed.servers),
        "nginx": tree_cpu(deployed.nginx.pid),
        "moto": process_cpu(moto),
        "postgres": postgres_cpu(),
        "machine": machine_cpu(),
    }


def topology_spread(deployed: topology.Topology) -> dict[str, int]:
    served: dict[str, int] = {}
    for entry in deployed.access_entries():
        for address in entry.upstreams:
            served[address] = served.get(address, 0) + 1
    return served


def commit_rate(seconds: float, connections: int) -> float:
    """Single-row INSERT + COMMIT transactions per second, over `connections`."""
    import psycopg

    name = f"cairn_commit_rate_{os.getpid()}"
    uri = database(name, create=True)
    try:
        with psycopg.connect(uri) as conn:
            conn.execute("CREATE TABLE t (id bigserial PRIMARY KEY, v double precision)")
            conn.commit()
        done = [0] * connections
        end = time.monotonic() + seconds

        def loop(slot: int) -> None:
            with psycopg.connect(uri) as conn:
                while time.monotonic() < end:
                    conn.execute("INSERT INTO t (v) VALUES (1.0)")
                    conn.commit()
                    done[slot] += 1

        threads = [threading.Thread(target=loop, args=(i,)) for i in range(connections)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sum(done) / seconds
    finally:
        database(name, create=False)


def table(rows: list[dict[str, Any]], commits: dict[str, float]) -> str:
    lines = [
        "| Servers | create_run /s | log_batch /s (×100 points) | search /s | upload /s | total /s "
        "| errors | CPU: servers / PostgreSQL / moto / nginx / clients / other |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        rate = row["requests_per_second"]
        share = row["cpu_share_of_machine"]
        lines.append(
            f"| {row['servers']} | {rate['create_run']:.1f} | {rate['log_batch']:.1f} | "
            f"{rate['search']:.1f} | {rate['upload']:.1f} | **{rate['total']:.1f}** | "
            f"{row['errors']} | "
            + " / ".join(
                f"{share[k]:.0%}"
                for k in ("servers", "postgres", "moto", "nginx", "clients", "other")
            )
            + " |"
        )
    lines.append("")
    lines.append(
        "PostgreSQL single-row INSERT + COMMIT: "
        + ", ".join(f"{k}: {v:,.0f}/s" for k, v in commits.items())
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default="1,2,4")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--commit-seconds", type=float, default=5.0)
    parser.add_argument("--output", type=Path, default=HERE / "results" / "scale-out-latest.json")
    parser.add_argument("--client", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(args.client[0], args.client[1], int(args.client[2]))
        return
    load = os.getloadavg()
    folder = Path(tempfile.mkdtemp(prefix="cairn-scale-out-"))
    for name, value in topology.S3_ENV.items():
        os.environ.setdefault(name, value)
    moto, endpoint = moto_server.start_moto(folder / "moto.log")
    rows = []
    try:
        import boto3

        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=topology.BUCKET)
        for servers in [int(n) for n in args.servers.split(",")]:
            print(f"{servers} server(s), {args.clients} clients, {args.seconds} s", file=sys.stderr)
            rows.append(measure(servers, args, folder, endpoint, moto.pid))
            print(json.dumps(rows[-1]["requests_per_second"]), file=sys.stderr)
    finally:
        moto_server.stop(moto)
    commits = {
        f"{n} connection{'s' if n > 1 else ''}": commit_rate(args.commit_seconds, n)
        for n in (1, 16)
    }
    print(table(rows, commits))
    config = {
        "clients": args.clients,
        "seconds": args.seconds,
        "loop": f"1 create_run, {BATCHES_PER_LOOP} log_batch × {POINTS_PER_BATCH} points, "
        f"1 search (filter, max_results=100), 1 upload of {ARTIFACT_BYTES} bytes",
    }
    write_results(args.output, load, config, rows=rows, postgres_commits_per_second=commits)


if __name__ == "__main__":
    main()

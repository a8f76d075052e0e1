"""Search latency at 1,000,000 runs on PostgreSQL, through the store and through the REST API.

The database is created through Cairn's migrations, then seeded inside PostgreSQL with
`INSERT ... SELECT FROM generate_series` into Cairn's own tables (no Python per row): runs
spread over 5 experiments, each with 5 params (`model` one of x/y/z/w), 5 latest metrics
(`accuracy` uniform in [0, 1)) and one history point for each, and 3 tags. The query is a
filtered top-100, `metrics.accuracy > 0.9 and params.model = 'x'` ordered by
`metrics.accuracy DESC`, over all 5 experiments (every run) and over one; median and p95 of
`--repeats` calls after one warm-up, with the plan (EXPLAIN ANALYZE) of the id query.

    .venv/bin/python benchmarks/search_at_scale.py [--runs 1000000] [--repeats 20] [--keep]

The seeded database (`cairn_search_<runs>`) is reused when it is there with the same run
count, and dropped at the end unless `--keep`. Raw figures:
benchmarks/results/search-at-scale-latest.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "tests")]

from results_file import write_results  # noqa: E402

from local_processes import answers_health, cairn_server_command, free_port  # noqa: E402

POSTGRES = os.environ.get("CAIRN_TEST_POSTGRES_URI", "postgresql://postgres@127.0.0.1:5432/test")
EXPERIMENTS = 5
FILTER = "metrics.accuracy > 0.9 and params.model = 'x'"
ORDER_BY = ["metrics.accuracy DESC"]
TOP = 100
T0 = 1_700_000_000_000

# Run i (1-based) has the id md5(i); everything else follows from i and setseed.
SEED_SQL = [
    "SELECT setseed(0.42)",
    f"""INSERT INTO runs (run_uuid, name, experiment_id, user_id, status, start_time, end_time,
            lifecycle_stage, artifact_uri)
        SELECT md5(i::text), 'run-' || i, e.experiment_id, 'user' || (i % 20), 'FINISHED',
               {T0} + i, {T0} + i + 60000, 'active',
               e.artifact_location || '/' || md5(i::text) || '/artifacts'
        FROM generate_series(1, :runs) AS i
        JOIN (SELECT experiment_id, artifact_location,
                     row_number() OVER (ORDER BY experiment_id) - 1 AS slot
              FROM experiments WHERE name LIKE 'scale-%') AS e ON e.slot = i % {EXPERIMENTS}""",
    """INSERT INTO params (run_uuid, key, value)
        SELECT md5(i::text), p.key, p.value
        FROM generate_series(1, :runs) AS i, LATERAL (VALUES
            ('model', (ARRAY['x', 'y', 'z', 'w'])[1 + i % 4]),
            ('lr', (ARRAY['0.1', '0.01', '0.001'])[1 + i % 3]),
            ('depth', (2 + i % 10)::text),
            ('optimizer', (ARRAY['adam', 'sgd'])[1 + i % 2]),
            ('batch_size', (ARRAY['32', '64', '128', '256'])[1 + (i / 4) % 4])
        ) AS p(key, value)""",
    """INSERT INTO latest_metrics (run_uuid, key, value, timestamp, step, is_nan)
        SELECT md5(i::text), m.key, random(), :t0 + i, 99, false
        FROM generate_series(1, :runs) AS i,
             (VALUES ('accuracy'), ('loss'), ('f1'), ('precision'), ('recall')) AS m(key)""",
    """INSERT INTO metrics (run_uuid, key, step, timestamp, value, is_nan)
        SELECT run_uuid, key, step, timestamp, value, is_nan FROM latest_metrics""",
    """INSERT INTO tags (run_uuid, key, value)
        SELECT md5(i::text), t.key, t.value
        FROM generate_series(1, :runs) AS i, LATERAL (VALUES
            ('mlflow.runName', 'run-' || i),
            ('mlflow.user', 'user' || (i % 20)),
            ('team', (ARRAY['vision', 'nlp', 'tabular'])[1 + i % 3])
        ) AS t(key, value)""",
]


def database_uri(name: str) -> str:
    return POSTGRES.rsplit("/", 1)[0] + f"/{name}"


def admin(statement: str) -> None:
    import sqlalchemy as sa

    from cairn.store.sql.engine import normalize_uri

    engine = sa.create_engine(normalize_uri(POSTGRES), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(statement)
    engine.dispose()


def seeded_runs(uri: str) -> int | None:
    import sqlalchemy as sa

    from cairn.store.sql.engine import normalize_uri

    try:
        engine = sa.create_engine(normalize_uri(uri), poolclass=sa.NullPool)
        with engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT count(*) FROM runs").scalar_one())
    except sa.exc.OperationalError:
        return None  # no such database
    except sa.exc.ProgrammingError:
        return None  # no schema


def seed(uri: str, runs: int) -> float:
    """Migrate through Cairn, create the experiments through the store, then insert."""
    import sqlalchemy as sa

    from cairn.store.sql.tracking import SqlTrackingStore

    started = time.perf_counter()
    store = SqlTrackingStore(uri, "s3://cairn-artifacts/store")
    for n in range(EXPERIMENTS):
        store.create_experiment(f"scale-{n}")
    with store.engine.begin() as conn:
        for statement in SEED_SQL:
            step = time.perf_counter()
            conn.execute(sa.text(statement), {"runs": runs, "t0": T0})
            took = time.perf_counter() - step
            print(f"  {statement.split()[:3][-1]:<16} {took:6.1f} s", file=sys.stderr)
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    store.close()
    return time.perf_counter() - started


def timed(call: Any, repeats: int) -> tuple[list[float], int]:
    found = len(call())  # warm-up, and the answer's size
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples, found


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": statistics.median(ordered),
        "p95_ms": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "min_ms": ordered[0],
    }


def explain(store: Any, experiment_ids: list[str]) -> str:
    """EXPLAIN ANALYZE of the statements one search sends (the ids query first)."""
    import sqlalchemy as sa

    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            captured.append((statement, parameters))

    sa.event.listen(store.engine, "before_cursor_execute", capture)
    try:
        store.search_run_ids(experiment_ids, FILTER, max_results=TOP, order_by=ORDER_BY)
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", capture)
    plans = []
    with store.engine.connect() as conn:
        for statement, parameters in captured:
            rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            plans.append(statement + "\n" + "\n".join(row[0] for row in rows))
    return "\n\n".join(plans)


def rest_server(uri: str, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = open(folder / "server.log", "wb")
    command = cairn_server_command(port, uri, str(folder / "artifacts"), "--no-access-log")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    deadline = time.monotonic() + 60
    while not answers_health(port):
        if time.monotonic() > deadline:
            raise RuntimeError((folder / "server.log").read_text())
        try:
            process.wait(0.1)  # returns only if the server died
            raise RuntimeError((folder / "server.log").read_text())
        except subprocess.TimeoutExpired:
            continue
    return process, f"http://127.0.0.1:{port}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the seeded database")
    parser.add_argument(
        "--output", type=Path, default=HERE / "results" / "search-at-scale-latest.json"
    )
    args = parser.parse_args()
    load = os.getloadavg()
    name = f"cairn_search_{args.runs}"
    uri = database_uri(name)
    seed_seconds = None
    if seeded_runs(uri) != args.runs:
        admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin(f"CREATE DATABASE {name}")
        print(f"seeding {args.runs:,} runs into {name}", file=sys.stderr)
        seed_seconds = seed(uri, args.runs)
        print(f"seeded in {seed_seconds:.0f} s", file=sys.stderr)

    import cairn
    from cairn.store.sql.tracking import SqlTrackingStore

    rows: list[dict[str, Any]] = []
    plans: dict[str, str] = {}
    folder = Path(tempfile.mkdtemp(prefix="cairn-search-at-scale-"))
    store = SqlTrackingStore(uri, "s3://cairn-artifacts/store")
    server, url = rest_server(uri, folder)
    try:
        client = cairn.Client(url)
        ids = sorted(
            e.experiment_id for e in store.search_experiments() if e.name.startswith("scale-")
        )
        for scope, experiment_ids in (("all 5 experiments", ids), ("one experiment", ids[:1])):
            runs_in_scope = (
                args.runs if len(experiment_ids) == len(ids) else args.runs // EXPERIMENTS
            )
            plans[scope] = explain(store, experiment_ids)
            for path, call in (
                (
                    "store",
                    lambda e=experiment_ids: store.search_runs(
                        e, FILTER, max_results=TOP, order_by=ORDER_BY
                    ),
                ),
                (
                    "REST (cairn.Client)",
                    lambda e=experiment_ids: client.search_runs(
                        e, FILTER, max_results=TOP, order_by=ORDER_BY
                    ),
                ),
            ):
                samples, found = timed(call, args.repeats)
                rows.append(
                    {"scope": scope, "runs": runs_in_scope, "path": path, "found": found}
                    | summary(samples)
                    | {"samples_ms": samples}
                )
                print(f"{scope:<18} {path:<20} {rows[-1]['median_ms']:8.1f} ms", file=sys.stderr)
    finally:
        server.terminate()
        server.wait(30)
        store.close()
        if not args.keep:
            admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    print("| Runs searched | Path | median | p95 | found |\n|---:|---|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['runs']:,} ({row['scope']}) | {row['path']} | {row['median_ms']:.1f} ms "
            f"| {row['p95_ms']:.1f} ms | {row['found']} |"
        )
    for scope, plan in plans.items():
        print(f"\nPlan, {scope}:\n{plan}", file=sys.stderr)
    config = {
        "runs": args.runs,
        "experiments": EXPERIMENTS,
        "filter": FILTER,
        "order_by": ORDER_BY,
        "max_results": TOP,
        "repeats": args.repeats,
        "seed_seconds": seed_seconds,
    }
    write_results(args.output, load, config, rows=rows, plans=plans)


if __name__ == "__main__":
    main()

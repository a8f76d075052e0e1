"""Where a job's data lives: a sqlite file in the job's temp dir, or a fresh PostgreSQL database."""

from __future__ import annotations

BACKENDS = ("sqlite", "postgresql")
PG_HOST = "postgres@127.0.0.1:5432"
PG_ADMIN_DB = "test"  # an existing database to connect to while (re)creating the bench one
PG_BENCH_DB = "cairn_bench"


def fresh_postgres_database(name: str = PG_BENCH_DB) -> None:
    """Drop and recreate `name` so no job sees rows (or cached plans) left by the previous one."""
    import psycopg  # only needed for the postgresql backend

    with psycopg.connect(f"postgresql://{PG_HOST}/{PG_ADMIN_DB}", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def tracking_uri(backend: str, tool: str, workdir: str) -> str:
    """A tracking URI for `tool` on empty storage.

    MLflow's SQLAlchemy store picks the psycopg2 driver for plain postgresql://, which is not
    installed, so it is given the psycopg 3 driver explicitly; the database is the same.
    """
    if backend == "sqlite":
        return f"sqlite:///{workdir}/{tool}.db"
    if backend == "postgresql":
        fresh_postgres_database()
        scheme = "postgresql" if tool == "cairn" else "postgresql+psycopg"
        return f"{scheme}://{PG_HOST}/{PG_BENCH_DB}"
    raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")

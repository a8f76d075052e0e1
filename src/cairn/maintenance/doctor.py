"""The checks of `cairn doctor`: is this store as the migrations left it, and is anything
piling up that nobody will clean?

Each check is a small function that returns findings: what it looked at, ok / warning /
error, a message, and the SQL or command that repairs it. Told to fix, a check repairs what
is safe to repair unattended (an index, SQLite's WAL mode, runs left RUNNING by processes
long gone, planner statistics) and says so; what loses data (orphaned artifact folders) is
removed only when asked by name (`remove_orphans`), and what needs a person (a foreign
key, a database newer than this code) is only reported.

The doctor looks before it touches: without `fix` it changes nothing (health.open_engine).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import sqlalchemy as sa
from sqlalchemy import Engine

from cairn.maintenance import dead_runs
from cairn.maintenance import orphans as orphan_folders
from cairn.store.sql import engine as engines
from cairn.store.sql import health, migrate, schema_check

Level = Literal["ok", "warning", "error"]
DAY_MS = 24 * 3600 * 1000
_MIB = 1 << 20
_RUN_IDS_SHOWN = 5


@dataclass(frozen=True)
class Finding:
    """One check's verdict. `fix`: the SQL or command that repairs it (None: nothing to
    do, or nothing safe to suggest); `fixed`: `--fix` repaired it in this pass."""

    check: str
    level: Level
    message: str
    fix: str | None = None
    fixed: bool = False


@dataclass(frozen=True)
class DoctorOptions:
    uri: str
    fix: bool = False
    stuck_after_ms: int = DAY_MS
    artifact_root: str | None = None  # None: where the store puts experiments by default
    remove_orphans: bool = False


@dataclass(frozen=True)
class JournalBacklog:
    """What one tracking URI's client journal holds undelivered (counted by
    cairn.tracking.journal_backlog): records, the metric points in them, and whether a
    running process holds them (it delivers them itself) or stopped processes left them."""

    directory: str
    tracking_uri: str
    records: int
    points: int
    running_pids: tuple[int, ...] = ()
    left_records: int = 0  # of `records`, those stopped processes left
    delivered: int = 0  # records `--fix` delivered in this pass


def has_errors(findings: Sequence[Finding]) -> bool:
    return any(f.level == "error" for f in findings)


def examine(options: DoctorOptions) -> list[Finding]:
    """Every check on the database at `options.uri` and its artifact folders, in order."""
    path = health.sqlite_file(options.uri)
    if path is not None and not os.path.exists(path):
        return [Finding("database", "error", f"no database at {path}")]
    try:
        findings = check_sqlite(path, options) if path is not None else []
    except sqlite3.DatabaseError as error:
        return [Finding("database", "error", f"{path} is not a SQLite database: {error}")]
    engine = health.open_engine(options.uri)
    try:
        revision = migrate.current_revision(engine)
        findings += check_revision(options.uri, engine, revision)
        if revision != migrate.HEAD:
            return findings
        findings += check_schema(engine, options.fix)
        findings += check_dead_runs(engine, options)
        findings += check_stuck_runs(engine, options)
        findings += check_orphans(engine, options)
        findings += check_statistics(engine, options)
    finally:
        engine.dispose()
    return findings


# -- the checks --------------------------------------------------------------------------------


def check_revision(uri: str, engine: Engine, revision: str | None) -> list[Finding]:
    name = "schema revision"
    head = migrate.HEAD
    upgrade = f"cairn db upgrade {shown_uri(uri)}"
    if revision == head:
        return [Finding(name, "ok", f"{revision}, the newest this Cairn knows")]
    if revision is None:
        unreachable = _connection_error(engine)
        if unreachable:
            return [Finding("database", "error", f"cannot connect: {unreachable}")]
        return [Finding(name, "error", "no Cairn schema in this database", upgrade)]
    if revision not in migrate.known_revisions():
        return [
            Finding(
                name,
                "error",
                f"{revision} is newer than this Cairn's {head}: a newer Cairn migrated the "
                "database; other checks skipped",
                "upgrade Cairn",
            )
        ]
    return [
        Finding(
            name,
            "error",
            f"{revision}, behind this Cairn's {head}; other checks skipped until it is upgraded",
            upgrade,
        )
    ]


def _connection_error(engine: Engine) -> str | None:
    try:
        with engine.connect():
            return None
    except Exception as error:
        return _one_line(error)


def check_schema(engine: Engine, fix: bool) -> list[Finding]:
    """The indexes, unique constraints and foreign keys of expected_schema.py."""
    findings = []
    for problem in schema_check.problems(engine):
        sql = " ".join(f"{s};" for s in problem.statements) or None
        finding = Finding("schema", "error", problem.message, sql)
        if fix and problem.repairable:
            try:
                schema_check.repair(engine, problem)
            except Exception as error:
                message = f"{problem.message}; repairing failed: {_one_line(error)}"
                finding = replace(finding, message=message)
            else:
                message = f"{problem.message}; ran {sql}"
                finding = replace(finding, level="ok", fixed=True, message=message)
        elif not problem.repairable:
            finding = replace(finding, message=f"{problem.message} (not repaired by --fix)")
        findings.append(finding)
    if not findings:
        return [Finding("schema", "ok", "every index, unique constraint and foreign key is there")]
    return findings


def check_sqlite(path: str, options: DoctorOptions) -> list[Finding]:
    """WAL (readers never block the writer) and foreign keys (run children cascade)."""
    findings = []
    mode = health.journal_mode(path)
    if mode == "wal":
        findings.append(Finding("sqlite journal", "ok", "WAL"))
    else:
        finding = Finding(
            "sqlite journal",
            "error",
            f"journal_mode is {mode}, not WAL: readers block the writer",
            f"{_command(options, '--fix')} (runs PRAGMA journal_mode=WAL)",
        )
        if options.fix:
            now = health.set_wal(path)
            if now == "wal":
                finding = replace(finding, level="ok", fixed=True, message=f"{mode} -> WAL")
            else:
                finding = replace(
                    finding,
                    message=f"journal_mode stays {now}: this file system does not support WAL "
                    "(a network mount?); keep the database on a local disk",
                )
        findings.append(finding)
    if not health.enforces_foreign_keys(path):
        findings.append(
            Finding(
                "sqlite foreign keys",
                "error",
                "this SQLite library does not enforce foreign keys: deleting a run leaves its "
                "rows behind; use a Python whose sqlite3 is built with them",
            )
        )
        return findings
    broken = health.foreign_key_violations(path)
    if broken:
        findings.append(
            Finding(
                "sqlite foreign keys",
                "error",
                f"{broken}{'+' if broken >= 1000 else ''} row(s) refer to rows that are gone",
                f"sqlite3 {path} 'PRAGMA foreign_key_check;'",
            )
        )
    else:
        findings.append(Finding("sqlite foreign keys", "ok", "enforced, no broken references"))
    return findings


def check_dead_runs(engine: Engine, options: DoctorOptions) -> list[Finding]:
    """Runs RUNNING whose process is gone, by their heartbeat and owner (dead_runs.py), as
    `cairn server` and `cairn ui` find them. `fix` ends them KILLED at their last point."""
    name = "dead runs"
    dead = dead_runs.dead_runs(engine)
    if not dead:
        return [Finding(name, "ok", "no RUNNING run whose process is known to be gone")]
    shown = ", ".join(run.run_id for run in dead[:_RUN_IDS_SHOWN])
    more = f" and {len(dead) - _RUN_IDS_SHOWN} more" if len(dead) > _RUN_IDS_SHOWN else ""
    message = f"{len(dead)} RUNNING run(s) whose process is gone: {shown}{more}"
    if options.fix:
        killed = health.kill_runs(engine, dead)
        message += f"; {killed} marked KILLED, ending at their last point"
        return [Finding(name, "ok", message, fixed=True)]
    fix = f"{_command(options, '--fix')} (marks them KILLED, ending at their last point)"
    return [Finding(name, "warning", message, fix)]


def check_stuck_runs(engine: Engine, options: DoctorOptions) -> list[Finding]:
    """Runs RUNNING with no metric for `stuck_after_ms`: their process died without a
    journal to end them. `fix` ends them KILLED at their last activity."""
    name = "stuck runs"
    stuck = health.stuck_runs(engine, _now_ms() - options.stuck_after_ms)
    idle = _duration(options.stuck_after_ms)
    if not stuck:
        return [Finding(name, "ok", f"no run RUNNING without activity for over {idle}")]
    shown = ", ".join(run.run_id for run in stuck[:_RUN_IDS_SHOWN])
    more = f" and {len(stuck) - _RUN_IDS_SHOWN} more" if len(stuck) > _RUN_IDS_SHOWN else ""
    message = f"{len(stuck)} run(s) RUNNING without activity for over {idle}: {shown}{more}"
    if options.fix:
        killed = health.kill_runs(engine, stuck)
        return [
            Finding(
                name,
                "ok",
                f"{message}; {killed} marked KILLED, ending at their last activity",
                fixed=True,
            )
        ]
    return [
        Finding(
            name,
            "warning",
            message,
            f"{_command(options, f'--stuck-after {idle} --fix')} (marks them KILLED, ending at "
            "their last metric or their start)",
        )
    ]


def check_orphans(engine: Engine, options: DoctorOptions) -> list[Finding]:
    """Artifact folders under the root whose experiment, run or logged model row is gone."""
    name = "orphaned artifacts"
    root = options.artifact_root or orphan_folders.default_root(engine, options.uri)
    try:
        found = orphan_folders.find(engine, root)
    except Exception as error:
        return [Finding(name, "warning", f"cannot list {root}: {_one_line(error)}")]
    if not found:
        return [Finding(name, "ok", f"none under {root}")]
    size = sum(o.bytes for o in found)
    kinds = orphan_folders.describe_kinds(found)
    message = f"{len(found)} folder(s) under {root} with no row ({kinds}), {_mib(size)}"
    if options.remove_orphans:
        orphan_folders.remove(root, found)
        return [Finding(name, "ok", f"{message}; removed", fixed=True)]
    return [
        Finding(
            name,
            "warning",
            message,
            f"{_command(options, f'--artifact-root {root} --remove-orphans')} (deletes them "
            "for good)",
        )
    ]


def check_statistics(engine: Engine, options: DoctorOptions) -> list[Finding]:
    """Planner statistics on the tables search reads (engine.refresh_statistics)."""
    name = "statistics"
    state = health.statistics(engine)
    if state is None:
        return [Finding(name, "ok", f"kept by {engine.dialect.name} itself")]
    runs, analysed = state
    if runs < 100 or analysed * 2 > runs:
        return [Finding(name, "ok", "current")]
    message = (
        f"never taken, with {runs} runs: searches may take the wrong index"
        if analysed < 0
        else f"taken at {analysed} runs, now {runs}"
    )
    if options.fix:
        engines.refresh_statistics(engine)
        return [Finding(name, "ok", f"{message}; refreshed", fixed=True)]
    return [Finding(name, "warning", message, f"{_command(options, '--fix')} (runs ANALYZE)")]


def check_journal(
    base: str, backlogs: Sequence[JournalBacklog], fix_command: str = "cairn doctor --fix"
) -> list[Finding]:
    """Metric points and run operations that wait in client journals under `base`."""
    name = "journal"
    waiting = [b for b in backlogs if b.records]
    delivered = sum(b.delivered for b in backlogs)
    done = f"; delivered {delivered} record(s)" if delivered else ""
    if not waiting:
        return [Finding(name, "ok", f"nothing waits in {base}{done}", fixed=bool(delivered))]
    findings = []
    for backlog in waiting:
        what = (
            f"{backlog.records} record(s) with {backlog.points} metric point(s) wait in "
            f"{backlog.directory} for {backlog.tracking_uri}"
        )
        if backlog.left_records:
            findings.append(
                Finding(
                    name,
                    "warning",
                    f"{what}, {backlog.left_records} left by stopped processes{done}",
                    f"{fix_command} (delivers them; so does the next process that logs to "
                    "that URI)",
                )
            )
        else:
            pids = ", ".join(str(p) for p in backlog.running_pids)
            findings.append(
                Finding(name, "warning", f"{what}, held by running process(es) {pids}{done}")
            )
    return findings


# -- small things ------------------------------------------------------------------------------


def shown_uri(uri: str) -> str:
    """`uri` with its password, if any, masked: findings get printed and logged."""
    try:
        url = sa.make_url(uri)
    except Exception:
        return uri
    return url.render_as_string(hide_password=True) if url.password else uri


def _command(options: DoctorOptions, flags: str) -> str:
    return f"cairn doctor {shown_uri(options.uri)} {flags}"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _duration(ms: int) -> str:
    for unit, size in (("d", DAY_MS), ("h", 3600_000), ("m", 60_000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms / 1000:g}s"


def _mib(size: int) -> str:
    return f"{size / _MIB:.1f} MiB" if size >= _MIB // 10 else f"{size} bytes"


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:300]

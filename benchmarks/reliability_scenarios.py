"""The five scenarios of benchmarks/reliability.py; each returns a `Section` of figures."""

from __future__ import annotations

import argparse
import os
import signal
import struct
import subprocess
import time
from pathlib import Path
from typing import Any

from reliability_processes import Server, Trainer, hold, quiet_environment
from reliability_report import Row, Section, milliseconds
from reliability_store import read, tally

BEFORE = 3.0  # seconds of training before the first fault
RUN_KEYS = (("params", "index"), ("tags", "phase"))
TARGET_MS = 1.0


def point_rows(counts: dict[str, Any]) -> list[Row]:
    return [
        Row("points logged", f"{counts['points_logged']:,}"),
        Row("points stored", f"{counts['points_stored']:,}"),
        Row("points lost", f"{counts['points_lost']:,}", "0", counts["points_lost"] == 0),
        Row(
            "points duplicated (rows; repeated steps)",
            f"{counts['duplicated_rows']:,}; {counts['duplicated_steps']:,}",
            "0",
            counts["duplicated_rows"] == 0 and counts["duplicated_steps"] == 0,
        ),
    ]


def run_rows(counts: dict[str, Any]) -> list[Row]:
    missing = ", ".join(f"{k}: {v}" for k, v in counts["runs_missing"].items())
    created = counts["runs_created"]
    return [
        Row(
            "runs created / stored",
            f"{created:,} / {counts['runs_stored']:,}",
            "equal",
            created == counts["runs_stored"],
        ),
        Row(
            "runs stored FINISHED",
            f"{counts['runs_finished']:,}",
            f"{created:,}",
            counts["runs_finished"] == created,
        ),
        Row(
            "runs missing their param / tag", missing, "0", not any(counts["runs_missing"].values())
        ),
    ]


def call_rows(calls: dict[str, Any], killed_at: float | None, target: bool = True) -> list[Row]:
    """The slowest of each call, with when it happened relative to the kill."""
    metric = calls["log_metric"]
    rows = [
        Row("log_metric calls", f"{metric['count']:,}"),
        Row(
            "slowest log_metric",
            milliseconds(metric["max_ms"]) + when(metric, killed_at),
            "< 1 ms" if target else "",
            metric["max_ms"] < TARGET_MS if target else None,
        ),
        Row(
            "log_metric p99.9",
            milliseconds(metric["p999_ms"]),
            "< 1 ms" if target else "",
            metric["p999_ms"] < TARGET_MS if target else None,
        ),
        Row("log_metric calls over 1 ms", f"{metric['over_1ms']:,}"),
        Row(
            "first log_metric (starts the writer) / slowest after it",
            f"{milliseconds(metric['first_ms'])} / {milliseconds(metric['max_after_first_ms'])}",
        ),
    ]
    names = {"start_run": "start_run", "end_run": "end_run", "param": "log_param", "tag": "set_tag"}
    for name, label in names.items():
        if name in calls and calls[name]["count"]:
            slowest = calls[name]["max_ms"]
            rows.append(
                Row(
                    f"slowest {label} (p99)",
                    f"{milliseconds(slowest)}{when(calls[name], killed_at)} "
                    f"({milliseconds(calls[name]['p99_ms'])})",
                )
            )
    return rows


def when(summary: dict[str, Any], killed_at: float | None) -> str:
    if killed_at is None or not summary["slowest"]:
        return ""
    return f", at kill {summary['slowest'][0]['at'] - killed_at:+.1f} s"


def first_warnings(figures: dict[str, Any], since: float | None) -> list[str]:
    base = since or 0.0
    return [
        f"at {w['at'] - base:+.1f} s: “{w['message']}”" if since else f"“{w['message']}”"
        for w in figures.get("warnings", [])[:4]
    ]


# -- 1. the server goes away ---------------------------------------------------------------


def outage(root: Path, options: argparse.Namespace, seconds: float) -> Section:
    folder = root / f"outage-{seconds:g}s"
    server = Server.tracking(folder / "server")
    trainer = Trainer(
        folder / "training",
        "runs",
        server.url,
        "--rate",
        str(options.rate),
        "--flush-timeout",
        str(options.flush_timeout),
    )
    try:
        trainer.started()
        hold(BEFORE, trainer.process)
        killed_at = time.time()
        server.kill()
        hold(seconds, trainer.process)
        restart = server.start()
        down = time.time() - killed_at
        hold(options.after, trainer.process)
        trainer.say("stop")
        figures = trainer.finish(options.flush_timeout + 120)
    finally:
        stop_all(trainer, server)
    counts = tally(read(server.database), figures["logged"], RUN_KEYS)
    rows = [
        Row("server down (kill → answering again)", f"{down:.1f} s"),
        Row(
            "training rate achieved",
            f"{figures['rate']:,.0f} points/s over {figures['seconds']:.0f} s",
        ),
        Row(
            "loop's worst lag behind its schedule (a stalled loop)",
            milliseconds(figures["lag"] * 1000),
        ),
        *point_rows(counts),
        *run_rows(counts),
        *call_rows(figures["calls"], killed_at),
        Row(
            "cairn.flush(timeout) at the end",
            f"{figures['flush']} after {figures['flush_seconds']:.1f} s",
            "True",
            figures["flush"] is True,
        ),
    ]
    section = Section(f"Server killed for {seconds:g} s", rows, figures={**figures, **counts})
    section.figures.update(down_seconds=down, restart_seconds=restart, killed_at=killed_at)
    section.figures.pop("logged")
    section.notes += [f"warning {w}" for w in first_warnings(figures, killed_at)]
    return section


# -- 2. the same through the relay, with the mlflow client -----------------------------------


def relay(root: Path, options: argparse.Namespace, seconds: float) -> Section:
    folder = root / f"relay-{seconds:g}s"
    central = Server.tracking(folder / "central")
    local = Server.relay(folder / "relay", central)
    trainer = Trainer(
        folder / "training",
        "runs",
        local.url,
        "--api",
        "mlflow",
        "--rate",
        str(options.relay_rate),
    )
    try:
        trainer.started()
        hold(BEFORE, trainer.process, local.process)  # type: ignore[arg-type]
        killed_at = time.time()
        central.kill()
        hold(seconds, trainer.process, local.process)  # type: ignore[arg-type]
        central.start()
        hold(options.after, trainer.process, local.process)  # type: ignore[arg-type]
        trainer.say("stop")
        figures = trainer.finish(120)
        ended = time.monotonic()
        caught_up = wait_caught_up(central, local, figures["logged"], options.flush_timeout)
        catch_up = time.monotonic() - ended
    finally:
        stop_all(trainer, local, central)
    counts = tally(read(central.database), figures["logged"], RUN_KEYS)
    at_relay = tally(read(local.database), figures["logged"], RUN_KEYS)
    rows = [
        Row(
            "mlflow client rate achieved",
            f"{figures['rate']:,.0f} points/s over {figures['seconds']:.0f} s",
        ),
        Row(
            "relay caught up after training ended",
            f"{caught_up} after {catch_up:.1f} s",
            "True",
            caught_up,
        ),
        Row("points stored at the relay", f"{at_relay['points_stored']:,}"),
        *point_rows(counts),
        *run_rows(counts),
        *call_rows(figures["calls"], killed_at, target=False),
    ]
    section = Section(f"Through cairn relay, central killed for {seconds:g} s", rows)
    section.figures = {**figures, **counts, "at_relay": at_relay}
    section.figures.pop("logged")
    section.notes.append(
        "the mlflow client's calls are synchronous HTTP requests to the relay (no target: "
        "they never saw the central server's outage)."
    )
    return section


def wait_caught_up(central: Server, local: Server, logged: dict[str, int], timeout: float) -> bool:
    """Poll the central server's database until every point and run end has arrived."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = tally(read(central.database), logged, RUN_KEYS)
        if counts["points_lost"] == 0 and counts["runs_finished"] == counts["runs_created"]:
            return True
        assert local.process is not None
        try:
            local.process.wait(0.5)  # paces the poll; returns early if the relay died
            return False
        except subprocess.TimeoutExpired:
            continue
    return False


# -- 3. the training process is killed --------------------------------------------------------


def killed_training(root: Path, options: argparse.Namespace) -> Section:
    folder = root / "kill"
    server = Server.tracking(folder / "server")
    counter = folder / "counter"
    counter.write_bytes(bytes(8))
    victim = Trainer(
        folder / "training",
        "victim",
        server.url,
        "--rate",
        str(options.rate),
        "--counter",
        str(counter),
    )
    try:
        run_id = victim.started()
        hold(BEFORE + 0.5, victim.process)  # half-way through a flush window
        victim.process.send_signal(signal.SIGKILL)
        killed_at = time.time()
        victim.process.wait(15)
        logged = struct.unpack("<q", counter.read_bytes())[0]
        before = read(server.database)
        journal = folder / "training" / "cairn-data" / "journal"
        segments_left = len(list(journal.rglob("*.journal")))
        follower = Trainer(folder / "training", "next", server.url, name="next")
        follower.finish(120)
        adopted_at = time.time()
    finally:
        stop_all(victim, server)
    stored = read(server.database)
    counts = tally(stored, {run_id: logged}, ())
    run = stored.runs.get(run_id, {})
    window = int(options.rate * float(os.environ.get("CAIRN_METRIC_FLUSH_SECONDS", "1")))
    last_point = stored.last_point.get(run_id)
    gap = (run.get("end") or 0) - (last_point or 0)
    rows = [
        Row("points logged before the kill", f"{logged:,}"),
        Row(
            "stored when it died / after the next process",
            f"{before.distinct.get(run_id, 0):,} / {counts['points_stored']:,}",
        ),
        Row(
            "points lost",
            f"{counts['points_lost']:,}",
            f"≤ one flush window ({window:,})",
            counts["points_lost"] <= window,
        ),
        Row(
            "points duplicated (rows; repeated steps)",
            f"{counts['duplicated_rows']}; {counts['duplicated_steps']}",
            "0",
            counts["duplicated_rows"] == 0 and counts["duplicated_steps"] == 0,
        ),
        Row("segments the dead process left", f"{segments_left}"),
        Row(
            "run status after the next process",
            f"{run.get('status')} (was {before.runs.get(run_id, {}).get('status')})",
            "KILLED",
            run.get("status") == "KILLED",
        ),
        Row("run end time − last stored point's time", f"{gap} ms", "0", gap == 0),
        Row("run end time − the kill", f"{(run.get('end') or 0) - killed_at * 1000:+,.0f} ms"),
        Row(
            "next process: start → dead run KILLED",
            f"done within {adopted_at - killed_at:.1f} s of the kill",
        ),
    ]
    section = Section("Training killed with kill -9", rows)
    section.figures = {
        "logged": logged,
        "window": window,
        "run": run,
        "last_point": last_point,
        **counts,
    }
    return section


# -- 4. the journal's disk fills up -------------------------------------------------------------


def full_disk(root: Path, options: argparse.Namespace) -> Section:
    folder = root / "disk"
    server = Server.tracking(folder / "server")
    journal = folder / "journal-tmpfs"
    journal.mkdir(parents=True)
    mounted = mount_tmpfs(journal)
    extra = [] if mounted else ["--fsize-limit", str(256 * 1024)]
    trainer = Trainer(
        folder / "training",
        "runs",
        server.url,
        "--rate",
        str(2 * options.rate),
        "--hold",
        *extra,
        environment=quiet_environment(CAIRN_JOURNAL_DIR=str(journal)),
    )
    try:
        trainer.started()
        hold(8.0, trainer.process)
        trainer.say("stop")
        figures = trainer.wait_done(options.flush_timeout + 60)
        segments = [whole(path) for path in sorted(journal.rglob("*.journal"))]
        trainer.say("exit")
        trainer.process.wait(60)
        left_after = len(list(journal.rglob("*.journal")))
        exit_code = trainer.process.returncode
    finally:
        stop_all(trainer, server)
        if mounted:
            subprocess.run(["umount", str(journal)], check=False)
    counts = tally(read(server.database), figures["logged"], RUN_KEYS)
    warned = [w["message"] for w in figures["warnings"] if "journal" in w["message"]]
    torn = sum(s["torn_bytes"] for s in segments)
    rows = [
        Row("journal disk", "tmpfs, 256 KiB" if mounted else "mount refused: RLIMIT_FSIZE 256 KiB"),
        Row("training exit code", f"{exit_code}", "0", exit_code == 0),
        Row("warnings about the journal", f"{len(warned)}"),
        *point_rows(counts),
        *run_rows(counts),
        Row(
            "segments on the full disk (bytes; records)",
            "; ".join(f"{s['bytes']:,} B, {s['records']:,} records" for s in segments) or "none",
        ),
        Row("torn or unreadable bytes in them", f"{torn}", "0", torn == 0),
        Row("segments left after a clean exit", f"{left_after}"),
        *call_rows(figures["calls"], None),
    ]
    section = Section("Journal on a full disk", rows)
    section.figures = {**figures, **counts, "segments": segments, "mounted": mounted}
    section.figures.pop("logged")
    section.notes += [f"the warning printed: “{message}”" for message in warned[:2]]
    return section


def mount_tmpfs(folder: Path) -> bool:
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def whole(path: Path) -> dict[str, Any]:
    """A segment read back with journal_format.records: how much of it is whole records."""
    from cairn.tracking import journal_format

    data = path.read_bytes()
    end, count = 0, 0
    kinds: dict[str, int] = {}
    for offset, length, record in journal_format.records(data):
        end, count = offset + length, count + 1
        kinds[record.get("op")] = kinds.get(record.get("op"), 0) + 1
    return {"bytes": len(data), "records": count, "kinds": kinds, "torn_bytes": len(data) - end}


# -- 5. many processes, two restarts ---------------------------------------------------------


def many_processes(root: Path, options: argparse.Namespace) -> Section:
    folder = root / "many"
    server = Server.tracking(folder / "server")
    points = options.points_per_process
    trainers = [
        Trainer(
            folder / "training",
            "one",
            server.url,
            "--points",
            str(points),
            "--rate",
            str(options.rate),
            name=f"training-{n}",
        )
        for n in range(options.processes)
    ]
    restarts: list[float] = []
    try:
        for trainer in trainers:
            trainer.started()
        seconds = points / options.rate
        for _ in range(2):
            hold(seconds / 3, trainers[0].process)
            began = time.monotonic()
            server.kill()
            server.start()
            restarts.append(time.monotonic() - began)
        results = [trainer.finish(options.flush_timeout + 120) for trainer in trainers]
    finally:
        stop_all(*trainers, server)
    logged = {run: n for result in results for run, n in result["logged"].items()}
    counts = tally(read(server.database), logged, ())
    slowest = max(result["calls"]["log_metric"]["max_ms"] for result in results)
    after_first = max(result["calls"]["log_metric"]["max_after_first_ms"] for result in results)
    over = sum(result["calls"]["log_metric"]["over_1ms"] for result in results)
    p999 = max(result["calls"]["log_metric"]["p999_ms"] for result in results)
    flushed = sum(1 for result in results if result["flush"] is True)
    rows = [
        Row("server restarts (kill → answering)", ", ".join(f"{s:.1f} s" for s in restarts)),
        *point_rows(counts),
        Row(
            "runs stored FINISHED",
            f"{counts['runs_finished']} / {len(logged)}",
            f"{len(logged)}",
            counts["runs_finished"] == len(logged),
        ),
        Row("processes whose flush(timeout) said True", f"{flushed} / {len(results)}"),
        Row(
            "slowest log_metric in any process",
            milliseconds(slowest),
            "< 1 ms",
            slowest < TARGET_MS,
        ),
        Row("worst process's log_metric p99.9", milliseconds(p999), "< 1 ms", p999 < TARGET_MS),
        Row("slowest log_metric after each process's first", milliseconds(after_first)),
        Row("log_metric calls over 1 ms, all processes", f"{over:,}"),
    ]
    section = Section(
        f"{options.processes} processes × {points:,} points, server restarted twice", rows
    )
    section.figures = {**counts, "restarts": restarts, "results": results}
    return section


def stop_all(*processes: Trainer | Server) -> None:
    for process in processes:
        if isinstance(process, Trainer):
            if process.process.poll() is None:
                process.process.kill()
                process.process.wait(15)
        else:
            process.stop()

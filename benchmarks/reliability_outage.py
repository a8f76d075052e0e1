"""Issue 19, training must outlive the tracker: the server down for about 14 s (longer than
the client's retries) with the journal and with `CAIRN_DURABILITY=none`, the server down
as training ends, and a training process killed with kill -9 that no process follows.

Unlike issue 15's scenarios, a training process that dies is a figure here, not a failed
scenario: the trainer counts its logged points in a memory-mapped file that survives it,
so "points lost" is known either way, and "training alive" says whether it ran to its end
and exited 0.
"""

from __future__ import annotations

import argparse
import signal
import struct
import subprocess
import time
from pathlib import Path

from reliability_http import Http
from reliability_processes import Server, Trainer, quiet_environment
from reliability_report import Row, Section
from reliability_store import read

BEFORE = 3.0
AFTER = 5.0
RATE = 1000


def training_outage(
    root: Path, options: argparse.Namespace, seconds: float, durability: str, at_end: bool
) -> Section:
    """One run of `points` at RATE; the server is killed BEFORE s in (or just before the
    last point with `at_end`) and started again `seconds` later."""
    name = f"outage-{durability}-{'end' if at_end else 'mid'}"
    folder = root / name
    server = Server.tracking(folder / "server")
    counter = folder / "counter"
    counter.write_bytes(bytes(8))
    total = BEFORE + (0.5 if at_end else seconds + AFTER)
    points = int(total * RATE)
    environment = quiet_environment(CAIRN_DURABILITY=durability)
    arguments = ["--points", str(points), "--rate", str(RATE), "--counter", str(counter)]
    trainer = Trainer(folder / "training", "one", server.url, *arguments, environment=environment)
    try:
        run_id = trainer.started()
        wait_for(trainer.process, BEFORE if not at_end else total - 0.5)
        killed_at = time.monotonic()
        server.kill()
        wait_for(trainer.process, seconds)
        server.start()
        down = time.monotonic() - killed_at
        exit_code = finish(trainer.process, points / RATE + 180)
        logged = struct.unpack("<q", counter.read_bytes())[0]
        stored = settle(server, run_id)
    finally:
        if trainer.process.poll() is None:
            trainer.process.kill()
            trainer.process.wait(15)
        server.stop()
    status = stored.runs.get(run_id, {}).get("status")
    got = stored.distinct.get(run_id, 0)
    alive = exit_code == 0 and logged == points
    title = (
        f"Server down {seconds:g} s {'as training ends' if at_end else 'mid-training'}, "
        f"CAIRN_DURABILITY={durability}"
    )
    rows = [
        Row("outage (kill → answering again)", f"{down:.1f} s"),
        Row(
            "training alive (ran to its end, exit 0)", f"{alive} (exit {exit_code})", "True", alive
        ),
        Row("points the loop logged / meant to", f"{logged:,} / {points:,}"),
        Row("points stored", f"{got:,}"),
        Row("points lost (meant to log − stored)", f"{max(0, points - got):,}", "0", got >= points),
        Row("run status", f"{status}", "FINISHED", status == "FINISHED"),
    ]
    section = Section(title, rows)
    section.figures = {"down": down, "alive": alive, "exit_code": exit_code, "logged": logged,
                       "stored": got, "status": status}  # fmt: skip
    if not alive:
        section.notes.append(f"the training's last words: {trainer.errors()[-300:]!r}")
    return section


def wait_for(process: subprocess.Popen[bytes], seconds: float) -> None:
    """Let `seconds` pass (a trainer that dies meanwhile is a figure, not an error)."""
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        pass


def finish(process: subprocess.Popen[bytes], timeout: float) -> int | None:
    try:
        assert process.stdin is not None
        process.stdin.close()
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


def settle(server: Server, run_id: str, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    """The server's store once the run's point count stops changing (a journal may still
    be delivering), read every half second up to `timeout`."""
    deadline = time.monotonic() + timeout
    stored = read(server.database)
    while time.monotonic() < deadline:
        assert server.process is not None
        try:
            server.process.wait(0.5)
        except subprocess.TimeoutExpired:
            pass
        again = read(server.database)
        if again.distinct.get(run_id) == stored.distinct.get(run_id):
            return again
        stored = again
    return stored


def killed_alone(root: Path, options: argparse.Namespace) -> Section:
    """kill -9 with no process after it: what status does the run show, and when."""
    folder = root / "kill-alone"
    server = Server.tracking(folder / "server")
    counter = folder / "counter"
    counter.write_bytes(bytes(8))
    environment = quiet_environment(CAIRN_DURABILITY="none")
    arguments = ["--rate", str(RATE), "--counter", str(counter)]
    victim = Trainer(folder / "training", "victim", server.url, *arguments, environment=environment)
    wait = 20.0 if options.quick else 90.0
    try:
        run_id = victim.started()
        wait_for(victim.process, BEFORE)
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(15)
        logged = struct.unpack("<q", counter.read_bytes())[0]
        http = Http(server.port)
        deadline = time.monotonic() + wait
        status = None
        while time.monotonic() < deadline:
            answer = http.call("GET", f"/api/2.0/mlflow/runs/get?run_id={run_id}")
            status = ((answer.json() or {}).get("run") or {}).get("info", {}).get("status")
            if status != "RUNNING":
                break
            wait_for(server.process, 1.0)  # type: ignore[arg-type]
        marked_after = wait - max(0.0, deadline - time.monotonic())
        stored = read(server.database)
    finally:
        server.stop()
    got = stored.distinct.get(run_id, 0)
    run = stored.runs.get(run_id, {})
    last = stored.last_point.get(run_id) or 0
    rows = [
        Row("points logged before the kill / stored", f"{logged:,} / {got:,}"),
        Row("points lost (memory only: at most one flush window)", f"{logged - got:,}"),
        Row(
            f"run status seen by runs/get within {wait:g} s",
            f"{status}",
            "KILLED",
            status == "KILLED",
        ),  # fmt: skip
        Row("seconds until it was marked", f"{marked_after:.0f}" if status != "RUNNING" else "—"),
        Row(
            "run end time − last point's time",
            f"{(run.get('end') or 0) - last} ms" if run.get("end") else "no end time",
        ),  # fmt: skip
    ]
    section = Section("Training killed with kill -9, no process after it", rows)
    section.figures = {"logged": logged, "stored": got, "status": status, "run": run}
    return section

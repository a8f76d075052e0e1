"""Issue 15's reliability figures, with one command: outages, crashes and full disks.

Every scenario runs a real `cairn server` subprocess on a free 127.0.0.1 port over its own
SQLite file and one or more training subprocesses (reliability_training.py) that log
through the fluent API, then reads the server's SQLite file to count what arrived:

1. outage: the server is killed (SIGKILL) for `--outage` seconds, and again in a second
   scenario for `--long-outage` seconds, while training logs `--rate` points/s and starts
   a new run every second; then started again on the same port and database.
2. relay: the same through `cairn relay` with the unchanged mlflow client; the central
   server is the one killed.
3. kill: the training process is killed with kill -9 mid-run; the next process on the same
   journal delivers what was journaled and ends the run KILLED.
4. disk: the journal on a 256 KiB tmpfs that fills up while training goes on.
5. many: `--processes` processes × `--points-per-process` points while the server is
   killed and started again twice.

    .venv/bin/python benchmarks/reliability.py --quick     # about 2 minutes
    .venv/bin/python benchmarks/reliability.py             # about 15 minutes (a 10 min outage)

Prints a table per scenario; writes every figure to benchmarks/results/reliability-latest.json
and (unless --quick, or with --write) the tables into RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from reliability_report import Section, notes, redact, write_markdown
from reliability_scenarios import full_disk, killed_training, many_processes, outage, relay

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "reliability-latest.json"
SCENARIOS = ("outage", "relay", "kill", "disk", "many")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short outages and fewer points")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--outage", type=float, default=5.0, help="short outage, seconds")
    parser.add_argument("--long-outage", type=float, default=600.0, help="seconds; 0 skips it")
    parser.add_argument("--relay-long-outage", type=float, default=0.0, help="0 skips it")
    parser.add_argument("--rate", type=int, default=1000, help="points per second")
    parser.add_argument("--relay-rate", type=int, default=200, help="mlflow points per second")
    parser.add_argument("--after", type=float, default=10.0, help="training after the restart")
    parser.add_argument("--flush-timeout", type=float, default=600.0)
    parser.add_argument("--processes", type=int, default=16)
    parser.add_argument("--points-per-process", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true", help="keep the scenario folders")
    parser.add_argument("--write", action="store_true", help="write RELIABILITY.md (--quick)")
    options = parser.parse_args()
    if options.quick:
        options.long_outage = min(options.long_outage, 20.0)
        options.points_per_process = min(options.points_per_process, 3_000)
        options.after = min(options.after, 5.0)
    return options


def run(options: argparse.Namespace, root: Path) -> list[Section]:
    chosen = options.only.split(",")
    sections: list[Section] = []

    def scenario(name: str, *run_it: Any) -> None:
        function, *rest = run_it
        print(f"== {name}", file=sys.stderr, flush=True)
        began = time.monotonic()
        try:
            section = function(root, options, *rest)
        except Exception as error:  # one scenario failing still reports the others
            section = Section(name, [], error=f"{type(error).__name__}: {error}")
        section.seconds = time.monotonic() - began
        print(section.table(), flush=True)
        sections.append(section)

    if "outage" in chosen:
        scenario(f"Server killed for {options.outage:g} s", outage, options.outage)
        if options.long_outage:
            scenario(f"Server killed for {options.long_outage:g} s", outage, options.long_outage)
    if "relay" in chosen:
        scenario(
            f"Through cairn relay, central killed for {options.outage:g} s", relay, options.outage
        )
        if options.relay_long_outage:
            title = f"Through cairn relay, central killed for {options.relay_long_outage:g} s"
            scenario(title, relay, options.relay_long_outage)
    if "kill" in chosen:
        scenario("Training killed with kill -9", killed_training)
    if "disk" in chosen:
        scenario("Journal on a full disk", full_disk)
    if "many" in chosen:
        title = (
            f"{options.processes} processes × {options.points_per_process:,} points, "
            "server restarted twice"
        )
        scenario(title, many_processes)
    return sections


def main() -> None:
    options = arguments()
    root = Path(tempfile.mkdtemp(prefix="cairn-reliability-"))
    command = "python benchmarks/reliability.py " + " ".join(sys.argv[1:])
    try:
        sections = run(options, root)
    finally:
        if options.keep:
            print(f"scenario folders kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    results = {"command": command, "sections": [s.as_json() for s in sections]}
    RESULTS.write_text(redact(json.dumps(results, indent=1)))
    for line in notes(sections):
        print(f"- {line}")
    if options.write or not options.quick:
        today = datetime.date.today().isoformat()
        write_markdown(ROOT / "RELIABILITY.md", command.strip(), today, sections)
        print("RELIABILITY.md written", file=sys.stderr)


if __name__ == "__main__":
    main()

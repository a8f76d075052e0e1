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

Issue 19's figures (each scenario in its own module, against real `cairn server` processes
on loopback ports and real databases: SQLite, and a fresh database on the PostgreSQL and
MariaDB servers the tests use, dropped afterwards):

6. traversal (reliability_traversal.py): ~1,000 generated path-traversal vectors at every
   path-taking call; tried / refused / escaped, escapes checked with sentinel files.
7. authorization (reliability_authorization.py): under `--auth`, another user's ids in
   every field of every endpoint; attempts / bypasses, bypasses checked in the store.
8. fuzz (reliability_fuzz.py): seeded random and hostile requests to every route; 5xx.
9. filters (reliability_fuzz.py): many-clause search filters on every database (64 and 70
   clauses; `--heavy-filters` adds 300, 1,000 and 360 KB ones).
10. concurrency (reliability_concurrency.py): 16 writer processes on every database,
    direct and over HTTP; sent / stored / duplicated.
11. models (reliability_models.py): the hostile model corpus; tried / refused.
12. outage and kill (reliability_outage.py) add: the server down about 14 s, mid-training
    and as training ends, with and without the journal (training alive, points lost), and
    a kill -9 that no process follows (the run's status).

`attacks` selects traversal and authorization; `issue15` and `issue19` each issue's
scenarios. RELIABILITY.md and an issue's JSON file are rewritten only by a run of all of that
issue's scenarios.

    .venv/bin/python benchmarks/reliability.py --only issue19 --heavy-filters   # ~12 minutes

    .venv/bin/python benchmarks/reliability.py --quick     # about 8 minutes
    .venv/bin/python benchmarks/reliability.py             # about 20 minutes (a 10 min outage)
    .venv/bin/python benchmarks/reliability.py --quick --only attacks,fuzz,concurrency,models

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

from reliability_authorization import authorization
from reliability_concurrency import concurrency
from reliability_fuzz import filters, fuzz
from reliability_models import hostile_models
from reliability_outage import killed_alone, training_outage
from reliability_report import HEADINGS, Section, notes, redact, write_markdown
from reliability_scenarios import full_disk, killed_training, many_processes, outage, relay
from reliability_traversal import traversal

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "reliability-latest.json"
RESULT_FILES = {15: RESULTS, 19: RESULTS.with_name("reliability-issue19-latest.json")}
SCENARIOS = (
    "outage", "relay", "kill", "disk", "many",
    "traversal", "authorization", "fuzz", "filters", "concurrency", "models",
)  # fmt: skip
ISSUE_SCENARIOS = {  # fmt: skip
    15: ("outage", "relay", "kill", "disk", "many"),
    19: (
        "traversal",
        "authorization",
        "fuzz",
        "filters",
        "concurrency",
        "models",
        "outage",
        "kill",
    ),
}
ALIASES = {
    "attacks": ("traversal", "authorization"),
    "issue15": ISSUE_SCENARIOS[15],
    "issue19": ISSUE_SCENARIOS[19],
}


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
    parser.add_argument("--tracker-outage", type=float, default=14.0, help="issue 19's, seconds")
    parser.add_argument("--seed", type=int, default=19, help="the fuzzer's random seed")
    parser.add_argument(
        "--heavy-filters", action="store_true", help="300+ clause filters on every database"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scenario folders")
    parser.add_argument("--write", action="store_true", help="write RELIABILITY.md (--quick)")
    options = parser.parse_args()
    if options.quick:
        options.long_outage = min(options.long_outage, 20.0)
        options.points_per_process = min(options.points_per_process, 3_000)
        options.after = min(options.after, 5.0)
    return options


def chosen_scenarios(options: argparse.Namespace) -> list[str]:
    return [n for name in options.only.split(",") for n in ALIASES.get(name, (name,))]


def run(options: argparse.Namespace, root: Path) -> list[Section]:
    chosen = chosen_scenarios(options)
    sections: list[Section] = []

    def scenario(name: str, *run_it: Any, issue: int = 15) -> None:
        function, *rest = run_it
        print(f"== {name}", file=sys.stderr, flush=True)
        began = time.monotonic()
        try:
            section = function(root, options, *rest)
        except Exception as error:  # one scenario failing still reports the others
            section = Section(name, [], error=f"{type(error).__name__}: {error}")
        section.seconds = time.monotonic() - began
        section.issue = issue
        print(section.table(), flush=True)
        sections.append(section)

    run_issue_15(options, chosen, scenario)
    run_issue_19(options, chosen, scenario)
    return sections


def run_issue_19(options: argparse.Namespace, chosen: list[str], scenario: Any) -> None:
    for name, function in (
        ("traversal", traversal),
        ("authorization", authorization),
        ("fuzz", fuzz),
        ("filters", filters),
        ("concurrency", concurrency),
        ("models", hostile_models),
    ):
        if name in chosen:
            scenario(name, function, issue=19)
    seconds = options.tracker_outage
    if "outage" in chosen:
        settings = [("none", False), ("none", True)]
        if not options.quick:
            settings = [("journal", False), ("journal", True), *settings]
        for durability, at_end in settings:
            title = f"Server down {seconds:g} s, CAIRN_DURABILITY={durability}"
            scenario(title, training_outage, seconds, durability, at_end, issue=19)
    if "kill" in chosen:
        scenario("Training killed with kill -9, alone", killed_alone, issue=19)


def run_issue_15(options: argparse.Namespace, chosen: list[str], scenario: Any) -> None:

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
    # An issue's figures are replaced only by a run of all its scenarios: a partial run
    # (`--only kill`) must not drop the others' tables.
    chosen = set(chosen_scenarios(options))
    complete = {issue for issue, names in ISSUE_SCENARIOS.items() if chosen.issuperset(names)}
    sections_kept = [s for s in sections if s.issue in complete]
    for issue, path in RESULT_FILES.items():
        figures = [s.as_json() for s in sections_kept if s.issue == issue]
        if figures:  # a file of scenarios not rerun stays as it was
            results = {"command": command, "sections": figures}
            path.write_text(redact(json.dumps(results, indent=1)))
    for line in notes(sections):
        print(f"- {line}")
    if options.write or not options.quick:
        today = datetime.date.today().isoformat()
        for issue, heading in HEADINGS.items():
            mine = [section for section in sections_kept if section.issue == issue]
            if mine:  # a section not rerun stays as it was
                write_markdown(ROOT / "RELIABILITY.md", command.strip(), today, mine, heading)
        print("RELIABILITY.md written", file=sys.stderr)


if __name__ == "__main__":
    main()

"""Run the Cairn vs MLflow benchmark suite and print a markdown comparison table.

    .venv/bin/python benchmarks/run.py [--only log_metric,search] [--backend postgresql]
                                       [--mlflow-10k] [--quick] [--tools cairn]

Progress goes to stderr; the table goes to stdout; everything is saved in results/latest.json
(results/latest-postgresql.json for --backend postgresql).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # siblings, however this is launched

from backends import BACKENDS
from plan import GROUPS, build
from report import Table, build_rows, markdown, meta, write_json
from runner import JobResult, run_job
from tools import TOOLS

RESULTS = Path(__file__).resolve().parent / "results"


def csv_choice(allowed: tuple[str, ...]) -> Callable[[str], list[str]]:
    """An argparse type for comma-separated names drawn from `allowed`."""

    def parse(text: str) -> list[str]:
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = sorted(set(names) - set(allowed))
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {unknown}; choose from {', '.join(allowed)}")
        return names

    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only",
        type=csv_choice(GROUPS),
        default=list(GROUPS),
        help=f"comma-separated workloads (default all): {', '.join(GROUPS)}",
    )
    parser.add_argument("--backend", choices=BACKENDS, default="sqlite")
    parser.add_argument(
        "--mlflow-10k",
        action="store_true",
        help="also seed and search 10,000 MLflow runs (takes minutes)",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument(
        "--tools",
        type=csv_choice(TOOLS),
        default=list(TOOLS),
        help="comma-separated tools to run (default both)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    jobs = build(args.only, args.tools, args.quick, args.mlflow_10k)
    results: list[JobResult] = []
    for i, job in enumerate(jobs, 1):
        print(
            f"[{i}/{len(jobs)}] {job.tool} {job.key} (n={job.n:,}) ...",
            file=sys.stderr,
            end=" ",
            flush=True,
        )
        result = run_job(job, args.backend)
        status = "FAILED" if result.error else "ok"
        print(f"{status} in {result.seconds:.1f} s", file=sys.stderr, flush=True)
        if result.error:
            print(result.error, file=sys.stderr)
        results.append(result)
    info = meta(args.backend, args.quick)
    table = Table(results)
    rendered = [table.render(row) for row in build_rows(jobs)]
    print(markdown(info, rendered, results))
    name = "latest.json" if args.backend == "sqlite" else f"latest-{args.backend}.json"
    write_json(RESULTS / name, info, rendered, results)
    print(f"\nresults written to {RESULTS / name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

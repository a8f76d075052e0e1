"""Subprocess entry point: run one workload for one tool and print one JSON line per measurement.

A fresh process per (tool, workload) keeps imports, background threads and atexit handlers of
one tool from affecting the other, and makes import cost part of no timed region.

    python benchmarks/worker.py --tool cairn --workload log_batch --uri sqlite:///x.db --n 50
"""

from __future__ import annotations

import argparse
import json

from tools import TOOLS


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tool", choices=TOOLS, required=True)
    parser.add_argument("--workload", required=True)
    parser.add_argument("--uri", default="", help="tracking URI (unused by the import workload)")
    parser.add_argument("--n", type=int, required=True, help="points, calls, runs or processes")
    parser.add_argument("--repeats", type=int, default=1, help="timed repeats, where applicable")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> list[dict[str, object]]:
    """Import lazily: the import workload must not have the tool loaded in this process."""
    if args.workload == "import":
        from import_cost import import_cost

        return import_cost(args.tool, args.n)
    from tools import load
    from workloads import WORKLOADS

    if args.workload not in WORKLOADS:
        raise SystemExit(f"unknown workload {args.workload!r}")
    return WORKLOADS[args.workload](load(args.tool, args.uri), args.n, args.repeats)


def main(argv: list[str] | None = None) -> None:
    for result in run(parse_args(argv)):
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

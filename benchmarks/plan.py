"""Which jobs to run and at what size; the only place benchmark sizes are set."""

from __future__ import annotations

from dataclasses import dataclass

# The workload names accepted by --only; each may expand to several jobs.
GROUPS = ("log_metric", "log_batch", "runs", "search", "import")

# Per group: job workload -> {tool: (n, repeats)}. n is points, calls, runs or processes.
FULL: dict[str, dict[str, dict[str, tuple[int, int]]]] = {
    "log_metric": {
        "log_metric": {"cairn": (1_000_000, 1), "mlflow": (2_000, 1)},
        "log_metric_async": {"mlflow": (2_000, 1)},
    },
    "log_batch": {"log_batch": {"cairn": (50, 1), "mlflow": (10, 1)}},
    "runs": {"runs": {"cairn": (2_000, 1), "mlflow": (200, 1)}},
    "import": {"import": {"cairn": (10, 1), "mlflow": (10, 1)}},
}
QUICK: dict[str, dict[str, dict[str, tuple[int, int]]]] = {
    "log_metric": {
        "log_metric": {"cairn": (20_000, 1), "mlflow": (200, 1)},
        "log_metric_async": {"mlflow": (200, 1)},
    },
    "log_batch": {"log_batch": {"cairn": (10, 1), "mlflow": (5, 1)}},
    "runs": {"runs": {"cairn": (200, 1), "mlflow": (50, 1)}},
    "import": {"import": {"cairn": (5, 1), "mlflow": (5, 1)}},
}
SEARCH_REPEATS = {"full": 7, "quick": 3}


@dataclass(frozen=True)
class Job:
    """One subprocess: one tool, one workload, one size."""

    tool: str
    workload: str
    n: int
    repeats: int = 1

    @property
    def key(self) -> str:
        """Identifies the job's measurements; search runs at several sizes, so it carries n."""
        return f"{self.workload}@{self.n}" if self.workload == "search" else self.workload


def search_sizes(quick: bool, mlflow_10k: bool) -> dict[str, list[int]]:
    """Cairn at 2k (like-for-like with MLflow), 10k and 100k; MLflow at 2k, 10k only on request.

    Seeding MLflow runs at ~50 runs/s, so 10k runs cost minutes and 100k would cost an hour.
    """
    if quick:
        return {"cairn": [1_000], "mlflow": [1_000]}
    return {"cairn": [2_000, 10_000, 100_000], "mlflow": [2_000, 10_000] if mlflow_10k else [2_000]}


def build(only: list[str], tools: list[str], quick: bool, mlflow_10k: bool) -> list[Job]:
    """The job list, ordered by workload so each Cairn job sits beside its MLflow counterpart."""
    sizes = QUICK if quick else FULL
    jobs: list[Job] = []
    for group in only:
        if group == "search":
            per_tool = search_sizes(quick, mlflow_10k)
            repeats = SEARCH_REPEATS["quick" if quick else "full"]
            all_sizes = sorted({n for ns in per_tool.values() for n in ns})
            jobs += [
                Job(tool, "search", n, repeats)
                for n in all_sizes
                for tool in tools
                if n in per_tool[tool]
            ]
            continue
        for workload, per_tool_sizes in sizes[group].items():
            jobs += [
                Job(tool, workload, *per_tool_sizes[tool])
                for tool in tools
                if tool in per_tool_sizes
            ]
    return jobs

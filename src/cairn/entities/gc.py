"""What a garbage collection is asked to do and what it did: plain values, shared by the
collector (cairn.maintenance.gc), the server's admin endpoint and the REST client."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GcRequest:
    """Which deleted runs and experiments to remove for good.

    `older_than_ms`: only what was deleted at least this long ago (None or 0: everything
    deleted). `experiment_ids` / `run_ids`: only these (ids; the CLI resolves names); both
    empty: every deleted run and experiment. `apply_retention`: first soft-delete the runs
    that experiments' retention tags no longer keep.
    """

    older_than_ms: int | None = None
    experiment_ids: tuple[str, ...] = ()
    run_ids: tuple[str, ...] = ()
    dry_run: bool = False
    apply_retention: bool = False


@dataclass(frozen=True)
class Kept:
    """Something the collector left in place, and why (for the summary)."""

    kind: str  # "run" | "experiment" | "logged_model" | "artifacts"
    id: str
    reason: str


@dataclass
class GcReport:
    """What a collection removed (or, on a dry run, would remove)."""

    dry_run: bool = False
    runs: list[str] = field(default_factory=list)
    experiments: list[str] = field(default_factory=list)
    logged_models: list[str] = field(default_factory=list)
    traces: int = 0
    metric_points: int = 0
    files: int = 0
    bytes: int = 0
    kept: list[Kept] = field(default_factory=list)
    retention_deleted: list[str] = field(default_factory=list)
    """Runs that retention policies moved to the deleted state in this pass."""
    done: bool = True
    """False when a bounded pass (`max_runs`) stopped with more left to collect."""

    def merge(self, other: GcReport) -> None:
        """Add a later pass's figures to this one's (the CLI's batches through a server)."""
        self.runs += other.runs
        self.experiments += other.experiments
        self.logged_models += other.logged_models
        self.traces += other.traces
        self.metric_points += other.metric_points
        self.files += other.files
        self.bytes += other.bytes
        seen = {(k.kind, k.id) for k in self.kept}
        self.kept += [k for k in other.kept if (k.kind, k.id) not in seen]
        self.retention_deleted += other.retention_deleted
        self.done = other.done

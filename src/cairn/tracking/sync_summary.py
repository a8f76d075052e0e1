"""What a sync sent, counted: the summary `cairn sync` prints and tests compare."""

from __future__ import annotations

from dataclasses import dataclass, field, fields


@dataclass
class SyncSummary:
    """What one sync (or one run of it) sent; `requests` counts every write sent."""

    runs_created: int = 0
    runs_updated: int = 0
    runs_unchanged: int = 0
    runs_failed: int = 0
    points: int = 0
    params: int = 0
    tags: int = 0
    datasets: int = 0
    models: int = 0
    artifact_files: int = 0
    artifact_bytes: int = 0
    requests: int = 0
    failures: list[str] = field(default_factory=list)

    def add(self, other: SyncSummary) -> None:
        for counter in fields(self):
            if counter.name != "failures":
                setattr(
                    self, counter.name, getattr(self, counter.name) + getattr(other, counter.name)
                )
        self.failures.extend(other.failures)

    def describe(self) -> str:
        return (
            f"runs: {self.runs_created} created, {self.runs_updated} updated, "
            f"{self.runs_unchanged} unchanged, {self.runs_failed} failed; sent "
            f"{self.points} points, {self.params} params, {self.tags} tags, "
            f"{self.datasets} datasets, {self.models} models, {self.artifact_files} artifact "
            f"files ({self.artifact_bytes} bytes) in {self.requests} requests"
        )

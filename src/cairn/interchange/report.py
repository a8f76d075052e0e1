"""The fidelity report: per kind of entity, how many the source holds, how many were
imported, how many were there already, and how many were skipped and why; artifact bytes
and checksum mismatches. `cairn import`/`export` print it and write it as JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

KINDS = (
    "experiments",
    "runs",
    "metric_points",
    "params",
    "tags",
    "datasets",
    "logged_models",
    "registered_models",
    "model_versions",
    "artifact_files",
)
#: Reasons kept per kind; beyond, only counted (a broken store can have millions).
MAX_REASONS = 200


@dataclass
class KindCount:
    source: int = 0
    imported: int = 0
    present: int = 0
    skipped: int = 0
    reasons: list[str] = field(default_factory=list)


@dataclass
class FidelityReport:
    source: str
    target: str
    kinds: dict[str, KindCount] = field(default_factory=lambda: {k: KindCount() for k in KINDS})
    artifact_bytes: int = 0
    checksum_mismatches: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, kind: str, *, source: int = 0, imported: int = 0, present: int = 0) -> None:
        entry = self.kinds[kind]
        entry.source += source
        entry.imported += imported
        entry.present += present

    def skip(self, kind: str, reason: str, *, source: int = 1) -> None:
        entry = self.kinds[kind]
        entry.source += source
        entry.skipped += 1
        if len(entry.reasons) < MAX_REASONS:
            entry.reasons.append(reason)

    def problem(self, message: str) -> None:
        """Something the source holds that is broken but did not stop an entity (a run
        with no end time, an unreadable history line)."""
        if len(self.problems) < MAX_REASONS:
            self.problems.append(message)

    @property
    def identical(self) -> bool:
        """Nothing imported, nothing skipped: the target held everything already."""
        return all(k.imported == 0 and k.skipped == 0 for k in self.kinds.values())

    @property
    def complete(self) -> bool:
        return all(k.skipped == 0 for k in self.kinds.values()) and not self.checksum_mismatches

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "identical": self.identical,
            "complete": self.complete,
            "seconds": round(self.seconds, 3),
            "kinds": {
                name: {
                    "source": k.source,
                    "imported": k.imported,
                    "present": k.present,
                    "skipped": k.skipped,
                    "reasons": k.reasons,
                }
                for name, k in self.kinds.items()
            },
            "artifact_bytes": self.artifact_bytes,
            "checksum_mismatches": self.checksum_mismatches,
            "problems": self.problems,
        }

    def write(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(self.to_json(), out, indent=2)
            out.write("\n")

    def table(self) -> str:
        """The terminal table, one line per kind, then the bytes, skips and problems."""
        head = f"{'':<18}{'source':>12}{'imported':>12}{'present':>12}{'skipped':>10}"
        lines = [head]
        for name, k in self.kinds.items():
            label = name.replace("_", " ")
            lines.append(
                f"{label:<18}{k.source:>12,}{k.imported:>12,}{k.present:>12,}{k.skipped:>10,}"
            )
        lines.append(
            f"artifact bytes copied: {self.artifact_bytes:,}; "
            f"checksum mismatches: {self.checksum_mismatches}"
        )
        for name, k in self.kinds.items():
            lines.extend(f"skipped {name.replace('_', ' ')}: {why}" for why in k.reasons)
        lines.extend(f"problem: {p}" for p in self.problems)
        if self.identical:
            lines.append("The target already held everything: nothing was imported.")
        return "\n".join(lines)

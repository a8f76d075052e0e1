"""Tables and RELIABILITY.md for benchmarks/reliability.py."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

INTRO = """# Cairn reliability

What Cairn does when things break under a training loop: the tracking server goes away,
the training process is killed, the journal's disk fills up. Every figure here comes from
real processes on one machine (a `cairn server` subprocess on a loopback port over SQLite,
training subprocesses using the fluent API or the unchanged mlflow client), counted from the
server's own database afterwards, and is reproduced by the command given with it
(`benchmarks/reliability.py`; `--quick` for a short version).
"""

HEADING = "## Issue 15: outages, crashes and full disks"
HEADINGS = {
    15: HEADING,
    19: "## Issue 19: attacks, fuzzing, concurrent writers, hostile models, outages",
}
# The scenario folders are temporary: their paths say nothing to a reader.
# Quotes end a path too: the JSON results are redacted as text.
TEMPORARY_PATH = re.compile(r"/[^\s\"']*cairn-reliability-[^\s/\"']+(/[^\s,)\"']*[^\s,.)\"'])?")


@dataclass
class Row:
    figure: str
    value: str
    target: str = ""
    met: bool | None = None

    def verdict(self) -> str:
        if self.met is None:
            return self.target
        return f"{self.target} {'✓' if self.met else '✗ missed'}"


@dataclass
class Section:
    title: str
    rows: list[Row]
    error: str | None = None
    seconds: float = 0.0
    figures: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    issue: int = 15  # the RELIABILITY.md section it belongs to

    def table(self) -> str:
        lines = [f"### {self.title}", ""]
        if self.error:
            lines.append(f"**Failed:** `{self.error}`")
        if self.rows:
            lines += ["| Figure | Value | Target |", "|---|---|---|"]
            lines += [f"| {r.figure} | {r.value} | {r.verdict()} |" for r in self.rows]
        lines.append("")
        return "\n".join(lines)

    def missed(self) -> list[Row]:
        return [row for row in self.rows if row.met is False]

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "error": self.error,
            "seconds": self.seconds,
            "rows": [row.__dict__ for row in self.rows],
            "figures": self.figures,
            "notes": self.notes,
        }


def milliseconds(value: float) -> str:
    return f"{value:.3f} ms" if value < 10 else f"{value:,.0f} ms"


def notes(sections: list[Section]) -> list[str]:
    """What each scenario's figures mean, and every target missed, in plain words."""
    lines: list[str] = []
    for section in sections:
        if section.error:
            lines.append(f"{section.title}: the scenario failed ({section.error}).")
        for row in section.missed():
            lines.append(f"{section.title}: missed: {row.figure} = {row.value} ({row.target}).")
        lines += [f"{section.title}: {note}" for note in section.notes]
    return [redact(line) for line in lines]


def redact(text: str) -> str:
    return TEMPORARY_PATH.sub("<scenario folder>", text)


def write_markdown(
    path: Path, command: str, date: str, sections: list[Section], heading: str = HEADING
) -> None:
    """Replace (or add) the section under `heading` of RELIABILITY.md; the rest stays."""
    body = [f"{heading} — {date}", "", "```", command, "```", ""]
    body += [section.table() for section in sections]
    body += ["### Notes", ""] + [f"- {line}" for line in notes(sections)] + [""]
    text = path.read_text() if path.exists() else INTRO
    pattern = re.compile(rf"^{re.escape(heading)}.*?(?=^## |\Z)", re.S | re.M)
    section = "\n".join(body) + "\n"
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")

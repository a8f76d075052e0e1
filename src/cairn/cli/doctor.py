"""`cairn doctor [URI]`: check a tracking store's health, and repair what is safe with --fix.

Exits 1 while an error-level finding remains, so a cron job or a CI step can run it.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

import click

from cairn.exceptions import CairnError

if TYPE_CHECKING:  # loaded when the command runs: `cairn --help` stays fast
    from cairn.maintenance.doctor import DoctorOptions, Finding

_MARKS = {"ok": "✓", "warning": "!", "error": "✗"}


def parse_duration(value: str) -> int:
    """`90m`, `24h`, `7d` as milliseconds."""
    from cairn.durations import duration_ms

    try:
        return duration_ms(value)
    except CairnError:
        raise click.BadParameter(
            f"{value!r}: expected a number and a unit, s, m, h, d or w (e.g. 24h)",
            param_hint="--stuck-after",
        ) from None


@click.command()
@click.argument("uri", required=False)
@click.option("--fix", is_flag=True, help="Repair what is safe: indexes, WAL, stuck runs, …")
@click.option(
    "--stuck-after",
    default="24h",
    show_default=True,
    help="A RUNNING run with no metric for this long is stuck (s, m, h, d, w).",
)
@click.option(
    "--artifact-root",
    default=None,
    help="Where experiment folders are (default: beside the Default experiment's).",
)
@click.option(
    "--journal-dir",
    default=None,
    help="The client journals' folder (default: CAIRN_JOURNAL_DIR, beside a SQLite "
    "database, or ./cairn-data/journal).",
)
@click.option(
    "--remove-orphans",
    is_flag=True,
    help="Delete, for good, artifact folders whose experiment, run or model row is gone.",
)
@click.option("--json", "as_json", is_flag=True, help="Findings as JSON.")
def doctor(
    uri: str | None,
    fix: bool,
    stuck_after: str,
    artifact_root: str | None,
    journal_dir: str | None,
    remove_orphans: bool,
    as_json: bool,
) -> None:
    """Check the tracking database at URI (default: CAIRN_TRACKING_URI, else ./cairn-data/):
    schema revision, indexes and constraints, SQLite settings, runs stuck RUNNING, artifact
    folders with no row, planner statistics, and what waits in client journals."""
    from cairn.maintenance import doctor as checks
    from cairn.store.uri import default_tracking_uri, scheme_of

    target = uri or default_tracking_uri()
    if scheme_of(target) in ("http", "https"):
        raise click.ClickException(
            f"{target} is a server: run cairn doctor on its database URI, where it runs."
        )
    options = checks.DoctorOptions(
        uri=target,
        fix=fix,
        stuck_after_ms=parse_duration(stuck_after),
        artifact_root=artifact_root,
        remove_orphans=remove_orphans,
    )
    try:
        findings = checks.examine(options)
        findings += _journal(options, journal_dir, findings)
    except CairnError as error:
        raise click.ClickException(error.message) from error
    if as_json:
        click.echo(json.dumps(_document(target, findings), indent=2))
    else:
        click.echo(f"cairn doctor {checks.shown_uri(target)}")
        for finding in findings:
            click.echo(_line(finding))
    if checks.has_errors(findings):
        raise SystemExit(1)


def _journal(
    options: DoctorOptions, journal_dir: str | None, so_far: list[Finding]
) -> list[Finding]:
    """The journal check; with --fix, what stopped processes left is delivered first
    (unless the database needs a person: delivering would open, and so migrate, it)."""
    from cairn.maintenance import doctor as checks
    from cairn.tracking import journal_backlog

    base = journal_backlog.base_directory(options.uri, journal_dir)
    backlogs = journal_backlog.backlogs(base)
    failures: list[Finding] = []
    database_ok = not any(
        f.check in ("database", "schema revision") and f.level == "error" for f in so_far
    )
    if options.fix and database_ok:
        for index, backlog in enumerate(backlogs):
            if not backlog.left_records:
                continue
            try:
                backlogs[index] = journal_backlog.deliver(backlog)
            except (ConnectionError, CairnError, OSError) as error:
                message = error.message if isinstance(error, CairnError) else str(error)
                failures.append(
                    checks.Finding(
                        "journal", "error", f"cannot deliver {backlog.directory}: {message}"
                    )
                )
    fix_command = f"cairn doctor {checks.shown_uri(options.uri)} --fix"
    if journal_dir:
        fix_command += f" --journal-dir {journal_dir}"
    return checks.check_journal(base, backlogs, fix_command) + failures


def _line(finding: Finding) -> str:
    text = f"{_MARKS[finding.level]} {finding.check}: {finding.message}"
    if finding.fixed:
        text += " [fixed]"
    elif finding.fix:
        text += f"\n    fix: {finding.fix}"
    return text


def _document(uri: str, findings: list[Finding]) -> dict[str, object]:
    from cairn.maintenance.doctor import has_errors, shown_uri

    return {
        "uri": shown_uri(uri),
        "ok": not has_errors(findings),
        "findings": [dataclasses.asdict(f) for f in findings],
    }

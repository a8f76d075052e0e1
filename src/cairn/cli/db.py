"""`cairn db ...`: database maintenance."""

from __future__ import annotations

import click

from cairn.exceptions import CairnError


@click.group()
def db() -> None:
    """Manage the tracking database."""


@db.command()
@click.argument("uri")
@click.option(
    "--no-backup",
    is_flag=True,
    help="Do not copy a SQLite database beside itself before migrating it.",
)
def upgrade(uri: str, no_backup: bool) -> None:
    """Migrate the database at URI to the newest schema (safe to run while others use it).

    A SQLite database is first copied to `<file>.backup-<revision>-<time>` beside itself.
    A database migrated by a newer Cairn is refused.
    """
    from cairn.store.sql import engine, migrate

    target = None
    try:
        target = engine.create(uri)
        before = migrate.current_revision(target)
        backup = migrate.ensure_schema(target, backup=not no_backup)
        after = migrate.current_revision(target)
    except CairnError as error:
        raise click.ClickException(error.message) from error
    except Exception as error:
        raise click.ClickException(f"Cannot migrate {uri}: {error}") from error
    finally:
        if target is not None:
            target.dispose()
    if before == after:
        click.echo(f"Database is already at revision {after}.")
        return
    if backup:
        click.echo(f"Backed up the database at revision {before} to {backup}.")
    click.echo(f"Database migrated from revision {before or 'none'} to {after}.")

"""`cairn db ...`: database maintenance."""

from __future__ import annotations

import click

from cairn.exceptions import CairnError


@click.group()
def db() -> None:
    """Manage the tracking database."""


@db.command()
@click.argument("uri")
def upgrade(uri: str) -> None:
    """Migrate the database at URI to the newest schema (safe to run while others use it)."""
    from cairn.store.sql import engine, migrate

    target = None
    try:
        target = engine.create(uri)
        before = migrate.current_revision(target)
        migrate.ensure_schema(target)
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
    else:
        click.echo(f"Database migrated from revision {before or 'none'} to {after}.")

"""`cairn models list|versions|transition|alias|history`: the model registry from a shell.

Commands of the `cairn models` group; each reads or changes the registry of the tracking URI
(`--tracking-uri`, else CAIRN_TRACKING_URI, else the default store) and prints plain,
tab-separated columns that `cut` and `column -t` understand.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import click

from cairn.cli.models import models
from cairn.entities import ModelVersion, RegisteredModel
from cairn.exceptions import CairnError
from cairn.tracking.client import Client

_URI_OPTION = click.option(
    "--tracking-uri",
    default=None,
    help="Where the registry lives (default: CAIRN_TRACKING_URI, else ./cairn-data/).",
)


@contextmanager
def client_for(tracking_uri: str | None) -> Iterator[Client]:
    """A Client whose errors become one-line CLI errors (exit status 1)."""
    try:
        yield Client(tracking_uri)
    except CairnError as error:
        raise click.ClickException(f"{error.error_code}: {error.message}") from None


def _time(milliseconds: int | None) -> str:
    if not milliseconds:
        return "-"
    moment = datetime.datetime.fromtimestamp(milliseconds / 1000, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _rows(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    click.echo("\t".join(header))
    for row in rows:
        click.echo("\t".join(row))


@models.command("list")
@click.option("--filter", "filter_string", default=None, help="e.g. \"name LIKE 'churn%'\".")
@_URI_OPTION
def list_models(filter_string: str | None, tracking_uri: str | None) -> None:
    """List registered models with their newest version per stage and their aliases."""
    with client_for(tracking_uri) as client:
        found: list[RegisteredModel] = []
        token: str | None = None
        while True:
            page = client.search_registered_models(filter_string, 1000, page_token=token)
            found.extend(page)
            token = page.token
            if not token:
                break
    _rows(
        ("name", "latest_versions", "aliases", "last_updated"),
        [
            (
                m.name,
                " ".join(f"{v.current_stage}:{v.version}" for v in m.latest_versions) or "-",
                " ".join(f"{a}:{v}" for a, v in sorted(m.aliases.items())) or "-",
                _time(m.last_updated_timestamp),
            )
            for m in found
        ],
    )


@models.command()
@click.argument("name")
@_URI_OPTION
def versions(name: str, tracking_uri: str | None) -> None:
    """List the versions of registered model NAME, newest first."""
    with client_for(tracking_uri) as client:
        client.get_registered_model(name)  # an unknown name is an error, not an empty list
        quote = '"' if "'" in name else "'"
        found = list(client.search_model_versions(f"name = {quote}{name}{quote}"))
    header = ("version", "stage", "aliases", "run_id", "source", "created")
    _rows(header, [_version_row(v) for v in found])


def _version_row(v: ModelVersion) -> tuple[str, ...]:
    return (
        v.version,
        v.current_stage,
        " ".join(v.aliases) or "-",
        v.run_id or "-",
        v.source,
        _time(v.creation_timestamp),
    )


@models.command()
@click.argument("name")
@click.argument("version")
@click.argument("stage")
@click.option(
    "--archive-existing",
    is_flag=True,
    help="Archive the versions now in STAGE (Staging or Production only).",
)
@_URI_OPTION
def transition(
    name: str, version: str, stage: str, archive_existing: bool, tracking_uri: str | None
) -> None:
    """Move VERSION of NAME to STAGE (None, Staging, Production or Archived)."""
    with client_for(tracking_uri) as client:
        moved = client.transition_model_version_stage(name, version, stage, archive_existing)
    click.echo(f"{moved.name} version {moved.version} is now in {moved.current_stage}.")


@models.command()
@click.argument("name")
@click.argument("alias")
@click.argument("version", required=False)
@click.option("--delete", is_flag=True, help="Remove the alias instead of setting it.")
@_URI_OPTION
def alias(
    name: str, alias: str, version: str | None, delete: bool, tracking_uri: str | None
) -> None:
    """Point ALIAS of NAME at VERSION (models:/NAME@ALIAS then loads it), or --delete it."""
    if delete == (version is not None):
        raise click.UsageError("Give a VERSION to set the alias, or --delete to remove it.")
    with client_for(tracking_uri) as client:
        if delete:
            client.delete_registered_model_alias(name, alias)
            click.echo(f"Alias {alias!r} of {name} removed.")
            return
        client.set_registered_model_alias(name, alias, str(version))
    click.echo(f"{name}@{alias} is now version {version}.")


@models.command()
@click.argument("name")
@click.argument("version")
@_URI_OPTION
def history(name: str, version: str, tracking_uri: str | None) -> None:
    """Show every stage transition and alias move of VERSION of NAME: who, when, from, to."""
    with client_for(tracking_uri) as client:
        events = client.get_model_version_history(name, version)
    _rows(
        ("time", "event", "alias", "from", "to", "user"),
        [
            (
                _time(e.timestamp),
                e.kind.value,
                e.alias or "-",
                e.from_value or "-",
                e.to_value or "-",
                e.user_id or "-",
            )
            for e in events
        ],
    )

"""The `cairn` command: one click group, one module per command family."""

from __future__ import annotations

from typing import Any

import click

from cairn.cli import model_registry  # noqa: F401 - adds the registry commands to `models`
from cairn.cli.db import db
from cairn.cli.doctor import doctor
from cairn.cli.gc import gc
from cairn.cli.interchange import export, import_
from cairn.cli.lineage import lineage
from cairn.cli.models import models
from cairn.cli.relay import relay
from cairn.cli.server import server, ui
from cairn.cli.storage import storage
from cairn.cli.sync import sync
from cairn.cli.users import users
from cairn.extras import MissingExtraError


def _show_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """`cairn --version`: Cairn's own version, and the MLflow version whose REST API it
    speaks (what the server's `/version` answers, for MLflow clients)."""
    if not value or ctx.resilient_parsing:
        return
    from cairn.version import MLFLOW_COMPATIBLE_VERSION, __version__

    click.echo(f"cairn {__version__} (MLflow API {MLFLOW_COMPATIBLE_VERSION})")
    ctx.exit()


class _CairnGroup(click.Group):
    """The `cairn` group: a missing optional dependency, from any command, ends it with the
    one-line message naming the extra to install instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MissingExtraError as missing:
            raise click.ClickException(str(missing)) from None


@click.group(cls=_CairnGroup)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_show_version,
    help="Show the version (and the MLflow API version served) and exit.",
)
def cli() -> None:
    """Cairn: experiment tracking and model registry."""


cli.add_command(db)
cli.add_command(doctor)
cli.add_command(export)
cli.add_command(gc)
cli.add_command(import_)
cli.add_command(lineage)
cli.add_command(models)
cli.add_command(relay)
cli.add_command(server)
cli.add_command(storage)
cli.add_command(sync)
cli.add_command(ui)
cli.add_command(users)

"""The `cairn` command: one click group, one module per command family."""

from __future__ import annotations

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


@click.group()
@click.version_option(package_name="cairn")
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

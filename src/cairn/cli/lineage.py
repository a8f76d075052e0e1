"""`cairn lineage DIGEST | models:/NAME/VERSION`: what a dataset fed, or what a registered
model version was made from. Plain text by default, `--json` for scripts."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import click

from cairn.cli.model_registry import client_for
from cairn.entities import DATASET_CONTEXT_TAG, ModelVersionLineage
from cairn.tracking.lineage import DatasetLineage


@click.command()
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="Print the lineage as JSON.")
@click.option(
    "--tracking-uri",
    default=None,
    help="Where runs and the registry live (default: CAIRN_TRACKING_URI, else ./cairn-data/).",
)
def lineage(target: str, as_json: bool, tracking_uri: str | None) -> None:
    """Show the lineage of a dataset (by its digest: the runs that read it, the models and
    registered versions they produced) or of a model version (models:/NAME/VERSION, a stage,
    latest or @alias: its run, that run's datasets and git commit)."""
    with client_for(tracking_uri) as client:
        if target.startswith("models:/"):
            from cairn.tracking.model_uris import resolve_model_version

            version = resolve_model_version(target, client)
            found: Any = client.get_model_version_lineage(version.name, version.version)
        else:
            found = client.get_dataset_lineage(target)
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(found), indent=2, default=str))
    elif isinstance(found, DatasetLineage):
        _print_dataset(found)
    else:
        _print_version(found)


def _print_dataset(found: DatasetLineage) -> None:
    click.echo(f"dataset {found.digest}")
    for d in found.datasets:
        click.echo(f"  name {d.name}  source {d.source}")
    click.echo(f"read by {len(found.runs)} run(s)")
    for use in found.runs:
        context = use.context or "-"
        click.echo(f"  run {use.run_id}  experiment {use.experiment_id}  context {context}")
    for model_id in found.logged_model_ids:
        click.echo(f"  produced logged model {model_id}")
    for v in found.model_versions:
        click.echo(f"  trained model version {v.name}/{v.version} ({v.current_stage})")


def _print_version(found: ModelVersionLineage) -> None:
    mv = found.model_version
    click.echo(f"model version {mv.name}/{mv.version} ({mv.current_stage})  source {mv.source}")
    if found.logged_model is not None:
        click.echo(f"  logged model {found.logged_model.model_id} ({found.logged_model.name})")
    if found.run is not None:
        info = found.run.info
        click.echo(f"  run {info.run_id}  experiment {info.experiment_id}  name {info.run_name}")
    click.echo(f"  git commit {found.git_commit or '-'}  source {found.source_name or '-'}")
    for item in found.datasets:
        context = next((t.value for t in item.tags if t.key == DATASET_CONTEXT_TAG), "-")
        d = item.dataset
        click.echo(f"  dataset {d.name}  digest {d.digest}  context {context}")

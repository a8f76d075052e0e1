"""`cairn models`: serve a model over MLflow's scoring protocol, or score a file with it.

One click group; each subcommand is a small function. The registry commands (`models list`,
`versions`, `transition`, `alias`, `history`) join it from `model_registry.py`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from cairn.cli.asgi import run_app, run_factory

# How `cairn models serve --workers N` tells each uvicorn worker which model to load.
_MODEL_URI_ENV = "CAIRN_SERVING_MODEL_URI"
_CONTENT_TYPES = {
    "json": "application/json",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
}
_EXTENSIONS = {".json": "json", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


@click.group()
def models() -> None:
    """Serve models, score data with them, and manage the model registry."""


@models.command()
@click.option(
    "-m", "--model-uri", required=True, help="Model to serve (a folder, runs:/…, models:/…)."
)
@click.option("-h", "--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("-p", "--port", default=5001, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "-w",
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Worker processes, each with its own copy of the model.",
)
def serve(model_uri: str, host: str, port: int, workers: int) -> None:
    """Serve a model over MLflow's scoring protocol (POST /invocations, GET /ping).

    Requests and replies are those of `mlflow models serve`: JSON (dataframe_split,
    dataframe_records, instances, inputs), CSV or Parquet in; {"predictions": …} out."""

    def ready(url: str) -> None:
        click.echo(f"Serving model {model_uri} at {url}/invocations")

    if workers == 1:
        # Loaded here, so a bad URI fails the command with its message.
        run_app(_scoring_app(model_uri), host, port, ready)
        return
    # Each worker is a new process: it imports the factory and loads the model itself.
    os.environ[_MODEL_URI_ENV] = model_uri
    run_factory(f"{__name__}:scoring_app_from_environment", host, port, workers, ready)


def scoring_app_from_environment() -> object:
    """The scoring app for each uvicorn worker process of `cairn models serve --workers N`."""
    return _scoring_app(os.environ[_MODEL_URI_ENV])


def _scoring_app(model_uri: str) -> object:
    from cairn.models.serving.app import create_scoring_app

    return create_scoring_app(_load(model_uri))


def _load(model_uri: str) -> Any:
    """The model at `model_uri`, or a click error carrying the reason."""
    from cairn.exceptions import CairnError
    from cairn.pyfunc import load_model

    try:
        return load_model(model_uri)
    except (CairnError, OSError) as error:
        message = error.message if isinstance(error, CairnError) else str(error)
        raise click.ClickException(f"Cannot load model {model_uri!r}: {message}") from None


@models.command()
@click.option("-m", "--model-uri", required=True, help="Model to score with.")
@click.option(
    "-i",
    "--input-path",
    default="-",
    show_default=True,
    help="Input file (.json payload, .csv or .parquet table); '-' reads standard input.",
)
@click.option(
    "-o",
    "--output-path",
    default="-",
    show_default=True,
    help="Where to write {\"predictions\": …}; '-' writes standard output.",
)
@click.option(
    "-t",
    "--content-type",
    type=click.Choice(sorted(_CONTENT_TYPES)),
    default=None,
    help="How to read the input. Default: from its extension, else json.",
)
def predict(model_uri: str, input_path: str, output_path: str, content_type: str | None) -> None:
    """Score a file with a model, offline: the reply `/invocations` would give for it.

    The input is what you would POST to `cairn models serve` (a JSON payload such as
    {"dataframe_split": …}, a CSV or a Parquet table); the output is the same
    {"predictions": …} JSON the server answers."""
    from cairn.models.serving.app import score

    kind = content_type or _EXTENSIONS.get(Path(input_path).suffix.lower(), "json")
    body = _read(input_path)
    reply = score(_load(model_uri), body, _CONTENT_TYPES[kind])
    if reply.status_code != 200:
        raise click.ClickException(_reason(bytes(reply.body)))
    _write(output_path, bytes(reply.body))


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise click.ClickException(f"Cannot read {path!r}: {error.strerror}") from None


def _write(path: str, body: bytes) -> None:
    if path == "-":
        sys.stdout.buffer.write(body + b"\n")
        sys.stdout.flush()
        return
    Path(path).write_bytes(body)


def _reason(body: bytes) -> str:
    """The message of an error reply (JSON from a bad payload, or plain text)."""
    import json

    try:
        return str(json.loads(body)["message"])
    except (ValueError, KeyError, TypeError):
        return body.decode(errors="replace")

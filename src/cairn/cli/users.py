"""`cairn users ...`: the accounts, API tokens and permissions of `cairn server --auth`."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from cairn.exceptions import CairnError

if TYPE_CHECKING:
    from cairn.server.auth_store import AuthStore

_STORE_OPTION = click.option(
    "--backend-store-uri",
    default=None,
    help="Tracking store URI, as given to `cairn server` (default: SQLite in ./cairn-data/).",
)


@click.group()
def users() -> None:
    """Manage the users, API tokens and experiment and registered-model permissions of
    `cairn server --auth`."""


@contextmanager
def _store(backend_store_uri: str | None) -> Iterator[AuthStore]:
    from cairn.server.auth_store import AuthStore, NoSuchUserError
    from cairn.store.sql import engine, migrate
    from cairn.store.uri import default_tracking_uri

    uri = backend_store_uri or default_tracking_uri()
    try:
        target = engine.create(uri)
    except CairnError as error:
        raise click.ClickException(error.message) from None
    try:
        migrate.ensure_schema(target)
        yield AuthStore(target)
    except NoSuchUserError as error:
        # The usual slip: granting to a user not created yet (or in another store).
        raise click.ClickException(
            f"{error.message} Create users with `cairn users create NAME`; `cairn users list`"
            f" shows those of {uri}."
        ) from None
    except CairnError as error:
        raise click.ClickException(error.message) from None
    finally:
        target.dispose()


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    from cairn.server.auth_store import check_password_strength

    try:
        check_password_strength(password)
    except CairnError as error:
        raise click.ClickException(error.message) from None
    return password


def _command(function: Callable[..., Any]) -> Callable[..., Any]:
    return _STORE_OPTION(function)


@users.command()
@click.argument("username")
@click.option("--admin", is_flag=True, default=False, help="May do anything on the server.")
@click.option(
    "--password-stdin",
    is_flag=True,
    default=False,
    help="Read the password from the first line of standard input instead of prompting.",
)
@_command
def create(username: str, admin: bool, password_stdin: bool, backend_store_uri: str | None) -> None:
    """Create user USERNAME with a password (at least 8 characters)."""
    password = _read_password(password_stdin)
    with _store(backend_store_uri) as store:
        store.create_user(username, password, is_admin=admin)
    click.echo(f"Created {'administrator' if admin else 'user'} {username}.")


@users.command(name="create-service")
@click.argument("username")
@_command
def create_service(username: str, backend_store_uri: str | None) -> None:
    """Create service account USERNAME: no password and no browser login, only API tokens
    (`cairn users token USERNAME`)."""
    from cairn.server.auth_store import SERVICE

    with _store(backend_store_uri) as store:
        store.create_account(username, SERVICE)
    click.echo(f"Created service account {username}.")


@users.command()
@click.argument("username")
@click.option("--name", default="", help="A label for the token (where it is used).")
@click.option(
    "--expires-in",
    default=None,
    help="Lifetime: a number with s, m, h, d or w (90d, 12h); default: no expiry.",
)
@_command
def token(username: str, name: str, expires_in: str | None, backend_store_uri: str | None) -> None:
    """Create an API token for USERNAME and print it (only this once; keep it safe)."""
    from cairn.server.tokens_store import lifetime_ms, now_ms

    try:
        expires_at = None if expires_in is None else now_ms() + lifetime_ms(expires_in)
    except CairnError as error:
        raise click.BadParameter(error.message, param_hint="--expires-in") from None
    with _store(backend_store_uri) as store:
        value = store.create_token(username, name, expires_at)
    click.echo(value)


@users.command()
@click.argument("username")
@_command
def tokens(username: str, backend_store_uri: str | None) -> None:
    """List USERNAME's API tokens (id, state, name, dates; never the token itself)."""
    from cairn.server.tokens_store import now_ms

    def when(ms: int | None) -> str:
        return "-" if ms is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(ms / 1000))

    with _store(backend_store_uri) as store:
        found = store.tokens.list(store.get_user(username).id)
    now = now_ms()
    for item in found:
        click.echo(
            f"{item.token_id}  {item.state(now):8}  created {when(item.created)}  "
            f"last used {when(item.last_used)}  expires {when(item.expires_at)}  {item.name}"
        )


@users.command(name="revoke-token")
@click.argument("username")
@click.argument("token_id")
@_command
def revoke_token(username: str, token_id: str, backend_store_uri: str | None) -> None:
    """Revoke USERNAME's token TOKEN_ID (as `cairn users tokens` lists it): refused from now on."""
    with _store(backend_store_uri) as store:
        store.tokens.revoke(store.get_user(username).id, token_id)
    click.echo(f"Revoked token {token_id} of {username}.")


@users.command()
@click.argument("username")
@click.argument("experiment_id")
@click.argument("permission", type=click.Choice(["READ", "EDIT", "MANAGE"], case_sensitive=False))
@_command
def grant(
    username: str, experiment_id: str, permission: str, backend_store_uri: str | None
) -> None:
    """Give USERNAME the PERMISSION (READ, EDIT or MANAGE) on experiment EXPERIMENT_ID."""
    with _store(backend_store_uri) as store:
        store.grant(username, experiment_id, permission.upper())
    click.echo(f"Granted {permission.upper()} on experiment {experiment_id} to {username}.")


@users.command(name="grant-model")
@click.argument("username")
@click.argument("model_name")
@click.argument("permission", type=click.Choice(["READ", "EDIT", "MANAGE"], case_sensitive=False))
@_command
def grant_model(
    username: str, model_name: str, permission: str, backend_store_uri: str | None
) -> None:
    """Give USERNAME the PERMISSION (READ, EDIT or MANAGE) on registered model MODEL_NAME."""
    from cairn.store.uri import default_tracking_uri, registry_store

    with _store(backend_store_uri) as store:
        registry = registry_store(backend_store_uri or default_tracking_uri())
        registry.get_registered_model(model_name)  # an unknown model fails here, by name
        store.grant_model(username, model_name, permission.upper())
    click.echo(f"Granted {permission.upper()} on registered model {model_name} to {username}.")


@users.command(name="list")
@_command
def list_users(backend_store_uri: str | None) -> None:
    """List the users (an asterisk marks administrators; oidc and service accounts say so)."""
    with _store(backend_store_uri) as store:
        found = store.list_users()
    for user in found:
        kind = "" if user.kind == "password" else f" ({user.kind})"
        click.echo(f"{user.username}{' *' if user.is_admin else ''}{kind}")


@users.command()
@click.argument("username")
@_command
def delete(username: str, backend_store_uri: str | None) -> None:
    """Delete USERNAME with their API tokens and permissions."""
    with _store(backend_store_uri) as store:
        store.delete_user(username)
    click.echo(f"Deleted user {username}.")

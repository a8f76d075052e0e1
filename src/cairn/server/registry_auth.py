"""The model registry's side of `cairn server --auth`: per-registered-model READ < EDIT <
MANAGE, kept in `registered_model_permissions` by the model's name.

* `registered-models/create` makes its caller MANAGE the new model; the table's foreign key
  cascades, so a rename moves the grants and a delete drops them.
* Searches answer only the models (and their versions) the caller can read; a page may come
  back shorter than `max_results`, as with experiments.
* `model-versions/create` also needs READ on whatever the new version's files come from:
  the run's experiment (`run_id`, `runs:/…`), the logged model's (`model_id`,
  `models:/<model_id>`), the experiment of a `mlflow-artifacts:/<id>/…` source, or another
  registered model (`models:/<name>/…`). A source naming none of these, or a
  `mlflow-artifacts:/` folder that is no experiment's (its first segment not ASCII digits),
  is for admins only, so nobody registers (and then downloads through the registry) files
  they cannot read.
  A prompt version (MLflow's prompt registry: the `mlflow.prompt.is_prompt` tag and a
  placeholder source, which the store insists on) has no files: EDIT on the prompt is all
  it needs, beyond READ on a `run_id` or `model_id` it names.
* `POST …/registered-models/permissions/create` (name, username, permission) grants, for
  callers who MANAGE the model.
* The UI's `GET …/cairn/registered-models/permission?name=…` needs READ and
  answers the caller's own permission (`permission_answer`), so the registry page offers
  only the changes the caller may make; admins, and everyone without `--auth`, MANAGE.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

from cairn import wire
from cairn.exceptions import PermissionDeniedError
from cairn.server.access import EDIT, MANAGE, READ, Effect, Source
from cairn.server.auth_store import AuthStore, User, permission_allows
from cairn.server.messages import Message
from cairn.store import registry_validation as valid
from cairn.store.base import RegistryStore, TrackingStore
from cairn.wire.scalars import ascii_digits

MODEL_GRANT_PATH = "/registered-models/permissions/create"

Change = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
_SEARCHES = {
    Effect.READABLE_MODELS: "registered_models",
    Effect.READABLE_VERSIONS: "model_versions",
}


def permission_answer(held: str | None) -> dict[str, Any]:
    """What the UI is told of a permission on a model: its level and what it allows."""
    return {
        "permission": held or "",
        "can_read": permission_allows(held, READ),
        "can_update": permission_allows(held, EDIT),
        "can_manage": permission_allows(held, MANAGE),
    }


def _placeholder(message: Message, source: str) -> bool:
    """A prompt version's placeholder source, which names no files (the store refuses any
    other source on a prompt version, and checks every other version's)."""
    tags = wire.parse_tag_map(message.repeated("tags"))
    return valid.is_prompt_version(tags) and source in valid.PROMPT_SOURCES


class RegistryGuard:
    """Permission checks and bookkeeping for the registry routes (blocking methods are
    called off the event loop)."""

    def __init__(self, store: AuthStore, tracking: TrackingStore, registry: RegistryStore):
        self.store = store
        self.tracking = tracking
        self.registry = registry

    def require(self, user: User, name: str, permission: str) -> None:
        if user.is_admin:
            return
        if not permission_allows(self.store.model_permission(user.id, name), permission):
            raise PermissionDeniedError(
                f"User {user.username!r} needs {permission} permission on registered model "
                f"{name!r}."
            )

    def check(self, user: User, source: Source, permission: str, message: Message) -> None:
        """Raise PermissionDeniedError unless `user` may make the call (blocking)."""
        self.require(user, message.string("name", required=True) or "", permission)
        if source is Source.NEW_VERSION:
            self._check_version_source(user, message)

    def _check_version_source(self, user: User, message: Message) -> None:
        run_id = message.string("run_id") or None
        model_id = message.string("model_id") or None
        experiments = set()
        if run_id:
            experiments.add(self.tracking.get_run(run_id).info.experiment_id)
        if model_id:
            experiments.add(self.tracking.get_logged_model(model_id).experiment_id)
        source = message.string("source") or ""
        prompt = _placeholder(message, source)
        behind = None if prompt else self._source_origin(user, source)
        if behind is not None:
            experiments.add(behind)
        elif not (run_id or model_id or prompt) and not source.startswith("models:/"):
            raise PermissionDeniedError(
                "Only administrators may register a version whose source names no run, "
                "logged model or experiment."
            )
        for experiment_id in experiments:
            held = self.store.permission(user.id, experiment_id)
            if not permission_allows(held, READ):
                raise PermissionDeniedError(
                    f"User {user.username!r} needs READ permission on experiment "
                    f"{experiment_id!r} to register its files."
                )

    def _source_origin(self, user: User, source: str) -> str | None:
        """The experiment a source's files belong to, when the URI names one; a source that
        is another registered model's version needs READ on that model instead."""
        if source.startswith("models:/"):
            reference = source[len("models:/") :].strip("/")
            name, separator, _rest = reference.partition("/")
            if not separator:
                name, separator, _rest = reference.partition("@")
            if separator:
                self.require(user, name, READ)
                return None
            return self.tracking.get_logged_model(reference).experiment_id
        if source.startswith("runs:/"):
            run_id = source[len("runs:/") :].lstrip("/").split("/", 1)[0]
            return self.tracking.get_run(run_id).info.experiment_id
        if source.startswith("mlflow-artifacts:"):
            first = source[len("mlflow-artifacts:") :].lstrip("/").split("/", 1)[0]
            if not ascii_digits(first):
                raise PermissionDeniedError(
                    "Only administrators may register files outside an experiment's folder."
                )
            return first
        return None

    def grant(self, user: User, message: Message) -> None:
        """`permissions/create`: the caller MANAGEs the model, which exists (blocking)."""
        name = message.string("name", required=True) or ""
        username = message.string("username", required=True) or ""
        permission = message.string("permission", required=True) or ""
        self.require(user, name, MANAGE)
        self.registry.get_registered_model(name)  # 404 for an unknown model
        self.store.grant_model(username, name, permission)

    def change(self, user: User, effect: Effect | None, message: Message) -> Change | None:
        """What to do with the successful answer of a call, if anything."""
        name = message.string("name") or ""
        if effect is Effect.CREATOR_MANAGES_MODEL:
            return self._after(self.store.model_created, name, user.id)
        if effect is Effect.OWN_MODEL_PERMISSION and not user.is_admin:
            return self._own_permission(user, name)
        field = _SEARCHES.get(effect) if effect is not None else None
        if field is not None and not user.is_admin:
            return self._only_readable(user, field)
        return None

    @staticmethod
    def _after(action: Callable[..., None], *args: Any) -> Change:
        async def apply(payload: dict[str, Any]) -> dict[str, Any]:
            await run_in_threadpool(action, *args)
            return payload

        return apply

    def _own_permission(self, user: User, name: str) -> Change:
        """The application answered as if the caller could do anything (it knows no users):
        the caller's own grant instead."""

        async def own(_payload: dict[str, Any]) -> dict[str, Any]:
            held = await run_in_threadpool(self.store.model_permission, user.id, name)
            return permission_answer(held)

        return own

    def _only_readable(self, user: User, field: str) -> Change:
        async def keep(payload: dict[str, Any]) -> dict[str, Any]:
            found = payload.get(field)
            if isinstance(found, list):
                readable = await run_in_threadpool(self.store.readable_models, user.id)
                kept = [item for item in found if item.get("name") in readable]
                if kept:
                    payload[field] = kept
                else:
                    payload.pop(field)
            return payload

        return keep

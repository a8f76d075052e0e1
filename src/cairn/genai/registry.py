"""The prompt registry, with MLflow's names (`mlflow.genai.register_prompt`, …), on the
fluent API's tracking URI: the embedded SQLite store, a database or a server alike.

Prompts are kept as registered models and versions in MLflow's form (cairn.genai.storage),
so the registry's own rules apply to them: names, aliases, tags, and under `cairn server
--auth` a registered model's permissions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cairn.entities import ModelVersion, RegisteredModel
from cairn.exceptions import (
    InvalidParameterValueError,
    ResourceAlreadyExistsError,
    ResourceDoesNotExistError,
)
from cairn.genai import storage
from cairn.genai.prompt_version import Prompt, PromptVersion, Template
from cairn.store.base import REGISTERED_MODELS_MAX_RESULTS_LIMIT
from cairn.tracking import fluent
from cairn.tracking.client import Client

_URI_SCHEME = "prompts:/"


def register_prompt(
    name: str,
    template: Template,
    commit_message: str | None = None,
    tags: Mapping[str, str] | None = None,
    response_format: Mapping[str, Any] | None = None,
    model_config: Mapping[str, Any] | None = None,
) -> PromptVersion:
    """Register `template` as the next version of prompt `name` (created if new).

    `tags` go on the version and on the prompt, as MLflow does.

    Example:
        >>> cairn.genai.register_prompt("greeting", "Hello, {{ name }}!", "first draft")
        >>> cairn.genai.register_prompt("greeting", "Hi {{ name }}.", "shorter").version
        2
    """
    storage.check_name(name)
    client, user_tags = fluent.current_client(), {k: str(v) for k, v in (tags or {}).items()}
    created = _prompt_model(client, name, commit_message, user_tags)
    version_tags = {**user_tags, **_template_tags(template)}
    if response_format is not None:
        version_tags[storage.RESPONSE_FORMAT_TAG_KEY] = json.dumps(dict(response_format))
    if model_config is not None:
        version_tags[storage.MODEL_CONFIG_TAG_KEY] = json.dumps(dict(model_config))
    try:
        version = client.create_model_version(
            name, storage.PROMPT_SOURCE, tags=version_tags, description=commit_message
        )
    except Exception:
        if created:  # no prompt without a version, as MLflow leaves none
            client.delete_registered_model(name)
        raise
    return PromptVersion.from_model_version(version)


def _prompt_model(
    client: Client, name: str, commit_message: str | None, tags: dict[str, str]
) -> bool:
    """Make sure prompt `name` exists with `tags`; whether this call created it."""
    try:
        model = client.get_registered_model(name)
    except ResourceDoesNotExistError:
        try:
            client.create_registered_model(
                name, {storage.IS_PROMPT_TAG_KEY: "true", **tags}, commit_message
            )
            return True
        except ResourceAlreadyExistsError:  # another writer created it first
            model = client.get_registered_model(name)
    _require_prompt(model)
    for key, value in tags.items():
        client.set_registered_model_tag(name, key, value)
    return False


def _template_tags(template: Template) -> dict[str, str]:
    if isinstance(template, str):
        kind, text = storage.PROMPT_TYPE_TEXT, template
    elif isinstance(template, list) and all(isinstance(m, dict) for m in template):
        kind, text = storage.PROMPT_TYPE_CHAT, json.dumps(template)
    else:
        raise InvalidParameterValueError(
            "A prompt template is a string or a list of {'role', 'content'} messages."
        )
    return {
        storage.IS_PROMPT_TAG_KEY: "true",
        storage.PROMPT_TYPE_TAG_KEY: kind,
        storage.PROMPT_TEXT_TAG_KEY: text,
    }


def load_prompt(
    name_or_uri: str, version: str | int | None = None, allow_missing: bool = False
) -> PromptVersion | None:
    """A prompt version by URI (`prompts:/name/3`, `prompts:/name@alias`) or by name and
    `version` (the latest without one). Inside an active run the version is added to the
    run's `mlflow.linkedPrompts` tag, as MLflow does.

    With `allow_missing`, a missing prompt, version or alias answers None.
    """
    name, reference = _parse(name_or_uri, version)
    client = fluent.current_client()
    try:
        _require_prompt(client.get_registered_model(name))
        found = _version(client, name, reference)
    except (ResourceDoesNotExistError, _MissingAliasError):
        if allow_missing:
            return None
        raise
    prompt = PromptVersion.from_model_version(found)
    _link_to_active_run(client, prompt)
    return prompt


class _MissingAliasError(InvalidParameterValueError):
    """An alias that names no version (the registry answers INVALID_PARAMETER_VALUE)."""


def _parse(name_or_uri: str, version: str | int | None) -> tuple[str, str]:
    """(name, version number or alias)."""
    if not name_or_uri.startswith(_URI_SCHEME):
        return name_or_uri, "latest" if version is None else str(version)
    if version is not None:
        raise InvalidParameterValueError("Pass either a prompts:/ URI or a version, not both.")
    rest = name_or_uri[len(_URI_SCHEME) :].strip("/")
    name, slash, number = rest.partition("/")
    if slash:
        return name, number
    name, at, alias = rest.partition("@")
    if at and name and alias:
        return name, alias
    raise InvalidParameterValueError(
        f"Invalid prompt URI {name_or_uri!r}: expected prompts:/<name>/<version> or "
        "prompts:/<name>@<alias>."
    )


def _version(client: Client, name: str, reference: str) -> ModelVersion:
    if reference.isdigit():
        found = client.get_model_version(name, reference)
    else:
        try:
            found = client.get_model_version_by_alias(name, reference)
        except InvalidParameterValueError as error:
            raise _MissingAliasError(error.message) from None
    if storage.IS_PROMPT_TAG_KEY not in found.tags:
        raise ResourceDoesNotExistError(f"Version {found.version} of {name!r} is not a prompt.")
    return found


def _require_prompt(model: RegisteredModel) -> None:
    if model.tags.get(storage.IS_PROMPT_TAG_KEY) != "true":
        raise InvalidParameterValueError(
            f"{model.name!r} is a registered model, not a prompt; a prompt may not share a "
            "model's name."
        )


def _link_to_active_run(client: Client, prompt: PromptVersion) -> None:
    """Add the version to the active run's `mlflow.linkedPrompts` (JSON list of
    {"name", "version"}), once."""
    run = fluent.active_run()
    if run is None:
        return
    current = client.get_run(run.info.run_id).data.tags.get(storage.LINKED_PROMPTS_TAG_KEY)
    linked = json.loads(current) if current else []
    entry = {"name": prompt.name, "version": str(prompt.version)}
    if isinstance(linked, list) and entry not in linked:
        client.set_tag(
            run.info.run_id, storage.LINKED_PROMPTS_TAG_KEY, json.dumps([*linked, entry])
        )


def search_prompts(
    filter_string: str | None = None, max_results: int | None = None
) -> list[Prompt]:
    """Prompts matching a registered-model filter (`"name LIKE 'greet%'"`,
    ``"tags.team = 'nlp'"``); all of them when `max_results` is None."""
    client = fluent.current_client()
    wanted = f"tags.`{storage.IS_PROMPT_TAG_KEY}` = 'true'"
    if filter_string:
        wanted = f"{wanted} AND {filter_string}"
    found: list[Prompt] = []
    token: str | None = None
    while max_results is None or len(found) < max_results:
        room = REGISTERED_MODELS_MAX_RESULTS_LIMIT
        if max_results is not None:
            room = min(room, max_results - len(found))
        page = client.search_registered_models(wanted, room, page_token=token)
        found.extend(Prompt.from_registered_model(m) for m in page)
        token = page.token
        if not token:
            break
    return found


def set_prompt_alias(name: str, alias: str, version: int | str) -> None:
    """Point `alias` at a version; `prompts:/name@alias` then loads it."""
    client = fluent.current_client()
    _require_prompt(client.get_registered_model(name))
    _version(client, name, str(version))
    client.set_registered_model_alias(name, alias, version)


def delete_prompt_alias(name: str, alias: str) -> None:
    fluent.current_client().delete_registered_model_alias(name, alias)


def get_prompt_tags(name: str) -> dict[str, str]:
    client = fluent.current_client()
    model = client.get_registered_model(name)
    _require_prompt(model)
    return Prompt.from_registered_model(model).tags


def set_prompt_tag(name: str, key: str, value: str) -> None:
    fluent.current_client().set_registered_model_tag(name, key, value)


def delete_prompt_tag(name: str, key: str) -> None:
    fluent.current_client().delete_registered_model_tag(name, key)


def set_prompt_version_tag(name: str, version: int | str, key: str, value: str) -> None:
    fluent.current_client().set_model_version_tag(name, version, key, value)


def delete_prompt_version_tag(name: str, version: int | str, key: str) -> None:
    fluent.current_client().delete_model_version_tag(name, version, key)

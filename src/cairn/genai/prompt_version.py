"""`Prompt` and `PromptVersion`, MLflow's prompt entities, read from the registry entities
they are stored as (cairn.genai.storage), and a version's `format`.

Templates use MLflow's double braces: `"Hello {{ name }}"`. A chat template is a list of
`{"role", "content"}` messages whose contents are formatted one by one.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any

from cairn.entities import ModelVersion, RegisteredModel
from cairn.exceptions import InvalidParameterValueError
from cairn.genai import storage

Template = str | list[dict[str, Any]]

_VARIABLE = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*(?:\.[a-zA-Z_][a-zA-Z0-9_]*)*)\s*\}\}")


@dataclass(frozen=True, slots=True)
class Prompt:
    """A prompt's own metadata (its versions hold the templates)."""

    name: str
    description: str | None = None
    creation_timestamp: int | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_registered_model(cls, model: RegisteredModel) -> Prompt:
        tags = {k: v for k, v in model.tags.items() if k != storage.IS_PROMPT_TAG_KEY}
        return cls(model.name, model.description or None, model.creation_timestamp, tags)


@dataclass(frozen=True, slots=True)
class PromptVersion:
    """One version of a prompt: its template, commit message, tags and aliases.

    Example:
        >>> prompt = cairn.genai.load_prompt("prompts:/greeting@production")
        >>> prompt.format(name="Ada")
        'Hello, Ada!'
    """

    name: str
    version: int
    template: Template
    commit_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    creation_timestamp: int | None = None
    last_updated_timestamp: int | None = None
    user_id: str | None = None
    response_format: dict[str, Any] | None = None
    model_config: dict[str, Any] | None = None

    @classmethod
    def from_model_version(cls, version: ModelVersion) -> PromptVersion:
        """The prompt version a model version stores; refused if it stores none."""
        tags = version.tags
        if storage.PROMPT_TEXT_TAG_KEY not in tags or storage.IS_PROMPT_TAG_KEY not in tags:
            raise InvalidParameterValueError(
                f"Version {version.version} of {version.name!r} is a model version, not a prompt."
            )
        text = tags[storage.PROMPT_TEXT_TAG_KEY]
        chat = tags.get(storage.PROMPT_TYPE_TAG_KEY) == storage.PROMPT_TYPE_CHAT
        return cls(
            name=version.name,
            version=int(version.version),
            template=json.loads(text) if chat else text,
            commit_message=version.description or None,
            tags={k: v for k, v in tags.items() if k not in storage.RESERVED_VERSION_TAGS},
            aliases=list(version.aliases),
            creation_timestamp=version.creation_timestamp,
            last_updated_timestamp=version.last_updated_timestamp,
            user_id=version.user_id,
            response_format=_json(tags.get(storage.RESPONSE_FORMAT_TAG_KEY)),
            model_config=_json(tags.get(storage.MODEL_CONFIG_TAG_KEY)),
        )

    @property
    def uri(self) -> str:
        return f"prompts:/{self.name}/{self.version}"

    @property
    def is_text_prompt(self) -> bool:
        return isinstance(self.template, str)

    @property
    def variables(self) -> set[str]:
        """The `{{ name }}` variables of the template (of every message of a chat one)."""
        texts = [self.template] if isinstance(self.template, str) else _contents(self.template)
        return {name for text in texts for name in _VARIABLE.findall(text)}

    def format(self, allow_partial: bool = False, **values: Any) -> Template | PromptVersion:
        """The template with `values` in place of its variables: a string, or a list of
        messages for a chat prompt. A missing variable is refused unless `allow_partial`,
        which answers a PromptVersion with what was given filled in."""
        if isinstance(self.template, str):
            filled: Template = _fill(self.template, values)
        else:
            filled = [
                {**message, "content": _fill(str(message.get("content", "")), values)}
                for message in self.template
            ]
        missing = self.variables - set(values)
        if not missing:
            return filled
        if not allow_partial:
            raise InvalidParameterValueError(
                f"Missing variables: {sorted(missing)}. To format the prompt partially, "
                "pass allow_partial=True."
            )
        return dataclasses.replace(self, template=filled)

    def to_single_brace_format(self) -> Template:
        """The template with `{name}` in place of `{{ name }}`, for `str.format`-style tools."""

        def single(text: str) -> str:
            return _VARIABLE.sub(lambda found: "{" + found.group(1) + "}", text)

        if isinstance(self.template, str):
            return single(self.template)
        return [{**m, "content": single(str(m.get("content", "")))} for m in self.template]


def _fill(text: str, values: dict[str, Any]) -> str:
    for key, value in values.items():
        replacement = str(value).replace("\\", "\\\\")  # taken as it is, no escapes
        text = re.sub(r"\{\{\s*" + re.escape(key) + r"\s*\}\}", replacement, text)
    return text


def _contents(messages: list[dict[str, Any]]) -> list[str]:
    return [str(m.get("content", "")) for m in messages]


def _json(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    value = json.loads(text)
    return value if isinstance(value, dict) else None

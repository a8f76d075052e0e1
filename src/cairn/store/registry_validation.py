"""Input checks for the model registry, with MLflow's rules, run before anything is written.

Every failure is an InvalidParameterValueError naming the offending value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from cairn.entities import ModelVersionStage
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError
from cairn.store import validation as check

MAX_MODEL_NAME_LENGTH = 256  # MLflow's column width
MAX_TAG_VALUE_LENGTH = 100_000  # registered-model and model-version tags alike
MAX_ALIAS_LENGTH = 255
MAX_DESCRIPTION_LENGTH = 100_000  # MLflow has none (its column holds 5,000 on strict DBs)
MAX_RUN_LINK_LENGTH = 8192
MAX_VERSION = 2**31 - 1  # the version column's INTEGER

# MLflow's prompt registry keeps prompts as registered models and their versions as model
# versions, marked by this tag (value "true") on both; a prompt version's text is a version tag.
IS_PROMPT_TAG_KEY = "mlflow.prompt.is_prompt"
PROMPT_TEXT_TAG_KEY = "mlflow.prompt.text"
# A prompt version has no files, yet CreateModelVersion needs a source: MLflow's senders put
# one of these placeholders there ("dummy-source": MlflowClient and the UI; "prompt-template":
# the store's create_prompt_version), and its server refuses any other source for a prompt.
PROMPT_SOURCES = frozenset({"dummy-source", "prompt-template"})

_ALIAS = re.compile(r"^[\w\-]*$", re.ASCII)
_RESERVED_VERSION_ALIAS = re.compile(r"^v[0-9]+$", re.IGNORECASE)
_DIGITS = re.compile(r"^[0-9]+$")


def model_name(name: object) -> str:
    """Non-blank, at most 256 characters, no '/' or ':' (they would make `models:/` URIs
    ambiguous), no NUL, and not '.' or '..' (MLflow wants a normalised path form)."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterValueError("Registered model name cannot be empty.")
    if len(name) > MAX_MODEL_NAME_LENGTH:
        raise InvalidParameterValueError(
            f"Registered model name has {len(name)} characters; the limit is "
            f"{MAX_MODEL_NAME_LENGTH}."
        )
    if "/" in name or ":" in name or name in (".", ".."):
        raise InvalidParameterValueError(
            f"Invalid registered model name {name!r}: it may contain neither '/' nor ':'."
        )
    return check.no_nul("Registered model name", name)


def version(value: object) -> int:
    """A version number from its string form ("3") or an int. A number too big for any
    stored version names none, so it is not found rather than refused."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not _DIGITS.match(text.strip()):
        raise InvalidParameterValueError(
            f"Invalid model version {value!r}: expected a positive integer."
        )
    number = int(text)
    if number > MAX_VERSION:
        raise ResourceDoesNotExistError(f"Model version {value} not found.")
    return number


def stage(value: object) -> ModelVersionStage:
    """MLflow's stages, case-insensitively."""
    try:
        return ModelVersionStage.parse(value)  # type: ignore[arg-type]
    except ValueError:
        allowed = ", ".join(s.value for s in ModelVersionStage)
        raise InvalidParameterValueError(
            f"Invalid model version stage {value!r}: expected one of {allowed}."
        ) from None


def stages(values: Sequence[str] | None) -> list[ModelVersionStage]:
    """The requested stages in canonical order; all of them when none are given."""
    wanted = {stage(v) for v in values or ()}
    return [s for s in ModelVersionStage if not wanted or s in wanted]


def alias(value: object) -> str:
    """`[A-Za-z0-9_-]`, 1 to 255 characters; `latest` (any case) and `v<digits>` are
    reserved because `models:/name@latest` and version URIs already mean something."""
    if not isinstance(value, str) or not value or not _ALIAS.match(value):
        raise InvalidParameterValueError(
            f"Invalid alias {value!r}: aliases are letters, digits, '_' and '-'."
        )
    if len(value) > MAX_ALIAS_LENGTH:
        raise InvalidParameterValueError(
            f"Alias has {len(value)} characters; the limit is {MAX_ALIAS_LENGTH}."
        )
    if value.lower() == "latest" or _RESERVED_VERSION_ALIAS.match(value):
        raise InvalidParameterValueError(
            f"Alias {value!r} is reserved: 'latest' and 'v<number>' name versions already."
        )
    return value


def tags(values: Mapping[str, str] | None) -> dict[str, str]:
    """Tag keys as run tag keys; values at most 100,000 characters, refused beyond."""
    return {tag_key(k): tag_value(k, v) for k, v in (values or {}).items()}


def tag_key(key: object) -> str:
    return check.validate_key("Tag", key)


def tag_value(key: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidParameterValueError(f"Tag {key!r} must have a string value, got {value!r}.")
    return check.text_value("Tag", key, value, MAX_TAG_VALUE_LENGTH, truncate=False)


def text(what: str, value: object, limit: int) -> str | None:
    """An optional free-text field (description, run link): no NUL, at most `limit`."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidParameterValueError(f"{what} must be a string, got {value!r}.")
    if len(value) > limit:
        raise InvalidParameterValueError(
            f"{what} has {len(value)} characters; the limit is {limit}."
        )
    return check.no_nul(what, value)


def is_prompt_version(tags: Mapping[str, str]) -> bool:
    """Whether a new version's tags make it a prompt version (MLflow's test: the prompt tag,
    "true" in any case)."""
    return str(tags.get(IS_PROMPT_TAG_KEY, "false")).lower() == "true"


def prompt_source(source: object) -> str:
    """A prompt version's source: one of MLflow's placeholders, which name no files (so the
    artifact-source checks that guard every model version have nothing to check)."""
    if source not in PROMPT_SOURCES:
        raise InvalidParameterValueError(
            f"Invalid prompt source {source!r}: a prompt version's source is one of "
            f"{', '.join(sorted(PROMPT_SOURCES))}."
        )
    return str(source)

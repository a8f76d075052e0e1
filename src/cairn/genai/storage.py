"""How a prompt is kept in the model registry, in MLflow's form, so that prompts written by
either client load in the other.

A prompt is a registered model tagged `mlflow.prompt.is_prompt = "true"` (its other tags
are the prompt's tags). Each prompt version is a model version with the same tag, its
template in `mlflow.prompt.text` (a chat template as JSON), its kind in
`_mlflow_prompt_type` ("text" or "chat"), the commit message as the version's description
and a placeholder source ("dummy-source"). Aliases are the registered model's aliases.
"""

from __future__ import annotations

import re

from cairn.exceptions import InvalidParameterValueError
from cairn.store.registry_validation import IS_PROMPT_TAG_KEY, PROMPT_TEXT_TAG_KEY

__all__ = [
    "IS_PROMPT_TAG_KEY",
    "LINKED_PROMPTS_TAG_KEY",
    "MODEL_CONFIG_TAG_KEY",
    "PROMPT_SOURCE",
    "PROMPT_TEXT_TAG_KEY",
    "PROMPT_TYPE_CHAT",
    "PROMPT_TYPE_TAG_KEY",
    "PROMPT_TYPE_TEXT",
    "RESERVED_VERSION_TAGS",
    "RESPONSE_FORMAT_TAG_KEY",
    "check_name",
]

PROMPT_TYPE_TAG_KEY = "_mlflow_prompt_type"  # no dots: Unity Catalog's tag rule
PROMPT_TYPE_TEXT = "text"
PROMPT_TYPE_CHAT = "chat"
RESPONSE_FORMAT_TAG_KEY = "_mlflow_prompt_response_format"
MODEL_CONFIG_TAG_KEY = "_mlflow_prompt_model_config"
PROMPT_SOURCE = "dummy-source"  # what MlflowClient.register_prompt sends
# The run tag listing the prompt versions a run loaded: JSON [{"name", "version"}].
LINKED_PROMPTS_TAG_KEY = "mlflow.linkedPrompts"

# Version tags that hold the prompt itself, not the user's tags.
RESERVED_VERSION_TAGS = frozenset(
    {
        IS_PROMPT_TAG_KEY,
        PROMPT_TEXT_TAG_KEY,
        PROMPT_TYPE_TAG_KEY,
        RESPONSE_FORMAT_TAG_KEY,
        MODEL_CONFIG_TAG_KEY,
    }
)

_NAME = re.compile(r"^[a-zA-Z0-9_.-]+$")  # MLflow's prompt-name rule


def check_name(name: object) -> str:
    """Letters, digits, '_', '-' and '.', as MLflow allows in a prompt's name."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidParameterValueError(
            f"Invalid prompt name {name!r}: a prompt's name is letters, digits, '_', '-' and '.'."
        )
    return name

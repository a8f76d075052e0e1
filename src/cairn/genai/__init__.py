"""MLflow's prompt registry (`mlflow.genai`'s prompt functions), under the same names.

    import cairn
    cairn.genai.register_prompt("greeting", "Hello, {{ name }}!", commit_message="first")
    cairn.genai.set_prompt_alias("greeting", "production", 1)
    prompt = cairn.genai.load_prompt("prompts:/greeting@production")
    prompt.format(name="Ada")  # 'Hello, Ada!'

Prompts live in the model registry in MLflow's own form, so a prompt registered here loads
in the mlflow client and the other way round, through a server or the same database.
"""

from __future__ import annotations

from cairn.genai.prompt_version import Prompt, PromptVersion
from cairn.genai.registry import (
    delete_prompt_alias,
    delete_prompt_tag,
    delete_prompt_version_tag,
    get_prompt_tags,
    load_prompt,
    register_prompt,
    search_prompts,
    set_prompt_alias,
    set_prompt_tag,
    set_prompt_version_tag,
)

__all__ = [
    "Prompt",
    "PromptVersion",
    "delete_prompt_alias",
    "delete_prompt_tag",
    "delete_prompt_version_tag",
    "get_prompt_tags",
    "load_prompt",
    "register_prompt",
    "search_prompts",
    "set_prompt_alias",
    "set_prompt_tag",
    "set_prompt_version_tag",
]

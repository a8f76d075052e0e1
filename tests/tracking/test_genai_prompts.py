"""`cairn.genai`, MLflow's prompt registry under its names: on the embedded default store
(SQLite in the working directory, no server), over a live `cairn server`, and across
clients: a prompt registered by Cairn loads in the real mlflow client and the other way
round, since both keep it in MLflow's form."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cairn
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError
from cairn.genai import PromptVersion

IS_PROMPT = "mlflow.prompt.is_prompt"


def _name(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


# -- the embedded default store ------------------------------------------------------------


def test_register_twice_then_load_every_way(workdir: Path) -> None:
    genai = cairn.genai
    first = genai.register_prompt(
        "greeting", "Hello, {{ name }}!", commit_message="first draft", tags={"team": "nlp"}
    )
    second = genai.register_prompt("greeting", "Hi {{name}}. {{ mood }}", commit_message="v2")
    assert (first.version, second.version) == (1, 2)
    assert (first.template, first.commit_message, first.tags) == (
        "Hello, {{ name }}!",
        "first draft",
        {"team": "nlp"},
    )
    assert (workdir / "cairn-data").is_dir()  # the README's store: no server, no URI set

    by_uri = genai.load_prompt("prompts:/greeting/1")
    assert isinstance(by_uri, PromptVersion) and by_uri.format(name="Ada") == "Hello, Ada!"
    by_number = genai.load_prompt("greeting", version=2)
    assert by_number is not None and by_number.commit_message == "v2"
    assert by_number.format(name="Ada", mood="Bye.") == "Hi Ada. Bye."
    latest = genai.load_prompt("greeting")
    assert latest is not None and (latest.version, latest.uri) == (2, "prompts:/greeting/2")

    genai.set_prompt_alias("greeting", "production", 1)
    aliased = genai.load_prompt("prompts:/greeting@production")
    assert aliased is not None and (aliased.version, aliased.aliases) == (1, ["production"])
    genai.set_prompt_alias("greeting", "production", 2)
    moved = genai.load_prompt("prompts:/greeting@production")
    assert moved is not None and moved.version == 2
    genai.delete_prompt_alias("greeting", "production")
    assert genai.load_prompt("prompts:/greeting@production", allow_missing=True) is None
    with pytest.raises(InvalidParameterValueError):
        genai.load_prompt("prompts:/greeting@production")


def test_stored_in_mlflows_form(workdir: Path) -> None:
    cairn.genai.register_prompt("stored", "Say {{ x }}", commit_message="why")
    client = cairn.Client()
    assert client.get_registered_model("stored").tags == {IS_PROMPT: "true"}
    version = client.get_model_version("stored", 1)
    assert (version.source, version.description) == ("dummy-source", "why")
    assert version.tags == {
        IS_PROMPT: "true",
        "mlflow.prompt.text": "Say {{ x }}",
        "_mlflow_prompt_type": "text",
    }


def test_chat_template_response_format_and_partial_format(workdir: Path) -> None:
    messages = [
        {"role": "system", "content": "You are a {{ style }} assistant."},
        {"role": "user", "content": "{{question}}"},
    ]
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    cairn.genai.register_prompt("chat", messages, response_format=schema)
    loaded = cairn.genai.load_prompt("chat", version=1)
    assert loaded is not None and loaded.template == messages
    assert loaded.response_format == schema and not loaded.is_text_prompt
    assert loaded.variables == {"style", "question"}
    assert loaded.format(style="terse", question="Why?") == [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "Why?"},
    ]
    with pytest.raises(InvalidParameterValueError, match="question"):
        loaded.format(style="terse")
    partial = loaded.format(allow_partial=True, style="terse")
    assert isinstance(partial, PromptVersion)
    assert partial.template[0]["content"] == "You are a terse assistant."  # type: ignore[index]
    assert partial.variables == {"question"}
    text = PromptVersion("t", 1, r"Path {{ p }} and {{q}}")
    assert text.format(p=r"C:\new\g<0>", q=1) == r"Path C:\new\g<0> and 1"  # values as they are
    assert text.to_single_brace_format() == "Path {p} and {q}"


def test_search_prompts_and_model_searches_keep_apart(workdir: Path) -> None:
    for name, team in (("alpha", "nlp"), ("beta", "vision")):
        cairn.genai.register_prompt(name, "text {{x}}", tags={"team": team})
    client = cairn.Client()
    client.create_registered_model("alphabet")  # a model, not a prompt

    assert [p.name for p in cairn.genai.search_prompts()] == ["alpha", "beta"]
    assert [p.name for p in cairn.genai.search_prompts("name LIKE 'alph%'")] == ["alpha"]
    found = cairn.genai.search_prompts("tags.team = 'vision'")
    assert [(p.name, p.tags) for p in found] == [("beta", {"team": "vision"})]
    assert len(cairn.genai.search_prompts(max_results=1)) == 1

    assert [m.name for m in client.search_registered_models()] == ["alphabet"]
    assert list(client.search_model_versions("name = 'alpha'")) == []
    asked = client.search_registered_models(f"tags.`{IS_PROMPT}` = 'true'")
    assert [m.name for m in asked] == ["alpha", "beta"]


def test_prompt_and_version_tags(workdir: Path) -> None:
    cairn.genai.register_prompt("tagged", "text", tags={"owner": "ada"})
    cairn.genai.register_prompt("tagged", "text two", tags={"owner": "bob"})  # the prompt's too
    cairn.genai.set_prompt_tag("tagged", "stage", "beta")
    assert cairn.genai.get_prompt_tags("tagged") == {"owner": "bob", "stage": "beta"}
    cairn.genai.delete_prompt_tag("tagged", "stage")
    cairn.genai.set_prompt_version_tag("tagged", 1, "reviewed", "yes")
    one = cairn.genai.load_prompt("tagged", version=1)
    assert one is not None and one.tags == {"owner": "ada", "reviewed": "yes"}
    cairn.genai.delete_prompt_version_tag("tagged", 1, "reviewed")
    again = cairn.genai.load_prompt("tagged", version=1)
    assert again is not None and again.tags == {"owner": "ada"}
    assert cairn.genai.get_prompt_tags("tagged") == {"owner": "bob"}


def test_load_in_a_run_links_the_run(workdir: Path) -> None:
    for text in ("one", "two"):
        cairn.genai.register_prompt("linked", text)
    with cairn.start_run() as run:
        for uri in ("prompts:/linked/1", "prompts:/linked/2", "prompts:/linked/1"):
            cairn.genai.load_prompt(uri)
    tag = cairn.get_run(run.info.run_id).data.tags["mlflow.linkedPrompts"]
    assert json.loads(tag) == [
        {"name": "linked", "version": "1"},
        {"name": "linked", "version": "2"},
    ]


def test_refusals(workdir: Path) -> None:
    genai = cairn.genai
    cairn.Client().create_registered_model("a-model")
    with pytest.raises(InvalidParameterValueError, match="not a prompt"):
        genai.register_prompt("a-model", "text")
    assert cairn.Client().get_registered_model("a-model").latest_versions == ()
    with pytest.raises(InvalidParameterValueError, match="not a prompt"):
        genai.load_prompt("a-model", version=1)
    for bad in ("has space", "a/b", ""):
        with pytest.raises(InvalidParameterValueError):
            genai.register_prompt(bad, "text")
    with pytest.raises(ResourceDoesNotExistError):
        genai.load_prompt("missing", version=1)
    assert genai.load_prompt("missing", allow_missing=True) is None
    genai.register_prompt("present", "text")
    assert genai.load_prompt("present", version=7, allow_missing=True) is None
    for uri, version in (("prompts:/present/1", 1), ("prompts:/present", None)):
        with pytest.raises(InvalidParameterValueError):
            genai.load_prompt(uri, version=version)
    with pytest.raises(InvalidParameterValueError):
        genai.register_prompt("present", 42)  # type: ignore[arg-type]
    # A version refused by the registry leaves no prompt behind when it was the first.
    with pytest.raises(InvalidParameterValueError):
        genai.register_prompt("too-long", "x" * 100_001)
    assert genai.search_prompts("name = 'too-long'") == []


def test_on_every_database(store: Any, workdir: Path) -> None:
    """SQLite, PostgreSQL and MariaDB alike: the placeholder source is taken for a prompt
    version only, and prompts stay out of the model searches."""
    cairn.set_tracking_uri(store.db_uri)
    cairn.genai.register_prompt("db-prompt", "one {{x}}", commit_message="c1")
    cairn.genai.register_prompt("db-prompt", "two {{x}}", commit_message="c2")
    cairn.genai.set_prompt_alias("db-prompt", "live", 1)
    live = cairn.genai.load_prompt("prompts:/db-prompt@live")
    assert live is not None and (live.format(x="y"), live.commit_message) == ("one y", "c1")
    client = cairn.Client()
    client.create_registered_model("db-model")
    with pytest.raises(InvalidParameterValueError, match="dummy-source"):
        client.create_model_version("db-model", "dummy-source")
    with pytest.raises(InvalidParameterValueError, match="prompt source"):
        client.create_model_version("db-prompt", "/etc", tags={IS_PROMPT: "True"})
    assert [m.name for m in client.search_registered_models()] == ["db-model"]
    assert list(client.search_model_versions()) == []
    assert [p.name for p in cairn.genai.search_prompts("name LIKE 'db-%'")] == ["db-prompt"]
    versions = client.search_model_versions(f"tag.`{IS_PROMPT}` != 'false'")
    assert sorted(v.version for v in versions) == ["1", "2"]


# -- over a server, and across clients -------------------------------------------------------


@pytest.fixture
def mlflow_on(rest_server: Any, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Cairn's fluent API and the mlflow module, both on the live server."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", rest_server.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    for name in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    cairn.set_tracking_uri(rest_server.url)
    import mlflow

    yield mlflow
    # The mlflow client tags prompts with the active experiment in threads of its own.
    for thread in threading.enumerate():
        if thread.name.startswith("link_prompt_to_experiment_thread"):
            thread.join(30)


def test_cairn_registers_mlflow_loads(mlflow_on: Any) -> None:
    name = _name("from-cairn")
    cairn.genai.register_prompt(name, "Hello, {{ name }}!", commit_message="c1", tags={"k": "v"})
    cairn.genai.register_prompt(name, [{"role": "user", "content": "{{ q }}"}], "c2")
    cairn.genai.set_prompt_alias(name, "production", 1)

    one = mlflow_on.genai.load_prompt(f"prompts:/{name}@production", cache_ttl_seconds=0)
    assert (one.version, one.template, one.commit_message) == (1, "Hello, {{ name }}!", "c1")
    assert one.tags == {"k": "v"} and one.format(name="Ada") == "Hello, Ada!"
    two = mlflow_on.genai.load_prompt(name, version=2)
    assert two.format(q="Why?") == [{"role": "user", "content": "Why?"}]
    listed = mlflow_on.genai.search_prompts(filter_string=f"name = '{name}'")
    assert [p.name for p in listed] == [name]


def test_mlflow_registers_cairn_loads(mlflow_on: Any) -> None:
    name = _name("from-mlflow")
    mlflow_on.genai.register_prompt(name, "Hi {{x}}", commit_message="m1", tags={"k": "v"})
    mlflow_on.genai.register_prompt(name, "Bye {{x}}", commit_message="m2")
    mlflow_on.genai.set_prompt_alias(name, alias="live", version=2)

    live = cairn.genai.load_prompt(f"prompts:/{name}@live")
    assert live is not None and (live.version, live.commit_message) == (2, "m2")
    assert live.aliases == ["live"] and live.format(x="Ada") == "Bye Ada"
    first = cairn.genai.load_prompt(name, version=1)
    assert first is not None and (first.template, first.tags) == ("Hi {{x}}", {"k": "v"})
    assert [p.name for p in cairn.genai.search_prompts(f"name = '{name}'")] == [name]
    cairn.genai.delete_prompt_alias(name, "live")
    gone = f"prompts:/{name}@live"
    assert mlflow_on.genai.load_prompt(gone, allow_missing=True, cache_ttl_seconds=0) is None

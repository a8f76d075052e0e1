"""MLflow 3's prompt registry through a live `cairn server`, driven by the real mlflow client.

MLflow keeps prompts as registered models tagged `mlflow.prompt.is_prompt` whose versions
carry the template in `mlflow.prompt.text` and the placeholder source "dummy-source". The
server takes such versions without the artifact-source check (which still guards every
other version), serves them back through `load_prompt` by number, alias and name, and keeps
prompts out of the model searches unless a filter asks for them, as MLflow's server does.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from live_server import LiveServer, start_server
from test_auth import PASSWORD, basic, call, create_user

import cairn

IS_PROMPT = "mlflow.prompt.is_prompt"
EXPERIMENTS_TAG = "_mlflow_experiment_ids"  # MLflow's client links prompts to experiments


def _linked() -> None:
    """Wait for the threads in which the mlflow client tags each prompt it registers or
    loads with the active experiment (`_mlflow_experiment_ids`)."""
    for thread in threading.enumerate():
        if thread.name.startswith("link_prompt_to_experiment_thread"):
            thread.join(30)


def _name(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


def _error_code(call: Callable[[], object]) -> str:
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException) as caught:
        call()
    return str(caught.value.error_code)


def _get(tracking_server: Any, endpoint: str, query: dict[str, Any]) -> dict[str, Any]:
    """A raw GET of the REST API, as the UI sends it (no filter added by a client)."""
    url = f"{tracking_server.api}{endpoint}?{urlencode(query)}"
    with urllib.request.urlopen(url, timeout=30) as reply:
        answer: dict[str, Any] = json.loads(reply.read())
    return answer


def test_register_prompt_twice_makes_two_versions(
    mlflow: Any, client: Any, cairn_client: cairn.Client
) -> None:
    name = _name("greeting")
    experiment = mlflow.set_experiment(_name("prompts")).experiment_id
    first = mlflow.genai.register_prompt(
        name, "Hello, {{ name }}!", commit_message="first draft", tags={"team": "nlp"}
    )
    second = mlflow.genai.register_prompt(name, "Hi {{name}}. {{ mood }}", commit_message="v2")
    assert (first.version, second.version) == (1, 2)

    one = mlflow.genai.load_prompt(f"prompts:/{name}/1")
    assert (one.template, one.commit_message, one.tags) == (
        "Hello, {{ name }}!",
        "first draft",
        {"team": "nlp"},
    )
    assert one.format(name="Ada") == "Hello, Ada!"
    two = mlflow.genai.load_prompt(name, version=2)
    assert (two.template, two.commit_message) == ("Hi {{name}}. {{ mood }}", "v2")
    assert two.format(name="Ada", mood="Good day.") == "Hi Ada. Good day."
    assert mlflow.genai.load_prompt(name, cache_ttl_seconds=0).version == 2  # the latest

    # Stored in MLflow's form, as Cairn's own client reads it from the database; the
    # client's background thread has tagged the prompt with the active experiment.
    _linked()
    model = cairn_client.get_registered_model(name)
    assert model.tags == {IS_PROMPT: "true", "team": "nlp", EXPERIMENTS_TAG: f",{experiment},"}
    stored = cairn_client.get_model_version(name, 1)
    assert stored.source == "dummy-source" and stored.description == "first draft"
    assert stored.tags["mlflow.prompt.text"] == "Hello, {{ name }}!"
    assert cairn_client.get_model_version(name, 2).run_id is None


def test_chat_prompt_and_response_format_round_trip(mlflow: Any) -> None:
    name = _name("chat")
    messages = [
        {"role": "system", "content": "You are a {{ style }} assistant."},
        {"role": "user", "content": "{{question}}"},
    ]
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    mlflow.genai.register_prompt(name, messages, response_format=schema)
    loaded = mlflow.genai.load_prompt(name, version=1)
    assert loaded.template == messages and loaded.response_format == schema
    assert loaded.format(style="terse", question="Why?") == [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "Why?"},
    ]


def test_aliases_set_move_and_delete(mlflow: Any) -> None:
    name = _name("aliased")
    for text in ("one {{x}}", "two {{x}}"):
        mlflow.genai.register_prompt(name, text)
    mlflow.genai.set_prompt_alias(name, alias="production", version=1)
    loaded = mlflow.genai.load_prompt(f"prompts:/{name}@production", cache_ttl_seconds=0)
    assert (loaded.version, loaded.aliases) == (1, ["production"])

    mlflow.genai.set_prompt_alias(name, alias="production", version=2)
    moved = mlflow.genai.load_prompt(f"prompts:/{name}@production", cache_ttl_seconds=0)
    assert moved.format(x="y") == "two y"

    mlflow.genai.delete_prompt_alias(name, alias="production")
    uri = f"prompts:/{name}@production"
    assert mlflow.genai.load_prompt(uri, allow_missing=True, cache_ttl_seconds=0) is None
    assert _error_code(lambda: mlflow.genai.load_prompt(uri, cache_ttl_seconds=0)) == (
        "INVALID_PARAMETER_VALUE"  # MLflow's answer for an unknown alias
    )


def test_search_prompts_filters_and_leaves_models_out(mlflow: Any, client: Any) -> None:
    prefix = _name("search")
    for suffix in ("alpha", "beta"):
        mlflow.genai.register_prompt(f"{prefix}-{suffix}", "text {{x}}", tags={"kind": suffix})
    client.create_registered_model(f"{prefix}-model")  # a model with the same prefix

    found = mlflow.genai.search_prompts(filter_string=f"name LIKE '{prefix}%'")
    assert sorted(p.name for p in found) == [f"{prefix}-alpha", f"{prefix}-beta"]
    assert all(IS_PROMPT not in p.tags for p in found)
    tagged = mlflow.genai.search_prompts(
        filter_string=f"name LIKE '{prefix}%' AND tags.kind = 'beta'"
    )
    assert [p.name for p in tagged] == [f"{prefix}-beta"]

    experiment = mlflow.set_experiment(_name("search")).experiment_id
    mlflow.genai.load_prompt(f"{prefix}-alpha", version=1)
    _linked()
    by_experiment = mlflow.genai.search_prompts(filter_string=f'experiment_id = "{experiment}"')
    assert [p.name for p in by_experiment] == [f"{prefix}-alpha"]


def test_prompts_stay_out_of_model_searches(
    mlflow: Any, client: Any, cairn_client: cairn.Client, tracking_server: Any
) -> None:
    prefix = _name("hidden")
    prompt, model = f"{prefix}-prompt", f"{prefix}-model"
    mlflow.genai.register_prompt(prompt, "text")
    client.create_registered_model(model)
    like = f"name LIKE '{prefix}%'"

    assert [m.name for m in client.search_registered_models(like)] == [model]
    assert list(client.search_model_versions(f"name = '{prompt}'")) == []
    assert [m.name for m in cairn_client.search_registered_models(like)] == [model]
    assert list(cairn_client.search_model_versions(f"name = '{prompt}'")) == []
    # The UI's calls: no filter from a client, still no prompts.
    listed = _get(tracking_server, "/registered-models/search", {"max_results": 1000})
    assert prompt not in {m["name"] for m in listed.get("registered_models", [])}
    versions = _get(tracking_server, "/model-versions/search", {"filter": f"name = '{prompt}'"})
    assert "model_versions" not in versions
    # A filter that asks for prompts gets only prompts, as from MLflow's server.
    asked = _get(
        tracking_server,
        "/registered-models/search",
        {"filter": f"{like} AND tags.`{IS_PROMPT}` = 'true'"},
    )
    assert [m["name"] for m in asked["registered_models"]] == [prompt]
    asked_versions = _get(
        tracking_server,
        "/model-versions/search",
        {"filter": f"name = '{prompt}' AND tag.`{IS_PROMPT}` = 'true'"},
    )
    assert [v["version"] for v in asked_versions["model_versions"]] == ["1"]


def test_prompt_and_version_tags(mlflow: Any, client: Any) -> None:
    name = _name("tagged")
    mlflow.genai.register_prompt(name, "text {{x}}", tags={"owner": "ada"})
    _linked()
    mlflow.genai.delete_prompt_tag(name, EXPERIMENTS_TAG)
    mlflow.genai.set_prompt_tag(name, "stage", "beta")
    assert client.get_prompt(name).tags == {"owner": "ada", "stage": "beta"}
    mlflow.genai.delete_prompt_tag(name, "stage")
    assert mlflow.genai.get_prompt_tags(name) == {"owner": "ada"}

    mlflow.genai.set_prompt_version_tag(name, 1, "reviewed", "yes")
    assert client.get_prompt_version(name, 1).tags == {"owner": "ada", "reviewed": "yes"}
    mlflow.genai.delete_prompt_version_tag(name, 1, "reviewed")
    assert client.get_prompt_version(name, 1).tags == {"owner": "ada"}


def test_delete_prompt_version_then_prompt(mlflow: Any, client: Any) -> None:
    name = _name("deleted")
    for text in ("one", "two"):
        mlflow.genai.register_prompt(name, text)
    client.delete_prompt_version(name, "1")
    code = _error_code(lambda: mlflow.genai.load_prompt(name, version=1, cache_ttl_seconds=0))
    assert code == "RESOURCE_DOES_NOT_EXIST"
    assert mlflow.genai.load_prompt(name, version=2, cache_ttl_seconds=0).template == "two"
    assert [v.version for v in client.search_prompt_versions(name)] == [2]

    client.delete_prompt(name)
    assert client.get_prompt(name) is None
    assert mlflow.genai.search_prompts(filter_string=f"name = '{name}'") == []


def test_source_check_still_guards_model_versions(
    mlflow: Any, client: Any, cairn_client: cairn.Client
) -> None:
    """Only a prompt version may carry a placeholder source, and a prompt version only a
    placeholder: a prompt tag opens no way around the check."""
    model = _name("model")
    client.create_registered_model(model)
    assert _error_code(lambda: client.create_model_version(model, "dummy-source")) == (
        "INVALID_PARAMETER_VALUE"
    )
    prompt = _name("prompt")
    mlflow.genai.register_prompt(prompt, "text")
    for source in ("/etc", "file:///etc/passwd", "../../secret", "dummy-source/../etc"):
        for value in ("true", "TRUE"):
            tags = {IS_PROMPT: value, "mlflow.prompt.text": "x"}
            refused = _error_code(
                lambda s=source, t=tags: client.create_model_version(prompt, s, tags=t)
            )
            assert refused == "INVALID_PARAMETER_VALUE", source
    assert [
        v.version
        for v in cairn_client.search_model_versions(
            f"name = '{prompt}' AND tag.`{IS_PROMPT}` = 'true'"
        )
    ] == ["1"]
    assert list(client.search_model_versions(f"name = '{model}'")) == []


def test_prompt_name_of_a_model_is_refused(mlflow: Any, client: Any) -> None:
    name = _name("taken")
    client.create_registered_model(name)
    assert _error_code(lambda: mlflow.genai.register_prompt(name, "text")) == (
        "INVALID_PARAMETER_VALUE"
    )
    assert client.get_registered_model(name).latest_versions == []


def test_load_prompt_in_a_run_links_it_to_the_run(mlflow: Any, client: Any) -> None:
    name = _name("linked")
    for text in ("one", "two"):
        mlflow.genai.register_prompt(name, text)
    mlflow.set_experiment(_name("prompts"))
    with mlflow.start_run() as run:
        mlflow.genai.load_prompt(name, version=1)
        mlflow.genai.load_prompt(f"prompts:/{name}/2")
        mlflow.genai.load_prompt(name, version=1)
    linked = json.loads(client.get_run(run.info.run_id).data.tags["mlflow.linkedPrompts"])
    assert linked == [{"name": name, "version": "1"}, {"name": name, "version": "2"}]


def test_a_prompt_version_serves_no_files(mlflow: Any, tracking_server: Any) -> None:
    """The placeholder source names no files: the version page's model-file calls answer an
    error, never something read from the server's disk."""
    name = _name("files")
    mlflow.genai.register_prompt(name, "text")
    for endpoint, extra in (("mlmodel", {}), ("artifact", {"path": "MLmodel"})):
        query = urlencode({"name": name, "version": "1", **extra})
        url = f"{tracking_server.url}/ajax-api/2.0/cairn/model-versions/{endpoint}?{query}"
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(url, timeout=30)
        assert caught.value.code in (400, 404), endpoint
        answer = json.loads(caught.value.read())
        assert answer["error_code"] in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST")


# -- `cairn server --auth`: a prompt has a registered model's permissions ------------------


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("prompts-auth"), "--auth")
    try:
        create_user(server.database, "admin", "--admin")
        for user in ("author", "reader", "outsider"):
            create_user(server.database, user)
        yield server
    finally:
        server.stop()


@pytest.fixture
def as_user(auth_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Any]:
    """The mlflow module on the --auth server, sending `user`'s credentials from then on."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{auth_server.port}")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    for name in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    import mlflow

    def switch(user: str) -> Any:
        _linked()  # the previous user's background tagging ends under its own name
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
        return mlflow

    return switch


def test_prompt_needs_read_to_load_and_edit_to_extend(
    as_user: Callable[[str], Any], auth_server: LiveServer
) -> None:
    name = _name("private")
    mlflow = as_user("author")
    assert mlflow.genai.register_prompt(name, "secret {{x}}", commit_message="c").version == 1
    assert mlflow.genai.register_prompt(name, "secret two {{x}}").version == 2  # MANAGE
    mlflow.genai.set_prompt_alias(name, alias="live", version=1)

    mlflow = as_user("outsider")
    for load in (
        lambda: mlflow.genai.load_prompt(f"prompts:/{name}/1", cache_ttl_seconds=0),
        lambda: mlflow.genai.load_prompt(f"prompts:/{name}@live", cache_ttl_seconds=0),
    ):
        assert _error_code(load) == "PERMISSION_DENIED"
    # The client checks the version first and reports any failure as a missing version.
    moved = _error_code(lambda: mlflow.genai.set_prompt_alias(name, alias="live", version=2))
    assert moved == "RESOURCE_DOES_NOT_EXIST"
    alias = {"name": name, "alias": "live", "version": "2"}
    reply = call(auth_server, "POST", "/registered-models/alias", alias, basic("outsider"))
    assert reply.status == 403
    # The client takes the refused read for a missing prompt and tries to create it.
    refused = _error_code(lambda: mlflow.genai.register_prompt(name, "hijacked"))
    assert refused == "RESOURCE_ALREADY_EXISTS"
    assert mlflow.genai.search_prompts(filter_string=f"name = '{name}'") == []

    grant = {"name": name, "username": "reader", "permission": "READ"}
    reply = call(
        auth_server, "POST", "/registered-models/permissions/create", grant, basic("author")
    )
    assert reply.status == 200, reply.body
    mlflow = as_user("reader")
    loaded = mlflow.genai.load_prompt(f"prompts:/{name}@live", cache_ttl_seconds=0)
    assert (loaded.version, loaded.template) == (1, "secret {{x}}")
    assert [p.name for p in mlflow.genai.search_prompts(filter_string=f"name = '{name}'")] == [name]
    assert _error_code(lambda: mlflow.genai.register_prompt(name, "edited")) == (
        "PERMISSION_DENIED"
    )
    versions = as_user("admin").MlflowClient().search_prompt_versions(name)
    assert [v.version for v in versions] == [2, 1]  # nothing was added by the others


def test_load_prompt_links_the_active_model(mlflow: Any, client: Any) -> None:
    """With an active logged model, the client links each loaded prompt version to it in a
    thread of its own (`mlflow.linkedPrompts` on the model), through the logged-model API."""
    name = _name("model-linked")
    mlflow.genai.register_prompt(name, "text {{x}}")
    mlflow.set_experiment(_name("prompts"))
    model = mlflow.set_active_model(name=_name("agent"))
    try:
        mlflow.genai.load_prompt(name, version=1)
        for thread in threading.enumerate():
            if thread.name.startswith("link_prompt_thread"):
                thread.join(30)
    finally:
        mlflow.clear_active_model()
    tags = client.get_logged_model(model.model_id).tags
    assert json.loads(tags["mlflow.linkedPrompts"]) == [{"name": name, "version": "1"}]

"""Prompts move with the registry: registered by the mlflow client into an MLflow database,
imported into Cairn, loaded there by `cairn.genai`, exported into a new MLflow database and
loaded again by the mlflow client, versions, commit messages and aliases unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import cairn, clean_env

MLFLOW_WRITES = """
import sys, mlflow
mlflow.set_tracking_uri(sys.argv[1])
mlflow.genai.register_prompt("qa", "Answer {{question}}.", commit_message="first")
mlflow.genai.register_prompt("qa", "Answer {{question}} briefly.", commit_message="shorter")
mlflow.genai.set_prompt_alias("qa", "prod", 1)
"""

# Reads the three prompt URIs, and the registered models (a prompt is none), with either
# client: {tool} is mlflow or cairn, {client} its client class.
READS = """
import json, sys, {tool}
{tool}.set_tracking_uri(sys.argv[1])
seen = {{}}
for uri in ("prompts:/qa/1", "prompts:/qa/2", "prompts:/qa@prod"):
    p = {tool}.genai.load_prompt(uri)
    seen[uri] = [p.version, p.template, p.commit_message]
seen["models"] = [m.name for m in {tool}.{client}().search_registered_models()]
print(json.dumps(seen))
"""
MLFLOW_READS = READS.format(tool="mlflow", client="MlflowClient")
CAIRN_READS = READS.format(tool="cairn", client="Client")

EXPECTED = {
    "prompts:/qa/1": [1, "Answer {{question}}.", "first"],
    "prompts:/qa/2": [2, "Answer {{question}} briefly.", "shorter"],
    "prompts:/qa@prod": [1, "Answer {{question}}.", "first"],
    "models": [],  # a prompt is not a model
}


def _python(script: str, uri: str, cwd: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", script, uri], cwd=cwd, env=clean_env(), capture_output=True,
        text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    lines = done.stdout.strip().splitlines()
    return dict(json.loads(lines[-1])) if lines else {}


def test_prompts_survive_mlflow_to_cairn_to_mlflow(tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path}/mlflow.db"
    _python(MLFLOW_WRITES, source, tmp_path)
    assert _python(MLFLOW_READS, source, tmp_path) == EXPECTED

    imported = f"sqlite:///{tmp_path}/cairn.db"
    done = cairn("import", "mlflow", source, "--to", imported, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _python(CAIRN_READS, imported, tmp_path) == EXPECTED

    back = f"sqlite:///{tmp_path}/back.db"
    done = cairn("export", "mlflow", back, "--from", imported, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _python(MLFLOW_READS, back, tmp_path) == EXPECTED

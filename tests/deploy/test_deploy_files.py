"""deploy/ cannot be built here (no container registry), so its files are checked against
what can be: compose.yaml parses and wires the topology that tests/deploy starts, the
commands it and the Dockerfile give exist in `cairn server --help`, and the nginx.conf the
tests run is deploy/nginx.conf with only its marked lines rewritten (and nginx accepts it).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import topology
import yaml

from local_processes import CLI

TEMPLATE = (topology.DEPLOY / "nginx.conf").read_text()


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((topology.DEPLOY / "compose.yaml").read_text())
    return document


def help_options(*command: str) -> set[str]:
    shown = subprocess.run(
        [sys.executable, "-c", CLI, *command, "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return set(re.findall(r"(--[a-z][a-z-]*)", shown))


def test_compose_wires_servers_postgresql_s3_and_nginx() -> None:
    services = compose()["services"]
    assert services["postgres"]["image"] == "postgres:16"
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["cairn"]["deploy"]["replicas"] >= 2
    assert services["cairn"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert services["nginx"]["depends_on"]["cairn"] == {"condition": "service_healthy"}
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in services["nginx"]["volumes"]

    command = services["cairn"]["command"]
    assert command[0] == "server"
    options = {item for item in command if item.startswith("--")}
    assert options <= help_options("server")
    # nginx's upstream is the service's name on the port the servers listen on ...
    port = command[command.index("--port") + 1]
    assert re.search(rf"server cairn:{port} .*# topology: upstream", TEMPLATE)
    # ... and the servers write where the bucket step makes the bucket.
    destination = command[command.index("--artifacts-destination") + 1]
    bucket = destination.removeprefix("s3://").split("/")[0]
    assert f"mb --ignore-existing store/{bucket}" in " ".join(
        services["minio-bucket"]["entrypoint"]
    )
    assert services["cairn"]["environment"]["CAIRN_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert services["migrate"]["command"][:2] == ["db", "upgrade"]


def test_dockerfile_runs_cairn_server_as_a_user_with_a_healthcheck() -> None:
    text = (topology.DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    instructions = re.findall(r"^([A-Z]+) (.*)$", text, re.MULTILINE)
    by_name: dict[str, list[str]] = {}
    for name, argument in instructions:
        by_name.setdefault(name, []).append(argument)
    assert by_name["FROM"] == ["python:3.11-slim"]
    assert "pip install '.[postgres,s3,auth]'" in " ".join(by_name["RUN"])
    assert by_name["USER"][-1] not in ("root", "0")
    assert "/health" in by_name["HEALTHCHECK"][0]
    entrypoint = shlex.split(by_name["ENTRYPOINT"][0].strip("[]").replace(",", " "))
    command = shlex.split(by_name["CMD"][-1].strip("[]").replace(",", " "))
    assert entrypoint == ["cairn"] and command[0] == "server"
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert {item for item in command if item.startswith("--")} <= help_options("server")
    assert compose()["services"]["migrate"]["build"]["dockerfile"] == "deploy/Dockerfile"


def test_the_tested_nginx_conf_is_the_deployed_one(tmp_path: Path) -> None:
    rendered = topology.render_nginx_conf(
        TEMPLATE, prefix=tmp_path, listen_port=18080, upstream_ports=[15001, 15002]
    )
    assert topology.marked_lines(TEMPLATE) == {"path": 6, "log": 2, "listen": 1, "upstream": 1}
    unmarked = [line for line in TEMPLATE.splitlines() if "# topology:" not in line]
    rendered_lines = rendered.splitlines()
    kept = [line for line in rendered_lines if line in unmarked]
    assert kept == unmarked  # every other line, in order
    assert "        server 127.0.0.1:15001 max_fails=1 fail_timeout=5s;" in rendered_lines
    assert "        server 127.0.0.1:15002 max_fails=1 fail_timeout=5s;" in rendered_lines
    assert "        listen 127.0.0.1:18080;" in rendered_lines
    assert f"access_log {tmp_path}/access_log.log cairn;" in rendered
    assert "non_idempotent" in rendered and "proxy_next_upstream error timeout;" in rendered

    topology.require_nginx()
    conf = tmp_path / "nginx.conf"
    conf.write_text(rendered)
    checked = subprocess.run(
        topology.nginx_command(tmp_path, conf, "-t"), capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stderr

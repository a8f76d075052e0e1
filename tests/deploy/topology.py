"""deploy/compose.yaml rebuilt from local processes: Debian's nginx, configured from
deploy/nginx.conf, in front of N `cairn server` processes over one PostgreSQL database, with
a moto S3 server as the artifact store.

The nginx configuration is deploy/nginx.conf itself with only its `# topology:` lines
rewritten (`render_nginx_conf`): paths under a temporary prefix, a loopback port, one
`server` line per process. Everything is polled until it answers, with deadlines; nothing
waits a fixed time. benchmarks/scale_out.py starts the same topology through this module.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from local_processes import answers_health, cairn_server_command, free_port, stop_process
from moto_server import S3_ENV

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NGINX = os.environ.get("CAIRN_TEST_NGINX", "/usr/sbin/nginx")
BUCKET = "cairn-artifacts"
DESTINATION = f"s3://{BUCKET}/store"
START_SECONDS = 60.0
STOP_SECONDS = 15.0
POLL_SECONDS = 0.05
_MARKER = re.compile(
    r"^(?P<indent>\s*)(?P<directive>\w+)\s+(?P<args>[^;]*);\s*#\s*topology:\s*(?P<kind>\w+)\s*$"
)
_ACCESS_LINE = re.compile(
    r'"(?P<method>\S+) (?P<uri>\S+)" (?P<status>\d+) \S+ \S+ '
    r'upstream="(?P<upstream>[^"]*)" upstream_status="(?P<upstream_status>[^"]*)"'
)


def require_or_skip(reason: str) -> None:
    """As tests/conftest.py: a missing service (nginx here) skips the test with `reason`, or
    fails it under CAIRN_REQUIRE_DATABASES=1 (CI)."""
    import pytest

    if os.environ.get("CAIRN_REQUIRE_DATABASES") == "1":
        pytest.fail(f"{reason} (CAIRN_REQUIRE_DATABASES=1: a skip here is a failure)")
    pytest.skip(reason)


def require_nginx() -> None:
    if not os.access(NGINX, os.X_OK):
        require_or_skip(f"nginx is not installed at {NGINX} (Debian: apt-get install nginx)")


class TopologyError(RuntimeError):
    """A part of the topology did not start; the message carries its log."""


# -- the nginx configuration -----------------------------------------------------------------


def render_nginx_conf(
    template: str, *, prefix: Path, listen_port: int, upstream_ports: Sequence[int]
) -> str:
    """deploy/nginx.conf for local processes: `# topology: path` lines point under
    `prefix`, `log` lines to `prefix`/<directive>.log (their other arguments kept),
    `listen` to 127.0.0.1:`listen_port`, and the `upstream` line becomes one `server` line
    per port with the same parameters. Every other line is left as it is."""
    lines: list[str] = []
    if os.geteuid() == 0:
        # Run as root (a container), workers would switch to `nobody`, who cannot enter the
        # private temporary folder; this `user` line is the one addition.
        lines.append("user root;")
    for line in template.splitlines():
        match = _MARKER.match(line)
        if match is None:
            lines.append(line)
            continue
        indent, directive, kind = match["indent"], match["directive"], match["kind"]
        args = match["args"].split()
        if kind == "path":
            lines.append(f"{indent}{directive} {prefix / directive};")
        elif kind == "log":
            rest = " ".join([str(prefix / f"{directive}.log"), *args[1:]])
            lines.append(f"{indent}{directive} {rest};")
        elif kind == "listen":
            lines.append(f"{indent}listen 127.0.0.1:{listen_port};")
        elif kind == "upstream":
            parameters = " ".join(args[1:])
            lines.extend(
                f"{indent}server 127.0.0.1:{port} {parameters};" for port in upstream_ports
            )
        else:
            raise ValueError(f"unknown topology marker {kind!r} in: {line}")
    return "\n".join(lines) + "\n"


def marked_lines(template: str) -> Counter[str]:
    """How many lines of each `# topology:` kind the template has."""
    return Counter(m["kind"] for m in map(_MARKER.match, template.splitlines()) if m)


# -- processes -------------------------------------------------------------------------------


@dataclass
class Server:
    """One `cairn server` process."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def kill(self) -> None:
        """`kill -9`: no shutdown, open connections reset, transactions cut."""
        self.process.kill()
        self.process.wait(STOP_SECONDS)


@dataclass
class AccessEntry:
    method: str
    uri: str
    status: int
    upstreams: list[str]
    upstream_statuses: list[str]


@dataclass
class Topology:
    """nginx on `url`, the server processes behind it, and where their data goes."""

    nginx: subprocess.Popen[bytes]
    port: int
    prefix: Path
    servers: list[Server]
    database_uri: str
    s3_endpoint: str
    server_env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def access_log(self) -> Path:
        return self.prefix / "access_log.log"

    def access_entries(self) -> list[AccessEntry]:
        """nginx's access log so far, one entry per request (a request that nginx sent
        to several processes lists them all, with each one's status)."""
        if not self.access_log.exists():
            return []
        entries = []
        for line in self.access_log.read_text(errors="replace").splitlines():
            match = _ACCESS_LINE.search(line)
            if match is None:
                continue
            split = re.compile(r"\s*[,:]\s+")
            upstream = match["upstream"]
            entries.append(
                AccessEntry(
                    match["method"],
                    match["uri"],
                    int(match["status"]),
                    [] if upstream == "-" else split.split(upstream),
                    split.split(match["upstream_status"]),
                )
            )
        return entries

    def stop(self) -> None:
        for process in [self.nginx, *(s.process for s in self.servers)]:
            stop_process(process)


def server_environment(s3_endpoint: str, folder: Path) -> dict[str, str]:
    """What every server process gets: dummy S3 credentials for moto, and no AWS
    configuration of this machine's user."""
    return {
        **os.environ,
        **S3_ENV,
        "CAIRN_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_CONFIG_FILE": str(folder / "absent"),
        "AWS_SHARED_CREDENTIALS_FILE": str(folder / "absent"),
    }


def start_servers(
    count: int, folder: Path, database_uri: str, env: Mapping[str, str], *options: str
) -> list[Server]:
    """`count` servers started together (as replicas are), each polled on /health; one
    that lost its port to another process is started again on another."""
    servers = [_spawn_server(folder, database_uri, env, options) for _ in range(count)]
    for index in range(count):
        for _attempt in range(3):
            if _wait_healthy(servers[index]):
                break
            stop_process(servers[index].process)
            if b"address already in use" not in servers[index].log.read_bytes().lower():
                raise TopologyError(f"cairn server did not start:\n{_tail(servers[index].log)}")
            servers[index] = _spawn_server(folder, database_uri, env, options)
        else:
            raise TopologyError(f"cairn server did not start:\n{_tail(servers[index].log)}")
    return servers


def _spawn_server(
    folder: Path, database_uri: str, env: Mapping[str, str], options: Sequence[str]
) -> Server:
    port = free_port()
    log = folder / f"server-{port}.log"
    command = cairn_server_command(port, database_uri, DESTINATION, *options)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, cwd=folder, stdout=out, stderr=subprocess.STDOUT, env=dict(env)
        )
    return Server(process, port, log)


def _wait_healthy(server: Server) -> bool:
    deadline = _deadline(START_SECONDS)
    while _now() < deadline:
        if answers_health(server.port):
            return True
        try:
            server.process.wait(POLL_SECONDS)  # returns at once if the server died
            return False
        except subprocess.TimeoutExpired:
            continue
    return False


def start_nginx(prefix: Path, upstream_ports: Sequence[int]) -> tuple[subprocess.Popen[bytes], int]:
    """nginx in the foreground with deploy/nginx.conf rendered under `prefix`, polled
    until /health answers through it."""
    template = (DEPLOY / "nginx.conf").read_text()
    prefix.mkdir(parents=True, exist_ok=True)
    for _attempt in range(3):
        port = free_port()
        conf = prefix / "nginx.conf"
        conf.write_text(
            render_nginx_conf(
                template, prefix=prefix, listen_port=port, upstream_ports=upstream_ports
            )
        )
        startup = prefix / "startup.log"
        with open(startup, "ab") as out:
            process = subprocess.Popen(
                nginx_command(prefix, conf), stdout=out, stderr=subprocess.STDOUT
            )
        deadline = _deadline(START_SECONDS)
        while _now() < deadline:
            if answers_health(port):
                return process, port
            try:
                process.wait(POLL_SECONDS)  # returns at once if nginx died
                break
            except subprocess.TimeoutExpired:
                continue
        stop_process(process)
        logs = _tail(startup) + _tail(prefix / "error_log.log")
        if "address already in use" not in logs.lower():
            raise TopologyError(f"nginx did not start:\n{logs}")
    raise TopologyError("nginx found no free port")


def nginx_command(prefix: Path, conf: Path, *extra: str) -> list[str]:
    return [
        NGINX,
        "-p",
        f"{prefix}/",
        "-c",
        str(conf),
        "-e",
        str(prefix / "startup-error.log"),
        "-g",
        "daemon off;",
        *extra,
    ]


def start_topology(
    folder: Path, database_uri: str, s3_endpoint: str, servers: int, *options: str
) -> Topology:
    """`servers` cairn servers and nginx in front of them (the bucket must exist)."""
    folder.mkdir(parents=True, exist_ok=True)
    env = server_environment(s3_endpoint, folder)
    started = start_servers(servers, folder, database_uri, env, *options)
    try:
        nginx, port = start_nginx(folder / "nginx", [s.port for s in started])
    except BaseException:
        for server in started:
            stop_process(server.process)
        raise
    return Topology(nginx, port, folder / "nginx", started, database_uri, s3_endpoint, env)


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:] if path.exists() else f"(no {path.name})"


def _now() -> float:
    return time.monotonic()


def _deadline(seconds: float) -> float:
    return _now() + seconds

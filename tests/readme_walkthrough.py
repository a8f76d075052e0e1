"""A newcomer following the README: its code blocks, run in order in one folder.

Python blocks run as scripts; shell blocks run line by line in bash; YAML blocks must parse.
Commands that serve (`cairn server`, `cairn ui`, `cairn relay`, `cairn models serve`,
`--follow`) start in the background, as in a second terminal, and the next line waits until
they answer `/health`. A server started on a port that an earlier one holds replaces it, as
a user stops the first. A password prompt is answered on standard input. Two things are the
reader's own, not the README's: the install (this test's environment has every extra; CI
runs the README's install itself) and the MLflow and TensorBoard data that the import block
reads, made here first.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```(python|sh|yaml)\n(.*?)\n```$", re.M | re.S)
INSTALL = re.compile(r"^python3 -m venv \.venv && \. \.venv/bin/activate && pip install \S+ && ")
SERVING = ("cairn server", "cairn ui", "cairn relay", "cairn models serve")
DEFAULT_PORTS = {"cairn server": 5000, "cairn ui": 5000, "cairn relay": 5001}
PASSWORD = "a-long-enough-password\n" * 2
STARTUP_SECONDS = 90
COMMAND_SECONDS = 300

# The reader's own data that the import block names, made the way MLflow and TensorBoard make it.
READERS_DATA = {
    "./mlruns": """
import os
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # MLflow 3.17 keeps its file store for old data
import mlflow
mlflow.set_tracking_uri("file:./mlruns")
with mlflow.start_run():
    mlflow.log_param("lr", 0.1)
    mlflow.log_metric("loss", 0.5, step=1)
""",
    "mlflow.db": """
import mlflow
mlflow.set_tracking_uri("sqlite:///mlflow.db")
mlflow.set_experiment("from-mlflow")
with mlflow.start_run():
    mlflow.log_metric("loss", 0.25, step=1)
""",
    "./runs": """
from torch.utils.tensorboard import SummaryWriter
with SummaryWriter("runs/first") as writer:
    for step in range(3):
        writer.add_scalar("loss", 1 / (step + 1), step)
""",
}


@dataclass(frozen=True)
class Block:
    language: str
    text: str
    line: int


def readme_blocks(readme: str) -> list[Block]:
    return [
        Block(m.group(1), m.group(2), readme.count("\n", 0, m.start()) + 1)
        for m in BLOCK.finditer(readme)
    ]


def shell_lines(text: str) -> list[str]:
    """The commands of a shell block, with backslash continuations joined."""
    return [line for line in text.replace("\\\n", " ").splitlines() if line.strip()]


def clean_environment() -> dict[str, str]:
    """This process's environment without Cairn's or MLflow's settings, with this
    interpreter's scripts (the `cairn` command) first on PATH: an activated venv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAIRN_", "MLFLOW_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = sys.prefix
    env["PYTHONUNBUFFERED"] = "1"
    return env


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@dataclass
class Walkthrough:
    """One reader's folder and the servers they have running."""

    folder: Path
    env: dict[str, str] = field(default_factory=clean_environment)
    servers: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    followers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    done: list[str] = field(default_factory=list)

    def run_block(self, block: Block) -> None:
        if block.language == "yaml":
            assert isinstance(yaml.safe_load(block.text), dict), f"README line {block.line}"
            return
        if block.language == "python":
            script = self.folder / f"readme_block_{block.line}.py"
            script.write_text(block.text)
            self.run(f"python {script.name}", f"README line {block.line}")
            return
        for line in shell_lines(block.text):
            self.run_line(line, block.line)

    def run_line(self, line: str, at: int) -> None:
        where = f"README line {at}: {line}"
        if "pytest" in line:
            return  # the test command: CI runs it verbatim (tests/test_docs.py)
        line = INSTALL.sub("", line)
        words = shlex.split(line, comments=True)
        for path, source in READERS_DATA.items():
            name = path.removeprefix("./")
            named = any(w in (path, name) or w.endswith(f"/{name}") for w in words)
            if named and not (self.folder / path).exists():
                self.run_python(source, f"making {path} for {where}")
        if line.startswith(SERVING):
            self.start_server(line, where)
        elif "--follow" in line:
            self.followers.append(self.spawn(line, where))
        else:
            self.run(line, where)

    def run(self, command: str, where: str) -> None:
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=self.folder,
            env=self.env,
            input=PASSWORD.encode(),
            capture_output=True,
            timeout=COMMAND_SECONDS,
            start_new_session=True,  # no terminal: a password prompt reads standard input
        )
        output = (result.stdout + result.stderr).decode(errors="replace")
        assert result.returncode == 0, f"{where} exited {result.returncode}:\n{output}"
        self.record(where)

    def run_python(self, source: str, where: str) -> None:
        result = subprocess.run(
            [sys.executable, "-c", source], cwd=self.folder, env=self.env, capture_output=True
        )
        assert result.returncode == 0, f"{where}:\n{result.stderr.decode(errors='replace')}"

    def spawn(self, command: str, where: str) -> subprocess.Popen[bytes]:
        with (self.folder / f"server-{len(self.done)}.log").open("wb") as log:
            process = subprocess.Popen(
                ["bash", "-c", f"exec {command}"],
                cwd=self.folder,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.record(where)
        return process

    def start_server(self, line: str, where: str) -> None:
        port = server_port(line)
        if port in self.servers:
            stop(self.servers.pop(port))
        assert port_free(port), f"{where}: port {port} is taken by another program"
        process = self.spawn(line, where)
        self.servers[port] = process
        deadline = time.monotonic() + STARTUP_SECONDS
        while not answers_health(port):
            assert process.poll() is None, f"{where} exited {process.returncode}"
            assert time.monotonic() < deadline, f"{where} did not answer in {STARTUP_SECONDS} s"
            time.sleep(0.1)  # polling a condition with a deadline, not a wait for an event

    def record(self, where: str) -> None:
        """Done, with the time: pytest shows these lines when a later step fails."""
        self.done.append(where)
        print(f"{time.monotonic():.1f} {where}")

    def close(self) -> None:
        for process in [*self.followers, *self.servers.values()]:
            stop(process)


def server_port(line: str) -> int:
    words = shlex.split(line, comments=True)
    for flag in ("--port", "-p"):
        if flag in words:
            return int(words[words.index(flag) + 1])
    command = next(c for c in SERVING if line.startswith(c))
    return DEFAULT_PORTS.get(command, 5001)


def answers_health(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

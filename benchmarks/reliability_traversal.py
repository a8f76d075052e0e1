"""Issue 19, traversal: ~1,000 path-traversal vectors at every path-taking call of a real
`cairn server`, with sentinel files outside the artifact root to prove what got out.

The vectors are generated, not typed: every spelling of "up one folder" (`..`, `%2e%2e`,
`%252e%252e`, overlong UTF-8 `%c0%ae`, fullwidth `．．`, …) times every spelling of the
separator (`/`, `\\`, `%2f`, `%5c`, `%252f`, `%c0%af`, `／`, `∕`, …) times a depth, each
aimed at a sentinel file outside the root; then absolute paths, NUL bytes, symbolic links
planted inside the root that lead out, and ids written in other scripts' digits (`٢`).

Calls: the artifact proxy's GET, PUT, DELETE and listing; a run's `artifacts/list` and
`artifacts/get`; a model version's `model-versions/artifact`; a logged model's artifact
listing; `experiments/create`'s `artifact_location`; and `Client.log_artifact`.

What counts as escaped is checked on disk, not inferred from the status: a GET or a listing
whose answer holds a sentinel's secret content or name; a DELETE after which a sentinel is
gone; a PUT whose marker (naming its vector) turns up in a file outside the root; an
experiment created with its artifact location outside the allowed roots (read back from
the server). "Refused" is any 4xx; a 2xx that stayed inside the root is "accepted inside".
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from reliability_http import Answer, Http
from reliability_processes import Server
from reliability_report import Row, Section

PROXY = "/api/2.0/mlflow-artifacts/artifacts"
MLFLOW = "/api/2.0/mlflow"
CAIRN = "/api/2.0/cairn"
UPS = (
    "..",
    "%2e%2e",
    "%2E%2E",
    ".%2e",
    "%2e.",
    "%252e%252e",
    "%25252e%25252e",
    "%c0%ae%c0%ae",
    "%e0%80%ae%e0%80%ae",
    "%ef%bc%8e%ef%bc%8e",  # fullwidth full stops
    "%u002e%u002e",
    "..%00",
    "...",
    ". .",
)
SEPARATORS = (
    "/",
    "%2f",
    "%2F",
    "\\",
    "%5c",
    "%252f",
    "%255c",
    "%c0%af",
    "%e0%80%af",
    "%ef%bc%8f",  # fullwidth solidus
    "%e2%88%95",  # division slash
    "//",
)
LEADS = ("", "a/", "./")
ABSOLUTE_FORMS = ("/{}", "//{}", "%2f{}", "\\{}", "file://{}", "file:{}", "%252f{}", "/./{}")
ODD_DIGITS = ("%D9%A2", "%C2%B9", "%EF%BC%91", "%E0%A5%A8", "%F0%9D%9F%90")  # ٢ ¹ １ २ 𝟐


@dataclass
class Target:
    """The secrets outside the roots: files whose content and name prove a read, a delete
    or a write got out."""

    folder: Path
    token: str = field(default_factory=lambda: secrets.token_hex(6))
    files: list[Path] = field(default_factory=list)

    def plant(self, *folders: Path) -> None:
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"sentinel-{self.token}.txt"
            path.write_text(self.secret)
            self.files.append(path)

    @property
    def secret(self) -> str:
        return f"SENTINEL-{self.token}"

    def revealed(self, body: bytes, listing: bool) -> bool:
        """A read answer holding the secret content, or a listing naming a sentinel (an
        error message that repeats the request's path names nothing it found)."""
        if not listing:
            return self.secret.encode() in body
        try:
            files = json.loads(body).get("files") or []
        except (ValueError, AttributeError):
            return False
        return any(f"sentinel-{self.token}" in str(entry.get("path")) for entry in files)

    def missing(self) -> list[Path]:
        gone = [path for path in self.files if not path.exists()]
        for path in gone:  # put back, so the next vector meets it again
            path.write_text(self.secret)
        return gone


def relative_vectors(base: Path, goal: Path) -> list[str]:
    """Every (lead, up, separator, depth) spelling of the way from `base` to `goal`, plus
    deeper ones that overshoot to / and come down the absolute path."""
    vectors = []
    needed = len(base.parts) - len(os.path.commonpath([base, goal]).split(os.sep)) + 1
    for lead, up, separator in itertools.product(LEADS, UPS, SEPARATORS):
        for depth in (needed, needed + 8):
            down = goal.relative_to(
                base.parents[depth - 1] if depth <= len(base.parts) - 1 else "/"
            )
            extra = 1 if lead == "a/" else 0
            steps = (up + separator) * (depth + extra)
            vectors.append(lead + steps + separator.join(down.parts))
    return vectors


def absolute_vectors(goal: Path) -> list[str]:
    inside = str(goal).lstrip("/")
    found = [form.format(inside) for form in ABSOLUTE_FORMS]
    found += [quote(str(goal), safe=""), str(goal) + "%00.txt", str(goal) + "\x00"]
    return found


def link_vectors() -> list[str]:
    return [f"escape-link{sep}SENTINEL" for sep in SEPARATORS[:6]] + ["escape-file"]


@dataclass
class Call:
    """One path-taking call: how a vector becomes a request, and the folder it resolves in."""

    name: str
    base: Path
    request: Any  # (vector) -> (method, path, body)
    kind: str  # read, write, delete, list


@dataclass
class Tally:
    tried: int = 0
    refused: int = 0
    inside: int = 0
    escaped: int = 0
    server_errors: int = 0
    examples: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    slowest: tuple[float, str] = (0.0, "")
    statuses: dict[int, int] = field(default_factory=dict)

    def count(self, status: int, escaped: bool, example: str) -> None:
        self.tried += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if escaped:
            self.escaped += 1
            if len(self.examples) < 5:
                self.examples.append(example)
        elif status >= 500 or status == 0:
            self.server_errors += 1
            if len(self.failures) < 3:
                self.failures.append(example)
        elif status >= 400:
            self.refused += 1
        else:
            self.inside += 1


def traversal(root: Path, options: argparse.Namespace) -> Section:
    folder = Path(tempfile.mkdtemp(dir=root, prefix="traversal-"))
    server = Server.on(folder / "srv", f"sqlite:///{folder / 'srv.db'}", "--no-access-log")
    target = Target(folder)
    try:
        http = Http(server.port)
        bases = setup(http, server.folder / "artifacts")
        target.plant(folder, server.folder, folder / "outside")
        for name, base in bases.items():
            if name == "ids":
                continue
            (base / "escape-link").symlink_to(folder / "outside", target_is_directory=True)
            (base / "escape-file").symlink_to(target.files[-1])
        detects = detector_works(http, bases["root"], target)
        calls = path_calls(bases)
        tallies = {call.name: Tally() for call in calls}
        step = 2 if options.quick else 1
        forms = len(vectors_for(calls[0], target))
        for call in calls:
            vectors = vectors_for(call, target)[::step]
            for index, vector in enumerate(vectors):
                attack(http, call, vector, index, target, tallies[call.name])
        client_tally = through_client(server.url, bases, target, step)
        tallies["Client.log_artifact"] = client_tally
        location_tally = artifact_locations(http, server, target, step)
        tallies["experiments/create artifact_location"] = location_tally
        stray = written_outside(folder, server.folder / "artifacts", target)
        odd = odd_digit_writes(http)
    finally:
        server.stop()
    return report(tallies, forms, stray, odd, detects)


def setup(http: Http, artifacts: Path) -> dict[str, Path]:
    """An experiment, a run with a file, a logged model and a registered version: the
    folders each call resolves paths in."""
    experiment = http.ok("POST", f"{MLFLOW}/experiments/create", {"name": "traversal"})
    experiment_id = experiment["experiment_id"]
    run = http.ok("POST", f"{MLFLOW}/runs/create", {"experiment_id": experiment_id})
    run_id = run["run"]["info"]["run_id"]
    http.ok("PUT", f"{PROXY}/{experiment_id}/{run_id}/artifacts/model/MLmodel", b"flavors: {}\n")
    model = http.ok(
        "POST",
        f"{MLFLOW}/logged-models",
        {"experiment_id": experiment_id, "name": "m", "source_run_id": run_id},
    )
    model_id = model["model"]["info"]["model_id"]
    http.ok("PUT", f"{PROXY}/{experiment_id}/models/{model_id}/artifacts/MLmodel", b"x: 1\n")
    http.ok("POST", f"{MLFLOW}/registered-models/create", {"name": "traversal"})
    http.ok(
        "POST",
        f"{MLFLOW}/model-versions/create",
        {"name": "traversal", "source": f"runs:/{run_id}/model", "run_id": run_id},
    )
    run_folder = artifacts / experiment_id / run_id / "artifacts"
    return {
        "root": artifacts,
        "run": run_folder,
        "model_version": run_folder / "model",
        "logged_model": artifacts / experiment_id / "models" / model_id / "artifacts",
        "ids": Path(run_id) / model_id,  # not a folder: carries the ids to path_calls
    }


def path_calls(bases: dict[str, Path]) -> list[Call]:
    run_id, model_id = bases["ids"].parts
    root, run = bases["root"], bases["run"]
    return [
        Call("proxy GET", root, lambda v: ("GET", f"{PROXY}/{v}", None), "read"),
        Call("proxy PUT", root, lambda v: ("PUT", f"{PROXY}/{v}", None), "write"),
        Call("proxy DELETE", root, lambda v: ("DELETE", f"{PROXY}/{v}", None), "delete"),
        Call("proxy list", root, lambda v: ("GET", f"{PROXY}?path={v}", None), "list"),
        Call(
            "runs artifacts/list",
            run,
            lambda v: ("GET", f"{MLFLOW}/artifacts/list?run_id={run_id}&path={v}", None),
            "list",
        ),
        Call(
            "runs artifacts/get",
            run,
            lambda v: ("GET", f"{CAIRN}/artifacts/get?run_id={run_id}&path={v}", None),
            "read",
        ),
        Call(
            "model-versions/artifact",
            bases["model_version"],
            lambda v: (
                "GET",
                f"{CAIRN}/model-versions/artifact?name=traversal&version=1&path={v}",
                None,
            ),
            "read",
        ),
        Call(
            "logged-models artifacts/directories",
            bases["logged_model"],
            lambda v: (
                "GET",
                f"{MLFLOW}/logged-models/{model_id}/artifacts/directories"
                f"?artifact_directory_path={v}",
                None,
            ),
            "list",
        ),
    ]


def vectors_for(call: Call, target: Target) -> list[str]:
    goal = target.files[-1] if call.kind in ("read", "delete") else target.files[-1].parent
    if call.kind == "write":
        goal = goal / "planted.txt"
    vectors = relative_vectors(call.base, goal) + absolute_vectors(goal)
    links = [
        v.replace("SENTINEL", goal.name if call.kind != "list" else "") for v in link_vectors()
    ]
    return vectors + links


def attack(http: Http, call: Call, vector: str, index: int, target: Target, tally: Tally) -> None:
    method, path, _ = call.request(vector)
    marker = f"ESCAPE-{target.token}-{call.name}-{index}".encode()
    body = marker if method == "PUT" else None
    answer: Answer = http.call(method, sendable(path), body)
    escaped = call.kind in ("read", "list") and target.revealed(answer.body, call.kind == "list")
    if call.kind == "delete":
        escaped = bool(target.missing())
    example = f"{method} {path[:120]} → {answer.status or 'no answer'} in {answer.seconds:.1f} s"
    tally.count(answer.status, escaped, example)
    tally.slowest = max(tally.slowest, (answer.seconds, example))


def sendable(path: str) -> str:
    """The request target with spaces, control and non-ASCII characters percent-encoded
    (an HTTP client refuses to send them raw; the server decodes them back)."""
    return "".join(quote(c, safe="") if ord(c) <= 0x20 or ord(c) >= 0x7F else c for c in path)


def through_client(url: str, bases: dict[str, Path], target: Target, step: int) -> Tally:
    """`Client.log_artifact` with each decoded vector as its `artifact_path`: the client's
    own encoding, then the server's checks."""
    from cairn.tracking.client import Client

    run_id = bases["ids"].parts[0]
    client = Client(tracking_uri=url)
    local = target.folder / "upload" / f"client-{target.token}.txt"
    local.parent.mkdir()
    local.write_text(f"ESCAPE-{target.token}-client")
    goal = target.files[-1].parent
    tally = Tally()
    vectors = relative_vectors(bases["run"], goal)[:: step * 4] + absolute_vectors(goal)
    for vector in dict.fromkeys(unquote(v) for v in vectors):
        try:
            client.log_artifact(run_id, str(local), artifact_path=vector)
            status = 200
        except Exception as error:
            status = int(getattr(error, "http_status", 0) or 0) or 400
        tally.count(status, False, f"log_artifact(artifact_path={vector[:100]!r})")
    return tally


def artifact_locations(http: Http, server: Server, target: Target, step: int) -> Tally:
    """`experiments/create` with an artifact location outside the allowed roots; escaped
    when the server keeps it (read back with experiments/get)."""
    tally = Tally()
    root = server.folder / "artifacts"
    goal = target.files[-1].parent
    vectors = [unquote(v) for v in relative_vectors(root, goal)[:: step * 2]]
    vectors += [unquote(v) for v in absolute_vectors(goal)]
    vectors += [f"mlflow-artifacts:/{v}" for v in vectors[:: step * 8]]
    for index, vector in enumerate(dict.fromkeys(vectors)):
        body = {"name": f"location-{index}", "artifact_location": vector}
        answer = http.call("POST", f"{MLFLOW}/experiments/create", body)
        escaped = False
        if answer.status == 200:
            experiment_id = (answer.json() or {}).get("experiment_id")
            got = http.call("GET", f"{MLFLOW}/experiments/get?experiment_id={experiment_id}")
            location = ((got.json() or {}).get("experiment") or {}).get("artifact_location", "")
            escaped = not inside_root(location, root)
        tally.count(answer.status, escaped, f"artifact_location={vector[:100]!r}")
    return tally


def inside_root(location: str, root: Path) -> bool:
    if location.startswith("mlflow-artifacts:"):
        relative = location.removeprefix("mlflow-artifacts:").lstrip("/")
        return Path(os.path.normpath(root / relative)).is_relative_to(root)
    path = location.removeprefix("file://").removeprefix("file:")
    return Path(os.path.normpath(path)).is_relative_to(root)


def written_outside(folder: Path, root: Path, target: Target) -> list[str]:
    """Files holding a PUT's marker anywhere but inside the root: the scenario's folder and
    every folder above it, where a `..` too many would land."""
    marker = f"ESCAPE-{target.token}".encode()
    found = []
    places = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    for parent in folder.parents:
        places += [p for p in parent.iterdir() if p.is_file() and not p.is_symlink()]
    for path in places:
        if path.resolve().is_relative_to(root.resolve()) or path.parent.name == "upload":
            continue
        try:
            if marker in path.read_bytes()[:4096]:
                found.append(str(path))
        except OSError:
            continue
    return found


def odd_digit_writes(http: Http) -> list[str]:
    """PUTs into a folder named with another script's digit: no experiment has that id."""
    accepted = []
    for digit in ODD_DIGITS:
        answer = http.call("PUT", f"{PROXY}/{digit}/planted.txt", b"odd digit")
        if answer.status == 200:
            accepted.append(unquote(digit))
    return accepted


def detector_works(http: Http, root: Path, target: Target) -> bool:
    """The control: a file of secret content planted inside the root, read back through the
    proxy, must count as revealed (else the scenario could not see an escape either)."""
    (root / "control.txt").write_text(target.secret)
    answer = http.call("GET", f"{PROXY}/control.txt")
    (root / "control.txt").unlink()
    return target.revealed(answer.body, listing=False)


def report(
    tallies: dict[str, Tally], vectors: int, stray: list[str], odd: list[str], detects: bool
) -> Section:
    tried = sum(t.tried for t in tallies.values())
    escaped = sum(t.escaped for t in tallies.values()) + len(stray)
    errors = sum(t.server_errors for t in tallies.values())
    rows = [
        Row("vectors generated per call", f"{vectors:,}"),
        Row("requests tried (vectors × calls)", f"{tried:,}"),
        Row("refused (4xx)", f"{sum(t.refused for t in tallies.values()):,}"),
        Row(
            "accepted, stayed inside the root (2xx)", f"{sum(t.inside for t in tallies.values()):,}"
        ),
        Row("escaped (read, deleted or written outside)", f"{escaped}", "0", escaped == 0),
        Row("control: a secret inside the root is seen when read", f"{detects}", "True", detects),
        Row("server errors (5xx) or no answer", f"{errors}", "0", errors == 0),
        Row(
            "PUTs into a folder named with a non-ASCII digit, accepted",
            f"{len(odd)} of {len(ODD_DIGITS)}" + (f" ({', '.join(odd)})" if odd else ""),
            "0",
            not odd,
        ),
    ]
    for name, tally in tallies.items():
        rows.append(
            Row(
                f"… {name}: tried / refused / inside / escaped / 5xx",
                f"{tally.tried:,} / {tally.refused:,} / {tally.inside:,} / {tally.escaped}"
                f" / {tally.server_errors}",
            )
        )
    section = Section("Path traversal", rows)
    section.figures = {
        "vectors": vectors,
        "tried": tried,
        "escaped": escaped,
        "server_errors": errors,
        "written_outside": stray,
        "odd_digit_folders": odd,
        "calls": {name: t.__dict__ for name, t in tallies.items()},
    }
    section.notes += [f"escaped: {e}" for t in tallies.values() for e in t.examples][:8]
    section.notes += [f"5xx or no answer: {e}" for t in tallies.values() for e in t.failures][:6]
    slowest = max(t.slowest for t in tallies.values())
    section.notes.append(f"slowest answer: {slowest[1]}")
    section.notes += [f"a PUT's marker found outside the root: {p}" for p in stray][:4]
    return section

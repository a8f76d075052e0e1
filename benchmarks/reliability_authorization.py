"""Issue 19, authorization: under `cairn server --auth`, another user's ids in every field of
every endpoint of the route tables, and a count of what got through.

Alice owns experiment A (and a registered model, runs, a logged model, a trace, a dataset,
an artifact), C and E; Bob owns B, may only READ C and may EDIT E (grants on the experiment
and its registered model). For each endpoint of the application's route tables (walked from
`create_app`, so a new endpoint without a template is reported as not covered) Bob sends
his own valid request, from his objects in B and again from E's, with one id-bearing field,
then all of them, swapped for Alice's (A's, and C's for the calls that change something).
Ids sit in the path, the query and the body, nested ones included (log-batch metrics'
`model_id`, runs/outputs' models, `source_run_id`, trace ids, registered model names).
Ids are also smuggled: a repeated query key, snake_case beside camelCase, a second id in a
list or after a comma, the id in the query of a body call.

A bypass is verified in the store, not read off the status: after every attempt the rows
that belong to A and C (by the table's owning column) are read straight from the server's
SQLite file; any change is a bypass, whatever the status. So is a 2xx answer that holds
A's secret marker (a tag value Bob never sends). A row of Bob's that now names one of
Alice's objects (runs/outputs naming A's model) is a cross-reference, counted apart.
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from reliability_endpoints import (
    KINDS,
    PASSWORD,
    PROXY,
    V2,
    Owner,
    endpoints,
    fill,
    flat,
    objects,
    split,
)
from reliability_http import Http, basic
from reliability_processes import CLI, Server, quiet_environment
from reliability_report import Row, Section

DESTRUCTIVE = ("delete", "rename", "purge", "restore", "DELETE")
# The table's column that says whose a row is (default: its first column).
OWNER = {"datasets": "experiment_id", "inputs": "destination_id", "model_version_events": "name"}
SKIPPED_TABLES = {
    "alembic_version", "users", "tokens", "idempotency_keys", "sqlite_stat1", "input_tags",
    "run_storage", "logged_model_storage", "metric_rollups", "metric_rollup_state",
}  # fmt: skip


@dataclass
class Attempt:
    method: str
    path: str
    query: dict[str, Any]
    body: Any
    label: str
    victim: str


@dataclass
class Outcome:
    attempts: int = 0
    refused: int = 0
    allowed: int = 0
    bypasses: list[str] = field(default_factory=list)
    crossed: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    per_endpoint: dict[str, int] = field(default_factory=dict)


def authorization(root: Path, options: argparse.Namespace) -> Section:
    folder = root / "authorization"
    database = folder / "auth.db"
    server = Server.on(folder / "srv", f"sqlite:///{database}", "--auth", "--no-access-log")
    try:
        for user in ("alice", "bob"):
            users(database, "create", user, "--password-stdin", stdin=PASSWORD)
        token = secrets.token_hex(4)
        alice = objects(Http(server.port, basic("alice", PASSWORD)), "alice", "A", token)
        shared = objects(Http(server.port, basic("alice", PASSWORD)), "alice", "C", token)
        bob = objects(Http(server.port, basic("bob", PASSWORD)), "bob", "B", token)
        lent = objects(Http(server.port, basic("alice", PASSWORD)), "bob", "E", token)
        users(database, "grant", "bob", shared.ids["EXP"], "read")
        users(database, "grant-model", "bob", shared.ids["RM"], "read")
        users(database, "grant", "bob", lent.ids["EXP"], "edit")
        users(database, "grant-model", "bob", lent.ids["RM"], "edit")
        covered, uncovered = endpoints()
        outcome = Outcome()
        http = Http(server.port, bob.headers)
        watched = {**{f"A:{k}": v for k, v in alice.ids.items()}}
        watched.update({f"C:{k}": v for k, v in shared.ids.items()})
        for own in (bob, lent):  # what Bob created (MANAGE), what he may EDIT by a grant
            for attempt in attempts(covered, own, {"A": alice, "C": shared}):
                judge(http, database, attempt, alice, watched, outcome)
        impersonated = user_id_recorded(http, bob, database)
        detects = detector_works(Http(server.port, alice.headers), database, alice, watched)
    finally:
        server.stop()
    return report(outcome, covered, uncovered, impersonated, detects)


def users(database: Path, *arguments: str, stdin: str | None = None) -> None:
    command = [sys.executable, "-c", CLI, "users", *arguments]
    done = subprocess.run(
        [*command, "--backend-store-uri", f"sqlite:///{database}"],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=quiet_environment(),
    )
    if done.returncode:
        raise RuntimeError(f"cairn users {arguments[0]}: {done.stderr[-500:]}")


def slots(value: Any, where: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    """(where, kind) of every id placeholder in a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from slots(item, (*where, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from slots(item, (*where, index))
    elif isinstance(value, str):
        for kind in KINDS:
            if f"@{kind}" in value and not value.startswith(f"@{kind}S"):
                yield where, kind


def attempts(
    templates: list[tuple[str, str, dict[str, Any]]], bob: Owner, victims: dict[str, Owner]
) -> Iterator[Attempt]:
    ordered = sorted(templates, key=lambda t: any(w in t[1] or w == t[0] for w in DESTRUCTIVE))
    for method, path, fields in ordered:
        changes = method != "GET"
        for letter, victim in victims.items():
            if letter == "C" and not changes:
                continue  # Bob may read C
            yield from variants(method, path, fields, bob, victim, letter)


def variants(
    method: str, path: str, fields: dict[str, Any], bob: Owner, victim: Owner, letter: str
) -> Iterator[Attempt]:
    mine = {**bob.ids, "NEW": secrets.token_hex(3), "NEWTRACE": f"tr-{secrets.token_hex(16)}"}
    theirs = {**victim.ids, "NEW": mine["NEW"], "NEWTRACE": mine["NEWTRACE"]}
    places = list(slots(fields)) + [(("@path",), k) for k in KINDS if f"@{k}" in path]
    label = f"{method} {split(path)[2] or path}"
    if not places:  # a listing: its answer must not show what Bob may not read
        yield build(method, fill(path, mine), fill(fields, mine), f"{label}", letter)
        return
    if len(places) > 1:
        yield build(method, fill(path, theirs), fill(fields, theirs), f"{label} [all ids]", letter)
    for where, kind in places:
        if where == ("@path",):
            yield build(method, path.replace(f"@{kind}", theirs[kind]), fill(fields, mine),
                        f"{label} [{kind} in path]", letter)  # fmt: skip
            yield from smuggled_path(method, path, fields, kind, mine, theirs, label, letter)
            continue
        body = fill(fields, mine)
        set_at(body, where, fill(get_at(fields, where), {**mine, kind: theirs[kind]}))
        yield build(
            method, fill(path, mine), body, f"{label} [{'.'.join(map(str, where))}]", letter
        )
        yield from smuggled(method, path, fields, where, kind, mine, theirs, label, letter)


def smuggled(
    method: str, path: str, fields: dict[str, Any], where: tuple[Any, ...], kind: str,
    mine: dict[str, str], theirs: dict[str, str], label: str, letter: str,
) -> Iterator[Attempt]:  # fmt: skip
    """The same id, smuggled past a check that reads another copy of the field."""
    name = where[0]
    camel = name.split("_")[0] + "".join(p.title() for p in name.split("_")[1:])
    real = fill(path, mine)
    if len(where) == 1 and isinstance(name, str):
        both = fill(fields, mine)
        if camel != name:
            both[camel] = theirs[kind]
            yield build(method, real, both, f"{label} [{name} mine, {camel} theirs]", letter)
        if method == "GET":
            query = [(k, v) for k, v in flat(fill(fields, mine))]
            twice = query + [(name, theirs[kind])]
            yield Attempt(method, real + "?" + urlencode(twice), {}, None,
                          f"{label} [{name} twice, theirs last]", letter)  # fmt: skip
            first = [(name, theirs[kind])] + query
            yield Attempt(method, real + "?" + urlencode(first), {}, None,
                          f"{label} [{name} twice, theirs first]", letter)  # fmt: skip
        else:
            in_query = urlencode({name: theirs[kind]})
            yield Attempt(method, f"{real}?{in_query}", {}, fill(fields, mine),
                          f"{label} [{name} theirs in the query]", letter)  # fmt: skip
    if len(where) == 2 and isinstance(where[1], int):  # an id list: one more, and a comma
        body = fill(fields, mine)
        body[name] = [*body[name], theirs[kind]]
        yield build(method, real, body, f"{label} [{name}: mine + theirs]", letter)
        body = fill(fields, mine)
        body[name] = [f"{mine[kind]},{theirs[kind]}"]
        yield build(method, real, body, f"{label} [{name}: 'mine,theirs']", letter)


def smuggled_path(
    method: str, path: str, fields: dict[str, Any], kind: str,
    mine: dict[str, str], theirs: dict[str, str], label: str, letter: str,
) -> Iterator[Attempt]:  # fmt: skip
    """A path id that is Bob's while the body or query names Alice's."""
    name = {"MODEL": "model_id", "TRACE": "trace_id", "ASSESS": "assessment_id"}.get(kind)
    if name and not path.startswith("/api/2.0/mlflow-artifacts"):
        body = {**fill(fields, mine), name: theirs[kind]}
        yield build(
            method,
            fill(path, mine),
            body,
            f"{label} [{kind} mine in path, theirs as {name}]",
            letter,
        )


def build(method: str, path: str, fields: Any, label: str, letter: str) -> Attempt:
    if method == "GET" or (method == "DELETE" and path.startswith(PROXY)):
        query = urlencode(list(flat(fields)))
        return Attempt(method, path + ("?" + query if query else ""), {}, None, label, letter)
    if method == "PUT":
        return Attempt(method, path, {}, b"planted by bob", label, letter)
    return Attempt(method, path, {}, fields, label, letter)


def get_at(value: Any, where: tuple[Any, ...]) -> Any:
    for step in where:
        value = value[step]
    return value


def set_at(value: Any, where: tuple[Any, ...], new: Any) -> None:
    for step in where[:-1]:
        value = value[step]
    value[where[-1]] = new


def snapshot(database: Path, ids: dict[str, str]) -> tuple[str, set[tuple[str, str]]]:
    """A digest of the rows owned by the watched objects, and the other rows that name one
    of them, as (table, row) (cross-references)."""
    wanted = set(ids.values())
    distinctive = {i for i in wanted if len(i) >= 8}  # not "1": a version, a step
    owned = hashlib.sha256()
    naming: set[tuple[str, str]] = set()
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        tables = [
            r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        for table in sorted(set(tables) - SKIPPED_TABLES):
            cursor = connection.execute(f"SELECT * FROM {table}")
            columns = [c[0] for c in cursor.description]
            owner = columns.index(OWNER.get(table, columns[0]))
            for values in sorted(cursor.fetchall(), key=repr):
                row = repr(values)
                if str(values[owner]) in wanted:
                    owned.update(f"{table}{row}".encode())
                elif any(str(v) in distinctive for v in values):
                    naming.add((table, row))
    finally:
        connection.close()
    return owned.hexdigest(), naming


def judge(
    http: Http, database: Path, attempt: Attempt, alice: Owner, watched: dict[str, str],
    outcome: Outcome,
) -> None:  # fmt: skip
    before = snapshot(database, watched)
    answer = http.call(attempt.method, attempt.path, attempt.body)
    after = snapshot(database, watched)
    outcome.attempts += 1
    key = attempt.label.split(" [")[0]
    outcome.per_endpoint[key] = outcome.per_endpoint.get(key, 0) + 1
    ok = 200 <= answer.status < 300
    outcome.allowed += ok
    outcome.refused += 400 <= answer.status < 500
    where = f"{attempt.label} on {attempt.victim} → {answer.status}"
    if answer.status >= 500 or answer.status == 0:
        outcome.server_errors.append(where)
    if before[0] != after[0]:
        outcome.bypasses.append(f"{where}: changed {attempt.victim}'s rows")
    elif ok and alice.marker.encode() in answer.body:
        outcome.bypasses.append(f"{where}: revealed A's secret")
    else:  # a new row of Bob's naming this attempt's victim (a rename re-writes old ones)
        theirs = [v for k, v in watched.items() if k.startswith(attempt.victim) and len(v) >= 8]
        new = {t for t, row in after[1] - before[1] if any(i in row for i in theirs)}
        if new:
            outcome.crossed.append(f"{where} ({', '.join(sorted(new))})")


def detector_works(http: Http, database: Path, alice: Owner, watched: dict[str, str]) -> bool:
    """The control: Alice's own change to A must show in the snapshot (else the scenario
    could not see a bypass either)."""
    before = snapshot(database, watched)
    body = {"run_id": alice.ids["RUN"], "key": "control", "value": "1"}
    http.ok("POST", f"{V2}/runs/set-tag", body)
    return snapshot(database, watched)[0] != before[0]


def user_id_recorded(http: Http, bob: Owner, database: Path) -> bool:
    """Whether `runs/create` stores the user_id the client sent instead of the caller."""
    body = {"experiment_id": bob.ids["EXP"], "user_id": "alice"}
    answer = http.call("POST", f"{V2}/runs/create", body)
    run_id = ((answer.json() or {}).get("run") or {}).get("info", {}).get("run_id")
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        row = connection.execute(
            "SELECT user_id FROM runs WHERE run_uuid = ?", (run_id,)
        ).fetchone()
    finally:
        connection.close()
    return bool(row and row[0] == "alice")


def report(
    outcome: Outcome, covered: list[Any], uncovered: list[str], impersonated: bool, detects: bool
) -> Section:
    bypasses = len(outcome.bypasses)
    rows = [
        Row("endpoints tried (route tables + artifact proxy)", f"{len(covered)}"),
        Row("endpoints without a template (not tried)", f"{len(uncovered)}", "0", not uncovered),
        Row("authorization attempts", f"{outcome.attempts:,}"),
        Row("refused (4xx) / allowed (2xx)", f"{outcome.refused:,} / {outcome.allowed:,}"),
        Row("bypasses (changed A's or C's rows, or revealed A)", f"{bypasses}", "0", bypasses == 0),
        Row(
            "cross-references kept (a row of Bob's naming Alice's object)",
            f"{len(outcome.crossed)}",
        ),
        Row(
            "server errors (5xx) or no answer",
            f"{len(outcome.server_errors)}",
            "0",
            not outcome.server_errors,
        ),  # fmt: skip
        Row("control: the owner's own change is seen in the store", f"{detects}", "True", detects),
        Row(
            "runs/create stores the user_id the client sent",
            f"{impersonated}",
            "False",
            not impersonated,
        ),  # fmt: skip
    ]
    section = Section("Authorization under --auth", rows)
    section.figures = {
        "attempts": outcome.attempts,
        "bypasses": outcome.bypasses,
        "cross_references": outcome.crossed,
        "server_errors": outcome.server_errors,
        "uncovered_endpoints": uncovered,
        "per_endpoint": outcome.per_endpoint,
        "user_id_from_client": impersonated,
    }
    section.notes += [f"bypass: {b}" for b in outcome.bypasses[:8]]
    section.notes += [f"cross-reference kept: {c}" for c in outcome.crossed[:6]]
    section.notes += [f"server error: {e}" for e in outcome.server_errors[:4]]
    if uncovered:
        section.notes.append("endpoints not tried: " + ", ".join(uncovered))
    return section

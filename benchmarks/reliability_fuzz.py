"""Issue 19, fuzz: seeded random and hostile requests to every route of a real `cairn
server`, and a count of the answers that were server errors (5xx) or never came.

The routes are those of the authorization scenario (walked from `create_app`, with a valid
request of each), plus HEAD on every GET. Each request is that valid request bent one way:
a field given a hostile value (wrong types, huge and negative numbers, NaN, non-ASCII digits
such as `¹` `٢` `１` in ids and statuses, NUL, 100 KB strings, lone surrogates), a field
dropped or invented, the body replaced (bad JSON, empty, an array, deep nesting, invalid
UTF-8), a path id replaced; search filters get long (360 KB), many-clause (64 to 1,000
AND-ed metric clauses), deeply parenthesised and malformed ones. The generator is
`random.Random(--seed)`, so a run is repeatable request for request.

`filters` sends the many-clause filters to every search call on a server over each
database (SQLite, PostgreSQL, MariaDB): there the limits differ (SQLite joins at most 64
tables, MariaDB 61), and a filter must not hold a connection for a minute. By default 64
and 70 clauses; `--heavy-filters` adds 300 and 1,000 clauses and a 360 KB filter (a
database planning a join of hundreds of tables may take minutes and gigabytes: keep it off
a shared machine until the clause cap is in).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from reliability_databases import BACKENDS, NAMES, fresh_database, reachable
from reliability_endpoints import endpoints, fill, flat, objects
from reliability_http import Http
from reliability_processes import Server
from reliability_report import Row, Section

HOSTILE: list[Any] = [
    None, True, False, -1, 0, 2**63, -(2**63) - 1, 10**30, 1e308, -1e308, 1.5, "NaN",
    "Infinity", "-0", "1e5", "0x10", "+1", " 1", "1 ", "¹", "٢", "１", "𝟐", "1¹", "²³",
    "FINISHED¹", "", " ", "\x00", "a\x00b", "a" * 100_000, "😀", "\ud800", "../../etc/passwd",
    "' OR 1=1 --", "%s%n%x", "<script>alert(1)</script>", [], {}, [[[]]], {"a": {"b": 1}},
    ["¹"], [None], [-1], "null", "true", "[]", "{}",
]  # fmt: skip
FILTER_FIELDS = ("filter", "filter_string")
TIMEOUT = 60.0
NOT_IMPLEMENTED = 501  # multipart uploads to a local destination: the client falls back


def clauses(count: int, kind: str = "metrics") -> str:
    return " AND ".join(f"{kind}.m{i} > {i}" for i in range(count))


def hostile_filters(quick: bool) -> list[str]:
    found = [
        clauses(64),
        clauses(70),
        clauses(300),
        clauses(1_000),
        clauses(1_000, "params").replace(">", "="),
        "(" * 1_000 + "metrics.m > 1" + ")" * 1_000,
        "metrics.m > 1 AND (" * 300 + "params.p = 'x'" + ")" * 300,
        "params.p = 'unterminated",
        "metrics.`m¹` > ¹",
        "attributes.status = 'FINISHED¹'",
        "tags.t LIKE '" + "%_" * 5_000 + "'",
        "name LIKE '" + "%" * 10_000 + "'",
    ]
    if not quick:
        found.append(" AND ".join(f"metrics.metric_{i:05d} >= {i}.5" for i in range(12_000)))
    return found


@dataclass
class Count:
    requests: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    slowest: tuple[float, str] = (0.0, "")
    not_implemented: int = 0

    def add(self, route: str, status: int, seconds: float, what: str) -> None:
        self.requests += 1
        if seconds > self.slowest[0]:
            self.slowest = (seconds, f"{route} {what}"[:200])
        if status == NOT_IMPLEMENTED:  # chosen, not failed: MLflow's "use a plain PUT"
            self.not_implemented += 1
        elif status >= 500 or status == 0:
            self.errors[route] = self.errors.get(route, 0) + 1
            if len(self.examples) < 12:
                self.examples.append(f"{route} {what[:160]} → {status or 'no answer'}")

    @property
    def failures(self) -> int:
        return sum(self.errors.values())


def fuzz(root: Path, options: argparse.Namespace) -> Section:
    folder = root / "fuzz"
    server = Server.on(folder / "srv", f"sqlite:///{folder / 'fuzz.db'}", "--no-access-log")
    count = Count()
    rng = random.Random(options.seed)
    per_route = 12 if options.quick else 75
    began = time.monotonic()
    try:
        http = Http(server.port, timeout=TIMEOUT)
        owner = objects(http, "fuzz", "F", "fz")
        templates, _ = endpoints()
        for method, path, fields in templates:
            valid = fill(fields, {**owner.ids, "NEW": "n1", "NEWTRACE": "tr-" + "0" * 32})
            real_path = fill(path, owner.ids)
            requests = list(
                mutations(rng, method, path, real_path, valid, per_route, options.quick)
            )
            for sent_method, sent_path, body, what in requests:
                answer = http.call(sent_method, sent_path, body)
                count.add(f"{sent_method} {path}", answer.status, answer.seconds, what)
    finally:
        server.stop()
    seconds = time.monotonic() - began
    rows = [
        Row("routes fuzzed (and HEAD on each GET)", f"{len(templates)}"),
        Row("fuzzed requests", f"{count.requests:,}"),
        Row(
            "server errors (5xx but 501) or no answer",
            f"{count.failures}",
            "0",
            count.failures == 0,
        ),
        Row("routes with a 5xx", f"{len(count.errors)}"),
        Row(
            "501 NOT_IMPLEMENTED (multipart to a local folder, by design)",
            f"{count.not_implemented}",
        ),
        Row("slowest answer", f"{count.slowest[0]:.1f} s"),
        Row("seed / time", f"{options.seed} / {seconds:.0f} s"),
    ]
    section = Section("Fuzzed requests (SQLite)", rows)
    section.figures = {
        "requests": count.requests,
        "server_errors": count.failures,
        "by_route": count.errors,
        "examples": count.examples,
        "slowest": count.slowest,
        "seed": options.seed,
    }
    section.notes += [f"5xx: {e}" for e in count.examples[:8]]
    section.notes.append(f"slowest: {count.slowest[1]} ({count.slowest[0]:.1f} s)")
    return section


def mutations(
    rng: random.Random, method: str, template: str, path: str, valid: dict[str, Any],
    how_many: int, quick: bool,
) -> Iterator[tuple[str, str, Any, str]]:  # fmt: skip
    """(method, path, body, description) of each fuzzed request of one route."""
    if method == "GET":
        yield "HEAD", with_query(path, valid), None, "HEAD"
    for name in FILTER_FIELDS:
        if name in valid or "search" in template:
            for text in hostile_filters(quick):
                yield method, *shaped(method, path, {**valid, name: text}), f"{name}={text[:60]}…"
            break
    for _ in range(how_many):
        choice = rng.random()
        fields = json.loads(json.dumps(valid))
        if choice < 0.55 and fields:
            name = rng.choice(sorted(fields))
            value = rng.choice(HOSTILE)
            fields[name] = value
            yield method, *shaped(method, path, fields), f"{name}={short(value)}"
        elif choice < 0.65 and fields:
            name = rng.choice(sorted(fields))
            del fields[name]
            yield method, *shaped(method, path, fields), f"without {name}"
        elif choice < 0.75:
            value = rng.choice(HOSTILE)
            fields[rng.choice(["x", "run_id", "experiment_id", "status", "name", "ïd"])] = value
            yield method, *shaped(method, path, fields), f"extra field = {short(value)}"
        elif choice < 0.9 and method != "GET":
            body, what = rng.choice(raw_bodies())
            yield method, path, body, what
        else:
            bad = quote(str(rng.choice(HOSTILE)), safe="", errors="surrogatepass")[:2000]
            parts = path.split("/")
            parts[-1] = bad or "%20"  # an id in the path, or the call's own name
            yield method, *shaped(method, "/".join(parts), valid), f"path segment {bad[:40]}"


def raw_bodies() -> list[tuple[bytes, str]]:
    return [
        (b"", "empty body"),
        (b"{", "bad JSON"),
        (b"[1, 2]", "an array"),
        (b'"a string"', "a string"),
        (b"12", "a number"),
        (b"[" * 100_000 + b"]" * 100_000, "100,000 nested arrays"),
        (b'{"a":' * 5_000 + b"1" + b"}" * 5_000, "5,000 nested objects"),
        (b'{"run_id": "\xff\xfe"}', "invalid UTF-8"),
        (b'{"run_id": "\\ud800"}', "a lone surrogate"),
        (b"\x00" * 1_000, "NUL bytes"),
        (b'{"x": 1e999999}', "an overflowing number"),
        (json.dumps({"x": list(range(100_000))}).encode(), "100,000 numbers"),
    ]


def shaped(method: str, path: str, fields: dict[str, Any]) -> tuple[str, Any]:
    """(path, body): GET fields in the query, the rest as JSON."""
    if method in ("GET", "HEAD"):
        return with_query(path, fields), None
    try:
        return path, json.dumps(fields, allow_nan=True).encode("utf-8", "surrogatepass")
    except (TypeError, ValueError):
        return path, b"{}"


def with_query(path: str, fields: dict[str, Any]) -> str:
    pairs = [(k, v.encode("utf-8", "surrogatepass")) for k, v in flat(fields)]
    query = urlencode(pairs)
    return path + ("?" + query if query else "")


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 40 else f"{text[:30]}… ({len(text):,} chars)"


# -- the many-clause filters on every database -------------------------------------------


SEARCHES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("POST", "/api/2.0/mlflow/runs/search", "filter", {"experiment_ids": ["@EXP"]}),
    ("POST", "/api/2.0/mlflow/experiments/search", "filter", {}),
    ("GET", "/api/2.0/mlflow/model-versions/search", "filter", {}),
    ("GET", "/api/2.0/mlflow/registered-models/search", "filter", {}),
    ("POST", "/api/2.0/mlflow/logged-models/search", "filter", {"experiment_ids": ["@EXP"]}),
    ("POST", "/api/3.0/mlflow/traces/search", "filter", {"locations": [
        {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": "@EXP"}}]}),
]  # fmt: skip


def filters(root: Path, options: argparse.Namespace) -> Section:
    """Hostile filters on every search call, over each database."""
    rows: list[Row] = []
    figures: dict[str, Any] = {}
    notes: list[str] = []
    texts = hostile_filters(True)[:2]  # 64 and 70 clauses: past SQLite's and MariaDB's joins
    if options.heavy_filters:  # joins of hundreds of tables: a planner may take GBs
        texts = hostile_filters(True)[:8] + hostile_filters(False)[-1:]
    for backend in BACKENDS:
        why = reachable(backend)
        if why:
            rows.append(Row(f"{NAMES[backend]}", f"not reachable: {why}"))
            continue
        count = Count()
        with fresh_database(backend, root / f"filters-{backend}") as uri:
            server = Server.on(root / f"filters-{backend}" / "srv", uri, "--no-access-log")
            try:
                http = Http(server.port, timeout=TIMEOUT)
                owner = objects(http, "filters", "S", backend)
                for method, path, name, fields in SEARCHES:
                    for text in texts:
                        body = fill({**fields, name: text}, owner.ids)
                        sent_path, data = shaped(method, path, body)
                        answer = http.call(method, sent_path, data)
                        label = f"{path.rsplit('/', 2)[-2]}: {text[:50]}… ({len(text):,} chars)"
                        count.add(label, answer.status, answer.seconds, "")
            finally:
                server.stop()
        rows.append(
            Row(
                f"{NAMES[backend]}: filters sent / 5xx or no answer / slowest",
                f"{count.requests} / {count.failures} / {count.slowest[0]:.1f} s",
                "0 5xx",
                count.failures == 0,
            )
        )
        figures[backend] = {"requests": count.requests, "errors": count.examples,
                            "slowest": count.slowest}  # fmt: skip
        notes += [f"{NAMES[backend]}: {e}" for e in count.examples[:4]]
        notes.append(f"{NAMES[backend]} slowest: {count.slowest[1]} ({count.slowest[0]:.1f} s)")
    section = Section("Hostile search filters on every database", rows, figures=figures)
    section.notes = notes
    return section

"""Schemathesis over the server's own OpenAPI description: every operation, under one prefix
each (the others serve the same handler), with requests that follow the description and
requests that break it, against a real `cairn server` process on SQLite. No answer is a
5xx, and every answer conforms to the description: a 200 of the declared type, anything
else MLflow's error `{error_code, message}` as JSON.

Bounded and reproducible: `EXAMPLES` examples per operation and mode, derandomized, so a
failure found once is found again. CAIRN_SCHEMATHESIS_EXAMPLES asks for more (the
reliability suite's long run).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from live_server import LiveServer, start_server
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cairn.server.openapi import api_path

EXAMPLES = int(os.environ.get("CAIRN_SCHEMATHESIS_EXAMPLES", "4"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("schemathesis"))
    try:
        yield live
    finally:
        live.stop()


# Whether the server failed, and whether its answer is what the description says.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass
class Exchanges:
    """What the server answered, and every check that failed (all kept, to report all)."""

    base_url: str
    session: requests.Session
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def explore(self, operation: Any, mode: schemathesis.GenerationMode) -> None:
        """`EXAMPLES` requests to `operation` generated in `mode`, each answer checked."""

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def exchange(case: Any) -> None:
            try:
                response = case.call(base_url=self.base_url, session=self.session, timeout=60)
            except requests.RequestException as no_answer:
                self.failures.append(f"{operation.label} [{mode.value}]: no answer: {no_answer}")
                return
            self.statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=CHECKS)
            except (Failure, FailureGroup) as failure:
                self.failures.append(f"{operation.label} [{mode.value}]: {failure}"[:2000])

        try:
            exchange()
        except Unsatisfiable:
            pass  # nothing to break: an operation without fields has no negative case


def _one_per_endpoint(schema: Any) -> list[Any]:
    """Each operation under its first prefix: the others serve the same handler."""
    operations, seen = [], set()
    for result in schema.get_all_operations():
        operation = result.ok()
        key = (operation.method.upper(), api_path(operation.path))
        if key not in seen:
            seen.add(key)
            operations.append(operation)
    return operations


def test_schemathesis_finds_no_server_error_and_no_nonconforming_answer(
    server: LiveServer,
) -> None:
    base = f"http://127.0.0.1:{server.port}"
    operations = _one_per_endpoint(schemathesis.openapi.from_url(f"{base}/openapi.json"))
    assert len(operations) > 90
    with requests.Session() as session:
        exchanges = Exchanges(base, session)
        for operation in operations:
            exchanges.explore(operation, schemathesis.GenerationMode.POSITIVE)
            exchanges.explore(operation, schemathesis.GenerationMode.NEGATIVE)
    statuses = exchanges.statuses
    sent = sum(statuses.values())
    print(f"schemathesis: {len(operations)} operations, {sent} requests, statuses {statuses}")
    log = server.log.read_text(errors="replace")[-4000:]
    assert exchanges.failures == [], f"server log:\n{log}"
    assert not [s for s in statuses if s >= 500]
    assert sent > len(operations) * EXAMPLES  # every operation was exercised
    assert any(200 <= s < 300 for s in statuses) and any(400 <= s < 500 for s in statuses)

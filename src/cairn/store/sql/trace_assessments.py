"""Assessments of traces in SQL (feedback and expectations): SqlTraceStore inherits this.

An assessment's `body` is MLflow's JSON of it, stored whole; the record's columns are what
the store owns (id, trace, name, times) and what filters read: `kind` ("feedback" or
"expectation", whichever key the body has), `value` (the value as JSON), `numeric_value`
(when a number or bool) and `valid`. Overriding (a body whose `overrides` names an earlier
assessment of the trace) marks the earlier one invalid, and deleting the override makes it
valid again, as MLflow does.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from cairn.entities.trace import Assessment
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError
from cairn.store import validation as check
from cairn.store.sql import dialects
from cairn.store.sql.schema import trace_assessments, trace_info
from cairn.store.sql.trace_rows import RowsById
from cairn.store.sql.transactions import SqlTransactions

_KINDS = ("feedback", "expectation")
_MAX_NAME_LENGTH = 250
# Keys of a body the store sets, whatever a client sends.
_OWNED = ("assessment_id", "trace_id", "create_time", "last_update_time")


def _now_ms() -> int:
    return int(time.time() * 1000)


def new_assessment_id() -> str:
    return f"a-{uuid.uuid4().hex}"


def _name(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_NAME_LENGTH:
        raise InvalidParameterValueError(
            f"Invalid assessment name {value!r}: 1 to {_MAX_NAME_LENGTH} characters."
        )
    return check.no_nul("Assessment name", value)


def _derived(body: Mapping[str, Any]) -> dict[str, Any]:
    """The columns filters read, from the body."""
    kinds = [k for k in _KINDS if body.get(k) is not None]
    if len(kinds) != 1:
        raise InvalidParameterValueError(
            "An assessment must be exactly one of feedback or expectation."
        )
    part = body[kinds[0]]
    value = part.get("value") if isinstance(part, Mapping) else None
    number = (
        float(value)
        if isinstance(value, (int, float)) and value == value and abs(value) != float("inf")
        else None
    )
    return {
        "kind": kinds[0],
        "value": None if value is None else json.dumps(value, ensure_ascii=False),
        "numeric_value": number,
        "valid": body.get("valid", True) is not False,
    }


def _row(assessment: Assessment, trace_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "assessment_id": assessment.assessment_id,
        "trace_id": trace_id,
        "name": assessment.name,
        **_derived(body),
        "create_time": assessment.create_time_ms,
        "last_update_time": assessment.last_update_time_ms,
        "body": check.no_nul("Assessment", json.dumps(body, ensure_ascii=False)),
    }


_COLUMNS = (
    trace_assessments.c.assessment_id,
    trace_assessments.c.trace_id,
    trace_assessments.c.name,
    trace_assessments.c.create_time,
    trace_assessments.c.last_update_time,
    trace_assessments.c.body,
)


def _entity(row: Sequence[Any]) -> Assessment:
    """An Assessment from a row of _COLUMNS."""
    assessment_id, trace_id, name, created, updated, body = row
    return Assessment(assessment_id, trace_id, name, int(created), int(updated), json.loads(body))


_ASSESSMENTS = RowsById(
    select(*_COLUMNS),
    trace_assessments.c.trace_id,
    trace_assessments.c.create_time,
    trace_assessments.c.assessment_id,
)


def load_assessments(conn: Connection, ids: Sequence[str]) -> dict[str, list[Assessment]]:
    """trace id → its assessments, oldest first."""
    found: dict[str, list[Assessment]] = defaultdict(list)
    for row in _ASSESSMENTS.rows(conn, ids):
        found[row[1]].append(_entity(row))
    return found


def _clean_body(
    body: Mapping[str, Any], name: str, assessment_id: str, trace_id: str
) -> dict[str, Any]:
    if not isinstance(body, Mapping):
        raise InvalidParameterValueError("An assessment's body must be a JSON object.")
    kept = {k: v for k, v in body.items() if k not in _OWNED}
    return {**kept, "assessment_id": assessment_id, "trace_id": trace_id, "assessment_name": name}


class SqlTraceAssessments(SqlTransactions):
    """create/get/update/delete of assessments (TraceStore's last four methods)."""

    def _insert_assessments(
        self, conn: Connection, trace_id: str, assessments: Iterable[Assessment]
    ) -> None:
        """Assessments a StartTraceV3 carries (an exported trace): kept with their ids."""
        now = _now_ms()
        rows = []
        for given in assessments:
            name = _name(given.name)
            assessment_id = given.assessment_id or new_assessment_id()
            body = _clean_body(given.body, name, assessment_id, trace_id)
            stamped = Assessment(
                assessment_id,
                trace_id,
                name,
                given.create_time_ms or now,
                given.last_update_time_ms or now,
                body,
            )
            rows.append(_row(stamped, trace_id, body))
        if rows:
            dialects.insert_ignore(conn, trace_assessments, rows)

    def create_assessment(self, assessment: Assessment) -> Assessment:
        trace_id = assessment.trace_id
        name = _name(assessment.name)
        now = _now_ms()
        assessment_id = new_assessment_id()
        body = _clean_body(assessment.body, name, assessment_id, trace_id)
        stored = Assessment(assessment_id, trace_id, name, now, now, body)
        row = _row(stored, trace_id, body)
        overrides = body.get("overrides")

        def work(conn: Connection) -> Assessment:
            _require_trace(conn, trace_id)
            if overrides:
                self._set_valid(conn, trace_id, str(overrides), False, now)
            conn.execute(trace_assessments.insert(), row)
            return stored

        return self._retrying(work)

    def get_assessment(self, trace_id: str, assessment_id: str) -> Assessment:
        with self._read() as conn:
            return _entity(_fetch(conn, trace_id, assessment_id))

    def update_assessment(
        self, trace_id: str, assessment_id: str, body_changes: Mapping[str, Any]
    ) -> Assessment:
        if not isinstance(body_changes, Mapping):
            raise InvalidParameterValueError("Assessment changes must be a JSON object.")

        def work(conn: Connection) -> Assessment:
            current = _entity(_fetch(conn, trace_id, assessment_id))
            changes = {k: v for k, v in body_changes.items() if k not in _OWNED}
            kind = _derived(current.body)["kind"]
            other = "expectation" if kind == "feedback" else "feedback"
            if changes.get(other) is not None:
                raise InvalidParameterValueError(
                    f"Cannot change a {kind} assessment into an {other}."
                )
            name = _name(changes.get("assessment_name", current.name))
            body = _clean_body({**current.body, **changes}, name, assessment_id, trace_id)
            updated = Assessment(
                assessment_id, trace_id, name, current.create_time_ms, _now_ms(), body
            )
            row = _row(updated, trace_id, body)
            del row["assessment_id"], row["trace_id"], row["create_time"]
            conn.execute(
                update(trace_assessments)
                .where(trace_assessments.c.assessment_id == assessment_id)
                .values(**row)
            )
            return updated

        return self._retrying(work)

    def delete_assessment(self, trace_id: str, assessment_id: str) -> None:
        def work(conn: Connection) -> None:
            current = _entity(_fetch(conn, trace_id, assessment_id))
            conn.execute(
                delete(trace_assessments).where(trace_assessments.c.assessment_id == assessment_id)
            )
            overridden = current.body.get("overrides")
            if overridden:
                self._set_valid(conn, trace_id, str(overridden), True, _now_ms())

        self._retrying(work)

    @staticmethod
    def _set_valid(
        conn: Connection, trace_id: str, assessment_id: str, valid: bool, now: int
    ) -> None:
        row = conn.execute(
            select(trace_assessments.c.body).where(
                trace_assessments.c.assessment_id == assessment_id,
                trace_assessments.c.trace_id == trace_id,
            )
        ).first()
        if row is None:
            if not valid:
                raise ResourceDoesNotExistError(
                    f"Assessment {assessment_id!r} to override not found on trace {trace_id}."
                )
            return
        body = {**json.loads(row.body), "valid": valid}
        conn.execute(
            update(trace_assessments)
            .where(trace_assessments.c.assessment_id == assessment_id)
            .values(valid=valid, body=json.dumps(body, ensure_ascii=False), last_update_time=now)
        )


def _require_trace(conn: Connection, trace_id: str) -> None:
    found = conn.execute(
        select(trace_info.c.trace_id).where(trace_info.c.trace_id == trace_id)
    ).first()
    if found is None:
        raise ResourceDoesNotExistError(f"Trace with ID {trace_id!r} not found.")


def _fetch(conn: Connection, trace_id: str, assessment_id: str) -> Any:
    row = conn.execute(
        select(*_COLUMNS).where(
            trace_assessments.c.assessment_id == assessment_id,
            trace_assessments.c.trace_id == trace_id,
        )
    ).first()
    if row is None:
        raise ResourceDoesNotExistError(
            f"Assessment with ID {assessment_id!r} not found on trace {trace_id!r}."
        )
    return row

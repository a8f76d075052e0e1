"""MLflow's search_traces filter and order_by, parsed by cairn.store.search and compiled to
one SQL query over `trace_info`.

What MLflow accepts (mlflow.utils.search_utils.SearchTraceUtils), as a Grammar:

- attributes, bare or prefixed `trace.`/`attribute.`: `status`, `timestamp_ms` (`timestamp`),
  `execution_time_ms` (`execution_time`), `end_time_ms` (`end_time`), `trace_id`
  (`request_id`), `client_request_id`, `name` (the tag mlflow.traceName), `run_id` (the
  metadata mlflow.sourceRun) and `text` (LIKE/ILIKE over every span's JSON);
- `tags.<k>`/`tag.<k>` and `metadata.<k>`/`request_metadata.<k>` (=, !=, LIKE, ILIKE,
  IS [NOT] NULL);
- `span.name`, `span.type`, `span.status` (also IN) and `span.content` (LIKE/ILIKE): some span
  of the trace matches;
- `feedback.<name>`, `expectation.<name>`: some valid assessment of that name whose value
  matches: `= 'yes'` matches the string "yes" and the JSON literal yes (so `'true'`, `'5'`
  match a bool or a number); <, <=, >, >= compare numbers (`> 3`, or `> '3'`).

Every comparison is an EXISTS over an indexed child table, values bound, never spliced.
Order: `timestamp_ms` (default, newest first), `execution_time_ms`, `end_time_ms`,
`status`, `name`, `trace_id`, `experiment_id`; ties broken by trace id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, case, not_, or_, select
from sqlalchemy.sql.elements import ColumnElement

from cairn.entities.trace import SOURCE_RUN_METADATA, TraceState
from cairn.exceptions import InvalidParameterValueError
from cairn.store import search
from cairn.store.search import (
    NULLABLE_STRING,
    NUMBER,
    STRING_OR_LIST,
    Comparison,
    FieldSpec,
    Grammar,
    KeySpec,
    KindSpec,
    OrderBy,
)
from cairn.store.sql.query import child_exists, compare
from cairn.store.sql.schema import (
    trace_assessments,
    trace_info,
    trace_metadata,
    trace_spans,
    trace_tags,
)

#: The tag that holds a trace's name (MLflow's TraceTagKey.TRACE_NAME).
TRACE_NAME_TAG = "mlflow.traceName"

_CONTENT = FieldSpec(numeric=False, ops=frozenset(("LIKE", "ILIKE")))
_ASSESSMENT = FieldSpec(
    numeric=False,
    ops=frozenset(search.NUMERIC_OPS + ("LIKE", "ILIKE") + search.NULL_OPS),
)


def _aliases(canonical: str, spec: FieldSpec, *names: str, **options: bool) -> dict[str, KeySpec]:
    return {name: KeySpec(canonical, spec, **options) for name in (canonical, *names)}


_ATTRIBUTES: dict[str, KeySpec] = {
    **_aliases("timestamp_ms", NUMBER, "timestamp"),
    **_aliases("execution_time_ms", NUMBER, "execution_time"),
    **_aliases("end_time_ms", NUMBER, "end_time"),
    **_aliases("status", STRING_OR_LIST, "state"),
    **_aliases("trace_id", STRING_OR_LIST, "request_id"),
    **_aliases("client_request_id", STRING_OR_LIST, orderable=False),
    **_aliases("name", STRING_OR_LIST),
    **_aliases("run_id", STRING_OR_LIST, orderable=False),
    **_aliases("text", _CONTENT, orderable=False),
    **_aliases("experiment_id", NUMBER, filterable=False),
}

TRACE_GRAMMAR = Grammar(
    entity="traces",
    kinds={
        "attribute": KindSpec(("attribute", "attributes", "attr", "trace"), keys=_ATTRIBUTES),
        "tag": KindSpec(("tag", "tags"), open_keys=NULLABLE_STRING, orderable=False),
        "metadata": KindSpec(
            ("metadata", "request_metadata"), open_keys=NULLABLE_STRING, orderable=False
        ),
        "span": KindSpec(
            ("span",),
            keys={
                **{name: KeySpec(name, STRING_OR_LIST) for name in ("name", "type", "status")},
                "content": KeySpec("content", _CONTENT),
            },
            orderable=False,
        ),
        "feedback": KindSpec(("feedback",), open_keys=_ASSESSMENT, orderable=False),
        "expectation": KindSpec(("expectation",), open_keys=_ASSESSMENT, orderable=False),
    },
)

_SPAN_COLUMNS = {
    "name": trace_spans.c.name,
    "type": trace_spans.c.span_type,
    "status": trace_spans.c.status,
    "content": trace_spans.c.content,
}


_NULLABLE_ORDER_KEYS = ("execution_time_ms", "end_time_ms", "name")


# MLflow writes `feedback.score > 3` or `= 3` (a bare number) while `feedback.tone = 'rude'` takes a
# string; the shared parser types a value by its field, not its operator, so such a number
# is quoted before parsing. Quoted strings are matched first, and so left alone.
_NUMERIC_ASSESSMENT = re.compile(
    r"""('[^']*'|"[^"]*")"""
    r"|((?:feedback|expectation)\.(?:`[^`]*`|[\w\-./:]+)\s*(?:<=|>=|!=|<|>|=)\s*)"
    r"([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)(?![\w\-./:])",
    re.IGNORECASE,
)


def _quote_assessment_numbers(text: str) -> str:
    def quote(match: re.Match[str]) -> str:
        if match.group(1):
            return match.group(1)
        return f"{match.group(2)}'{match.group(3)}'"

    return _NUMERIC_ASSESSMENT.sub(quote, text)


def parse(
    filter_string: str | None, order_by: Sequence[str] | None
) -> tuple[list[Comparison], list[OrderBy]]:
    """Both halves of a search, checked before any query runs."""
    if filter_string:
        search.refuse_long(filter_string, "filter")  # before the regex reads it
        filter_string = _quote_assessment_numbers(filter_string)
    return search.parse_filter(TRACE_GRAMMAR, filter_string), search.parse_order_by(
        TRACE_GRAMMAR, order_by
    )


def trace_search(
    experiment_ids: Sequence[int], clauses: Sequence[Comparison], order: Sequence[OrderBy]
) -> Select[Any]:
    """SELECT trace_id FROM trace_info WHERE <experiments and clauses> ORDER BY <order>."""
    query = select(trace_info.c.trace_id).where(trace_info.c.experiment_id.in_(experiment_ids))
    query = query.where(*(_condition(i, clause) for i, clause in enumerate(clauses)))
    keys: list[Any] = []
    for i, spec in enumerate(order or [search.OrderBy("attribute", "timestamp_ms", False)]):
        query, more = _order_terms(query, i, spec)
        keys.extend(more)
    first = order[0].ascending if order else False
    keys.append(trace_info.c.trace_id.asc() if first else trace_info.c.trace_id.desc())
    return query.order_by(*keys)


def _end_time() -> Any:
    return trace_info.c.request_time + trace_info.c.execution_duration


def _condition(i: int, clause: Comparison) -> ColumnElement[bool]:
    """The condition of the filter's clause `i` (its position: see query.child_exists)."""
    kind, key, op, value = clause.kind, clause.key, clause.op, clause.value
    if kind == "attribute":
        return _attribute(i, key, op, value)
    if kind == "tag":
        return _key_value(i, trace_tags, key, op, value)
    if kind == "metadata":
        return _key_value(i, trace_metadata, key, op, value)
    if kind == "span":
        if key == "status":  # OTLP's names (UNSET, STATUS_CODE_OK) for the stored ones
            value = (
                tuple(map(_span_state, value))
                if isinstance(value, tuple)
                else _span_state(str(value))
            )
        return _span_exists(i, _SPAN_COLUMNS[key], op, value)
    return _assessment(i, kind, key, op, value)


def _attribute(i: int, key: str, op: str, value: Any) -> ColumnElement[bool]:
    if key in ("timestamp_ms", "execution_time_ms", "end_time_ms"):
        column = {
            "timestamp_ms": trace_info.c.request_time,
            "execution_time_ms": trace_info.c.execution_duration,
            "end_time_ms": _end_time(),
        }[key]
        return compare(column, op, _whole_ms(key, value))
    if key == "status":
        return compare(trace_info.c.state, op, _states(value))
    if key == "trace_id":
        return compare(trace_info.c.trace_id, op, value)
    if key == "client_request_id":
        return compare(trace_info.c.client_request_id, op, value)
    if key == "name":
        return _key_value(i, trace_tags, TRACE_NAME_TAG, op, value)
    if key == "run_id":
        return _key_value(i, trace_metadata, SOURCE_RUN_METADATA, op, value)
    return _span_exists(i, trace_spans.c.content, op, value)  # text


def _span_state(text: str) -> str:
    try:
        return TraceState.parse(text).value
    except ValueError:
        return text


def _whole_ms(key: str, value: Any) -> int:
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidParameterValueError(f"Invalid value {value!r} for {key}.")
    if not -(2**62) < value < 2**62:
        raise InvalidParameterValueError(f"{key} value {value!r} is out of range.")
    return int(value)


def _states(value: Any) -> Any:
    """MLflow's v2 status names (`TRACE_STATUS_OK`) name the same states."""

    def one(text: str) -> str:
        return text.removeprefix("TRACE_STATUS_")

    return tuple(one(v) for v in value) if isinstance(value, tuple) else one(value)


def _key_value(i: int, table: Any, key: str, op: str, value: Any) -> ColumnElement[bool]:
    has_key = and_(table.c.trace_id == trace_info.c.trace_id, table.c.key == key)
    if op == "IS NULL":
        return not_(child_exists(i, has_key))
    if op == "IS NOT NULL":
        return child_exists(i, has_key)
    return child_exists(i, has_key, compare(table.c.value, op, value))


def _span_exists(i: int, column: Any, op: str, value: Any) -> ColumnElement[bool]:
    owned = trace_spans.c.trace_id == trace_info.c.trace_id
    return child_exists(i, owned, compare(column, op, value))


def _assessment(i: int, kind: str, name: str, op: str, value: Any) -> ColumnElement[bool]:
    a = trace_assessments
    base = [
        a.c.trace_id == trace_info.c.trace_id,
        a.c.kind == kind,
        a.c.name == name,
        a.c.valid.is_(True),
    ]
    if op == "IS NULL":
        return not_(child_exists(i, *base))
    if op == "IS NOT NULL":
        return child_exists(i, *base)
    if op in ("<", "<=", ">", ">="):
        try:
            number = float(value)
        except ValueError:
            raise InvalidParameterValueError(
                f"{kind}.{name} {op} needs a number, got {value!r}."
            ) from None
        return child_exists(i, *base, compare(a.c.numeric_value, op, number))
    if op in ("=", "!="):
        same = or_(a.c.value == value, a.c.value == json.dumps(value))
        return child_exists(i, *base, same if op == "=" else not_(same))
    return child_exists(i, *base, compare(a.c.value, op, value))


def _order_terms(query: Select[Any], i: int, spec: OrderBy) -> tuple[Select[Any], list[Any]]:
    if spec.key == "name":
        alias = trace_tags.alias(f"order_name_{i}")
        query = query.outerjoin(
            alias, and_(alias.c.trace_id == trace_info.c.trace_id, alias.c.key == TRACE_NAME_TAG)
        )
        column: Any = alias.c.value
    else:
        column = {
            "timestamp_ms": trace_info.c.request_time,
            "execution_time_ms": trace_info.c.execution_duration,
            "end_time_ms": _end_time(),
            "status": trace_info.c.state,
            "trace_id": trace_info.c.trace_id,
            "experiment_id": trace_info.c.experiment_id,
        }[spec.key]
    direction = column.asc() if spec.ascending else column.desc()
    if spec.key not in _NULLABLE_ORDER_KEYS:  # a bare column, so an index can give the order
        return query, [direction]
    return query, [case((column.is_(None), 1), else_=0), direction]  # missing values last

"""The search filter / order_by grammar: what parses to what, and what is rejected where.

Everything malformed must raise InvalidParameterValueError naming a 0-based position;
nothing else may escape, which the seeded fuzz tests at the bottom check.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from typing import TypeVar

import pytest

from cairn.exceptions import InvalidParameterValueError
from cairn.store.search import (
    EXPERIMENT_GRAMMAR,
    NULLABLE_STRING,
    NUMBER,
    STRING,
    Comparison,
    Grammar,
    KeySpec,
    KindSpec,
    OrderBy,
    parse_experiment_filter,
    parse_experiment_order_by,
    parse_filter,
    parse_order_by,
    parse_run_filter,
    parse_run_order_by,
)

_T = TypeVar("_T")


def _error(parse: Callable[[str], object], text: str) -> str:
    with pytest.raises(InvalidParameterValueError) as info:
        parse(text)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    return info.value.message


def _run_error(text: str) -> str:
    return _error(parse_run_filter, text)


def _exp_error(text: str) -> str:
    return _error(parse_experiment_filter, text)


def _run_order_error(clauses: Sequence[str]) -> str:
    with pytest.raises(InvalidParameterValueError) as info:
        parse_run_order_by(clauses)
    return info.value.message


def _exp_order_error(clauses: Sequence[str]) -> str:
    with pytest.raises(InvalidParameterValueError) as info:
        parse_experiment_order_by(clauses)
    return info.value.message


def _position(message: str) -> int:
    match = re.search(r"at position (\d+)", message)
    assert match is not None, message
    return int(match.group(1))


def _one(text: str) -> Comparison:
    [clause] = parse_run_filter(text)
    return clause


# -- empty input -------------------------------------------------------------------------


@pytest.mark.parametrize("text", [None, "", " ", "   \t\n  "])
def test_empty_filter_means_no_clauses(text: str | None) -> None:
    assert parse_run_filter(text) == []
    assert parse_experiment_filter(text) == []


@pytest.mark.parametrize("clauses", [None, [], ()])
def test_empty_order_by_means_no_ordering(clauses: Sequence[str] | None) -> None:
    assert parse_run_order_by(clauses) == []
    assert parse_experiment_order_by(clauses) == []


# -- prefixes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "kind"),
    [
        ("metric", "metric"),
        ("metrics", "metric"),
        ("METRICS", "metric"),
        ("Metric", "metric"),
        ("param", "param"),
        ("params", "param"),
        ("parameter", "param"),
        ("parameters", "param"),
        ("Params", "param"),
        ("PARAMETERS", "param"),
        ("tag", "tag"),
        ("tags", "tag"),
        ("TAGS", "tag"),
    ],
)
def test_open_key_prefixes(prefix: str, kind: str) -> None:
    value = "1" if kind == "metric" else "'v'"
    assert _one(f"{prefix}.k = {value}") == Comparison(
        kind, "k", "=", 1.0 if kind == "metric" else "v"
    )


@pytest.mark.parametrize(
    "prefix", ["attribute.", "attributes.", "attr.", "run.", "ATTR.", "Attributes.", "RUN.", ""]
)
def test_attribute_prefixes_and_bare_names(prefix: str) -> None:
    assert _one(f"{prefix}status = 'FINISHED'") == Comparison(
        "attribute", "status", "=", "FINISHED"
    )


@pytest.mark.parametrize("prefix", ["dataset", "datasets", "DATASET", "Datasets"])
def test_dataset_prefixes(prefix: str) -> None:
    assert _one(f"{prefix}.name = 'mnist'") == Comparison("dataset", "name", "=", "mnist")


@pytest.mark.parametrize("text", ["foo.bar = 1", "metricz.acc > 1", ".acc > 1", "`metrics`.a > 1"])
def test_unknown_prefix_is_rejected(text: str) -> None:
    message = _run_error(text)
    assert "unknown" in message
    assert _position(message) == 0


def test_unknown_prefix_message_names_prefix_and_alternatives() -> None:
    message = _run_error("foo.bar = 1")
    assert message.startswith("Invalid filter \"foo.bar = 1\": unknown prefix 'foo' at position 0")
    assert "metrics" in message and "params" in message


# -- keys --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("metrics.acc > 0", "acc"),
        ("metrics.train.loss > 0", "train.loss"),
        ("metrics.a-b_c/d:e.f > 0", "a-b_c/d:e.f"),
        ("metrics.2024 > 0", "2024"),
        ("metrics.`my metric` > 0", "my metric"),
        ('metrics."my metric" > 0', "my metric"),
        ("metrics.`a.b (c)` > 0", "a.b (c)"),
        ('metrics."it\'s" > 0', "it's"),
        ('metrics.`say "hi"` > 0', 'say "hi"'),
        ("metrics.`x`>0", "x"),
        ("metrics.précision > 0", "précision"),
    ],
)
def test_metric_key_spellings(text: str, key: str) -> None:
    assert _one(text) == Comparison("metric", key, ">", 0.0)


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("metrics. acc > 1", 8),  # space between prefix and key
        ("metrics.'acc' > 1", 8),  # single quotes are for values, not keys
        ("metrics. `acc` > 1", 8),
        ("metrics.``> 1", 8),  # empty quoted key
        ("params.\"\" = 'x'", 7),
        ("metrics. > 1", 8),
        ("metrics.", 8),
    ],
)
def test_malformed_keys(text: str, position: int) -> None:
    assert _position(_run_error(text)) == position


def test_space_inside_bare_key_is_rejected() -> None:
    message = _run_error("metrics.my metric > 1")
    assert "expected a comparison operator, found 'metric' at position 11" in message


def test_text_after_quoted_key_is_rejected() -> None:
    assert _position(_run_error("metrics.`a`b > 1")) == 11


# -- attributes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("run_id = 'abc'", Comparison("attribute", "run_id", "=", "abc")),
        ("attributes.run_uuid = 'abc'", Comparison("attribute", "run_id", "=", "abc")),
        ("run_name = 'x'", Comparison("attribute", "run_name", "=", "x")),
        ("attributes.\"run name\" = 'x'", Comparison("attribute", "run_name", "=", "x")),
        ("attributes.`run name` = 'x'", Comparison("attribute", "run_name", "=", "x")),
        ("attributes.`Run Name` = 'x'", Comparison("attribute", "run_name", "=", "x")),
        ("attributes.`Run name` LIKE 'x%'", Comparison("attribute", "run_name", "LIKE", "x%")),
        ("`run name` = 'x'", Comparison("attribute", "run_name", "=", "x")),
        ("status != 'FAILED'", Comparison("attribute", "status", "!=", "FAILED")),
        ("user_id ILIKE '%bob%'", Comparison("attribute", "user_id", "ILIKE", "%bob%")),
        ("artifact_uri LIKE 's3://%'", Comparison("attribute", "artifact_uri", "LIKE", "s3://%")),
        ("lifecycle_stage = 'active'", Comparison("attribute", "lifecycle_stage", "=", "active")),
        ("start_time >= 1700000000000", Comparison("attribute", "start_time", ">=", 1.7e12)),
        ("attr.created < 5", Comparison("attribute", "start_time", "<", 5.0)),
        ("Created < 5", Comparison("attribute", "start_time", "<", 5.0)),
        ("run.end_time != 0", Comparison("attribute", "end_time", "!=", 0.0)),
        ("\"status\" = 'x'", Comparison("attribute", "status", "=", "x")),
    ],
)
def test_run_attributes(text: str, expected: Comparison) -> None:
    assert _one(text) == expected


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("nonsense = 'x'", 0),
        ("attributes.nonsense = 'x'", 11),
        ("attr.`no such` = 'x'", 5),
        ("Status = 'x'", 0),  # attribute names are case-sensitive, as in MLflow
        ("run.run_name.x = 'y'", 4),
        ("dataset.size = 'x'", 8),
    ],
)
def test_unknown_attribute_is_rejected(text: str, position: int) -> None:
    message = _run_error(text)
    assert "unknown" in message
    assert _position(message) == position


# -- comparators per kind ----------------------------------------------------------------

_VALID = [
    *(f"metrics.m {op} 1" for op in ("=", "!=", "<", "<=", ">", ">=")),
    *(f"params.p {op} 'v'" for op in ("=", "!=", "LIKE", "ILIKE")),
    *(f"tags.t {op} 'v'" for op in ("=", "!=", "LIKE", "ILIKE")),
    "params.p IS NULL",
    "params.p IS NOT NULL",
    "tags.t IS NULL",
    "tags.t IS NOT NULL",
    *(f"status {op} 'v'" for op in ("=", "!=", "LIKE", "ILIKE")),
    "run_id IN ('a')",
    "run_id NOT IN ('a')",
    *(f"start_time {op} 1" for op in ("=", "!=", "<", "<=", ">", ">=")),
    *(f"end_time {op} 1" for op in ("=", "!=", "<", "<=", ">", ">=")),
    *(f"dataset.{f} {op} 'v'" for f in ("name", "digest", "context") for op in ("=", "!=")),
    *(f"dataset.{f} {op} 'v'" for f in ("name", "digest", "context") for op in ("LIKE", "ILIKE")),
    *(f"dataset.{f} {op} ('v')" for f in ("name", "digest", "context") for op in ("IN", "NOT IN")),
]


@pytest.mark.parametrize("text", _VALID)
def test_valid_comparators(text: str) -> None:
    assert len(parse_run_filter(text)) == 1


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("metrics.m LIKE 1", 10),
        ("metrics.m ILIKE 1", 10),
        ("metrics.m IN ('a')", 10),
        ("metrics.m NOT IN ('a')", 10),
        ("metrics.m IS NULL", 10),
        ("metrics.m IS NOT NULL", 10),
        ("params.p > 'v'", 9),
        ("params.p <= 'v'", 9),
        ("params.p IN ('v')", 9),
        ("tags.t < 'v'", 7),
        ("tags.t NOT IN ('v')", 7),
        ("status > 'v'", 7),
        ("status IN ('v')", 7),
        ("run_name NOT IN ('v')", 9),
        ("status IS NULL", 7),
        ("start_time LIKE 1", 11),
        ("start_time IN ('1')", 11),
        ("end_time IS NOT NULL", 9),
        ("dataset.name > 'v'", 13),
        ("dataset.digest IS NULL", 15),
    ],
)
def test_comparator_not_allowed_for_kind(text: str, position: int) -> None:
    message = _run_error(text)
    assert "is not supported for" in message
    assert _position(message) == position


@pytest.mark.parametrize(
    ("text", "position", "expected"),
    [
        ("metrics.acc = 'x'", 14, "a number"),
        ('metrics.acc = "1"', 14, "a number"),
        ("metrics.acc = abc", 14, "a number"),
        ("params.p = 1", 11, "a quoted string"),
        ("params.p = abc", 11, "a quoted string"),
        ("params.p = `abc`", 11, "a quoted string"),
        ("tags.t != 1.5", 10, "a quoted string"),
        ("status = 1", 9, "a quoted string"),
        ("start_time > '1'", 13, "a number"),
        ("dataset.name = 1", 15, "a quoted string"),
    ],
)
def test_wrong_value_type(text: str, position: int, expected: str) -> None:
    message = _run_error(text)
    assert f"expected {expected}" in message
    assert _position(message) == position


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("metrics.a == 1", 11),  # the second "=" is not a value
        ("metrics.a => 1", 11),
        ("metrics.a <> 1", 11),
        ("metrics.a ! 1", 10),
        ("metrics.a 1", 10),
        ("params.p NOT LIKE 'x'", 13),
        ("params.p IS 'x'", 12),
        ("params.p IS NOT 'x'", 16),
        ("params.p IS NOT", 15),
        ("params.p NOT", 12),
        ("metrics.a", 9),
        ("status", 6),
    ],
)
def test_malformed_operators(text: str, position: int) -> None:
    assert _position(_run_error(text)) == position


# -- keywords are case-insensitive -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "op"),
    [
        ("params.p like 'a'", "LIKE"),
        ("params.p Like 'a'", "LIKE"),
        ("params.p ilike 'a'", "ILIKE"),
        ("params.p iLiKe 'a'", "ILIKE"),
        ("params.p is null", "IS NULL"),
        ("params.p Is Null", "IS NULL"),
        ("params.p is not null", "IS NOT NULL"),
        ("params.p IS not NULL", "IS NOT NULL"),
        ("run_id in ('a')", "IN"),
        ("run_id not in ('a')", "NOT IN"),
        ("run_id Not In ('a')", "NOT IN"),
    ],
)
def test_keywords_any_case(text: str, op: str) -> None:
    assert _one(text).op == op


@pytest.mark.parametrize("joiner", ["AND", "and", "And", "aNd"])
def test_and_any_case(joiner: str) -> None:
    clauses = parse_run_filter(f"metrics.a > 1 {joiner} params.p = 'x' {joiner} status = 'y'")
    assert clauses == [
        Comparison("metric", "a", ">", 1.0),
        Comparison("param", "p", "=", "x"),
        Comparison("attribute", "status", "=", "y"),
    ]


# -- values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("1", 1.0),
        ("0", 0.0),
        ("42", 42.0),
        ("1.5", 1.5),
        ("-2", -2.0),
        ("-0.25", -0.25),
        (".5", 0.5),
        ("10.", 10.0),
        ("+3", 3.0),
        ("1e-3", 0.001),
        ("1E3", 1000.0),
        ("-1.5e+2", -150.0),
        ("2.5e10", 2.5e10),
        ("007", 7.0),
    ],
)
def test_numbers(literal: str, value: float) -> None:
    clause = _one(f"metrics.m >= {literal}")
    assert clause.value == value
    assert type(clause.value) is float


@pytest.mark.parametrize("literal", ["1.2.3", "1e", "--1", "nan", "inf", "0x10", "1_000", "1e3x"])
def test_not_numbers(literal: str) -> None:
    message = _run_error(f"metrics.m >= {literal}")
    assert "expected a number" in message
    assert _position(message) == 13


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("'abc'", "abc"),
        ('"abc"', "abc"),
        ("''", ""),
        ('""', ""),
        ("'  padded  '", "  padded  "),
        ("'it\"s'", 'it"s'),
        ('"it\'s"', "it's"),
        ("'%_\\n'", "%_\\n"),  # no unescaping: a backslash stays a backslash
        ("'AND OR ( ) , = IN'", "AND OR ( ) , = IN"),
        ("'ünïcödé 🙂'", "ünïcödé 🙂"),
    ],
)
def test_strings_keep_exact_content(literal: str, value: str) -> None:
    assert _one(f"params.p = {literal}").value == value


def test_doubled_quote_is_not_an_escape() -> None:
    message = _run_error("params.p = 'it''s'")
    assert "expected AND or end of filter" in message
    assert _position(message) == 15


@pytest.mark.parametrize(
    ("text", "position", "what"),
    [
        ("params.p = 'abc", 11, "single-quoted"),
        ('params.p = "abc', 11, "double-quoted"),
        ("metrics.`abc > 1", 8, "backtick"),
        ("status = 'a' AND params.p = 'b", 28, "single-quoted"),
        ("'", 0, "single-quoted"),
    ],
)
def test_unterminated_quotes(text: str, position: int, what: str) -> None:
    message = _run_error(text)
    assert f"unterminated {what}" in message
    assert _position(message) == position


# -- IN lists ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("run_id IN ('a')", ("a",)),
        ("run_id IN ('a', 'b')", ("a", "b")),
        ("run_id IN ('a','b','c')", ("a", "b", "c")),
        ("run_id IN (\"a\", 'b')", ("a", "b")),
        ("run_id IN(  'a'  ,\n'b'  )", ("a", "b")),
        ("run_id IN ('a', 'a')", ("a", "a")),
        ("run_id IN ('')", ("",)),
        ("run_id IN ('a,b')", ("a,b",)),
    ],
)
def test_in_lists(text: str, value: tuple[str, ...]) -> None:
    assert _one(text) == Comparison("attribute", "run_id", "IN", value)


def test_not_in_list() -> None:
    assert _one("run_id NOT IN ('a', 'b')") == Comparison(
        "attribute", "run_id", "NOT IN", ("a", "b")
    )


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("run_id IN ()", 11),  # empty list
        ("run_id IN ('a',)", 15),  # trailing comma
        ("run_id IN (,'a')", 11),
        ("run_id IN 'a'", 10),  # no parentheses
        ("run_id IN ('a'", 14),  # unclosed
        ("run_id IN ('a' 'b')", 15),  # missing comma
        ("run_id IN (1, 2)", 11),  # numbers
        ("run_id IN (`a`)", 11),  # backticks are for keys
        ("run_id IN ('a'))", 15),
        ("run_id IN", 9),
        ("run_id IN (('a'))", 11),
    ],
)
def test_malformed_in_lists(text: str, position: int) -> None:
    assert _position(_run_error(text)) == position


# -- whitespace --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "metrics.acc>0.5 AND params.p='x'",
        "metrics.acc > 0.5 AND params.p = 'x'",
        "   metrics.acc   >   0.5   AND   params.p   =   'x'   ",
        "\tmetrics.acc\t>\t0.5\nAND\nparams.p\r\n=\t'x'\n",
        "metrics.acc >0.5 AND params.p= 'x'",
    ],
)
def test_whitespace_is_insignificant_between_tokens(text: str) -> None:
    assert parse_run_filter(text) == [
        Comparison("metric", "acc", ">", 0.5),
        Comparison("param", "p", "=", "x"),
    ]


def test_no_space_needed_around_string_values() -> None:
    assert parse_run_filter("params.p='x'AND status='y'") == [
        Comparison("param", "p", "=", "x"),
        Comparison("attribute", "status", "=", "y"),
    ]


def test_negative_number_right_after_operator() -> None:
    assert _one("metrics.loss<=-1e-3") == Comparison("metric", "loss", "<=", -0.001)


# -- error messages and positions --------------------------------------------------------


def test_message_from_the_brief() -> None:
    assert _run_error("metrics.acc >") == (
        'Invalid filter "metrics.acc >": expected a value at position 13'
    )


def test_position_is_offset_in_original_string() -> None:
    # Leading whitespace counts: positions index the string as given.
    assert _run_error("   metrics.acc >") == (
        'Invalid filter "   metrics.acc >": expected a value at position 16'
    )


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("metrics.acc > 1 2", 16, "expected AND or end of filter, found '2'"),
        ("metrics.acc > 1 AND", 19, "expected an identifier"),
        ("metrics.acc > 1 AND AND status = 'x'", 20, "unknown attribute 'AND'"),
        ("AND metrics.acc > 1", 0, "unknown attribute 'AND'"),
        ("metrics.acc > 1 ; DROP TABLE runs", 16, "unexpected character ';'"),
        ("metrics.acc > 1 # comment", 16, "unexpected character '#'"),
        ("metrics.acc > 1 AND 'x' = 'y'", 20, "expected an identifier, found 'x'"),
        ("= 1", 0, "expected an identifier"),
        ("metrics.acc > 1,", 15, "expected AND or end of filter"),
        ("metrics.acc ≥ 1", 12, "unexpected character '≥'"),
    ],
)
def test_error_positions(text: str, position: int, fragment: str) -> None:
    message = _run_error(text)
    assert message.startswith(f'Invalid filter "{text}": ')
    assert fragment in message
    assert _position(message) == position


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("metrics.a > 1 OR metrics.b > 2", 14),
        ("metrics.a > 1 or metrics.b > 2", 14),
        ("metrics.a > 1 Or metrics.b > 2", 14),
    ],
)
def test_or_is_rejected(text: str, position: int) -> None:
    message = _run_error(text)
    assert "OR is not supported" in message
    assert _position(message) == position


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("(metrics.a > 1)", 0),
        ("metrics.a > 1 AND (params.p = 'x')", 18),
        ("metrics.a > 1 AND (params.p = 'x' OR params.p = 'y')", 18),
        ("metrics.a > 1)", 13),
        ("metrics.a > (1)", 12),
    ],
)
def test_parentheses_are_rejected(text: str, position: int) -> None:
    assert _position(_run_error(text)) == position


# -- order_by ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clause", "expected"),
    [
        ("metrics.acc", OrderBy("metric", "acc", True)),
        ("metrics.acc ASC", OrderBy("metric", "acc", True)),
        ("metrics.acc DESC", OrderBy("metric", "acc", False)),
        ("metrics.acc desc", OrderBy("metric", "acc", False)),
        ("metrics.acc Asc", OrderBy("metric", "acc", True)),
        ("  metrics.acc   DESC  ", OrderBy("metric", "acc", False)),
        ("metric.train.loss desc", OrderBy("metric", "train.loss", False)),
        ("metrics.`my metric` DESC", OrderBy("metric", "my metric", False)),
        ('metrics."my metric" DESC', OrderBy("metric", "my metric", False)),
        ("params.lr", OrderBy("param", "lr", True)),
        ("parameters.lr DESC", OrderBy("param", "lr", False)),
        ("tags.`mlflow.runName`", OrderBy("tag", "mlflow.runName", True)),
        ("tag.t desc", OrderBy("tag", "t", False)),
        ("start_time DESC", OrderBy("attribute", "start_time", False)),
        ("attributes.start_time", OrderBy("attribute", "start_time", True)),
        ("created", OrderBy("attribute", "start_time", True)),
        ("attr.created DESC", OrderBy("attribute", "start_time", False)),
        ("run.end_time", OrderBy("attribute", "end_time", True)),
        ("run_id", OrderBy("attribute", "run_id", True)),
        ("run_name", OrderBy("attribute", "run_name", True)),
        ("attribute.`run_name`", OrderBy("attribute", "run_name", True)),
        ("status", OrderBy("attribute", "status", True)),
        ("user_id", OrderBy("attribute", "user_id", True)),
        ("artifact_uri", OrderBy("attribute", "artifact_uri", True)),
        ("lifecycle_stage", OrderBy("attribute", "lifecycle_stage", True)),
    ],
)
def test_run_order_by(clause: str, expected: OrderBy) -> None:
    assert parse_run_order_by([clause]) == [expected]


def test_run_order_by_several_clauses_keep_their_order() -> None:
    assert parse_run_order_by(["metrics.acc DESC", "params.lr", "start_time desc"]) == [
        OrderBy("metric", "acc", False),
        OrderBy("param", "lr", True),
        OrderBy("attribute", "start_time", False),
    ]


def test_same_key_under_different_kinds_is_not_a_duplicate() -> None:
    assert len(parse_run_order_by(["metrics.x", "params.x", "tags.x"])) == 3


@pytest.mark.parametrize(
    "clauses",
    [
        ["metrics.acc", "metrics.acc DESC"],
        ["metrics.acc", "metric.acc"],
        ["start_time", "created"],
        ["attributes.run_id", "run_uuid"],
        ["params.`a b`", 'param."a b" DESC'],
    ],
)
def test_order_by_duplicates_are_rejected(clauses: list[str]) -> None:
    message = _run_order_error(clauses)
    assert "duplicate order_by key" in message
    assert message.startswith(f'Invalid order_by clause "{clauses[1]}"')
    assert _position(message) == 0


@pytest.mark.parametrize(
    ("clause", "position"),
    [
        ("", 0),
        ("   ", 3),
        ("metrics.acc UP", 12),
        ("metrics.acc ASC DESC", 16),
        ("metrics.acc DESC extra", 17),
        ("metrics.acc, params.p", 11),
        ("metrics.acc > 1", 12),
        ("metrics.my metric", 11),
        ("dataset.name", 0),
        ("datasets.digest DESC", 0),
        ("foo.bar", 0),
        ("nonsense", 0),
        ("attributes.`run name`", 0),
        ("metrics.", 8),
        ("'metrics.acc'", 0),
        ("metrics.`acc", 8),
        ("DESC", 0),
        ("(metrics.acc)", 0),
    ],
)
def test_run_order_by_errors(clause: str, position: int) -> None:
    message = _run_order_error([clause])
    assert message.startswith(f'Invalid order_by clause "{clause}": ')
    assert _position(message) == position


def test_order_by_by_dataset_says_why() -> None:
    assert "runs cannot be ordered by dataset 'name'" in _run_order_error(["dataset.name"])


def test_bad_order_by_clause_after_good_ones_is_reported() -> None:
    message = _run_order_error(["metrics.acc", "params.p", "metrics.b sideways"])
    assert message.startswith('Invalid order_by clause "metrics.b sideways"')


# -- experiments -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name = 'exp'", Comparison("attribute", "name", "=", "exp")),
        ("attribute.name LIKE 'e%'", Comparison("attribute", "name", "LIKE", "e%")),
        ("attributes.name ILIKE 'E%'", Comparison("attribute", "name", "ILIKE", "E%")),
        ("attr.name != 'x'", Comparison("attribute", "name", "!=", "x")),
        ("name IN ('a', 'b')", Comparison("attribute", "name", "IN", ("a", "b"))),
        ("name NOT IN ('a')", Comparison("attribute", "name", "NOT IN", ("a",))),
        ("experiment_id = '1'", Comparison("attribute", "experiment_id", "=", "1")),
        ("experiment_id IN ('1', '2')", Comparison("attribute", "experiment_id", "IN", ("1", "2"))),
        ("experiment_id not in ('1')", Comparison("attribute", "experiment_id", "NOT IN", ("1",))),
        ("creation_time > 100", Comparison("attribute", "creation_time", ">", 100.0)),
        ("creation_time <= 1e3", Comparison("attribute", "creation_time", "<=", 1000.0)),
        ("last_update_time != -1", Comparison("attribute", "last_update_time", "!=", -1.0)),
        ("tags.team = 'ml'", Comparison("tag", "team", "=", "ml")),
        ("tag.`a b` LIKE '%'", Comparison("tag", "a b", "LIKE", "%")),
        ("TAGS.k IS NULL", Comparison("tag", "k", "IS NULL", None)),
        ("tags.k is not null", Comparison("tag", "k", "IS NOT NULL", None)),
    ],
)
def test_experiment_filters(text: str, expected: Comparison) -> None:
    assert parse_experiment_filter(text) == [expected]


def test_experiment_filter_with_several_clauses() -> None:
    assert parse_experiment_filter("name LIKE 'a%' and tags.k = 'v' AND creation_time > 5") == [
        Comparison("attribute", "name", "LIKE", "a%"),
        Comparison("tag", "k", "=", "v"),
        Comparison("attribute", "creation_time", ">", 5.0),
    ]


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("metrics.acc > 1", 0, "unknown prefix 'metrics'"),
        ("params.p = 'x'", 0, "unknown prefix 'params'"),
        ("dataset.name = 'x'", 0, "unknown prefix 'dataset'"),
        ("run.name = 'x'", 0, "unknown prefix 'run'"),
        ("status = 'x'", 0, "unknown attribute 'status'"),
        ("attributes.run_id = 'x'", 11, "unknown attribute 'run_id'"),
        ("name > 'x'", 5, "is not supported"),
        ("name = 1", 7, "expected a quoted string"),
        ("creation_time = '1'", 16, "expected a number"),
        ("creation_time IN ('1')", 14, "is not supported"),
        ("last_update_time LIKE '1'", 17, "is not supported"),
        ("tags.k > 'x'", 7, "is not supported"),
        ("tags.k IN ('x')", 7, "is not supported"),
        ("name = 'a' OR name = 'b'", 11, "OR is not supported"),
        ("experiment_id IN ()", 18, "expected a quoted string"),
    ],
)
def test_experiment_filter_errors(text: str, position: int, fragment: str) -> None:
    message = _exp_error(text)
    assert fragment in message
    assert _position(message) == position


@pytest.mark.parametrize(
    ("clause", "expected"),
    [
        ("name", OrderBy("attribute", "name", True)),
        ("name DESC", OrderBy("attribute", "name", False)),
        ("attribute.name asc", OrderBy("attribute", "name", True)),
        ("attr.experiment_id DESC", OrderBy("attribute", "experiment_id", False)),
        ("creation_time", OrderBy("attribute", "creation_time", True)),
        ("attributes.last_update_time desc", OrderBy("attribute", "last_update_time", False)),
        ("`last_update_time` desc", OrderBy("attribute", "last_update_time", False)),
    ],
)
def test_experiment_order_by(clause: str, expected: OrderBy) -> None:
    assert parse_experiment_order_by([clause]) == [expected]


@pytest.mark.parametrize(
    ("clauses", "fragment"),
    [
        (["tags.team"], "experiments cannot be ordered by tag 'team'"),
        (["metrics.acc"], "unknown prefix 'metrics'"),
        (["params.p"], "unknown prefix 'params'"),
        (["start_time"], "unknown attribute 'start_time'"),
        (["name", "attribute.name DESC"], "duplicate order_by key attribute 'name'"),
        (["name sideways"], "expected ASC, DESC or end of clause"),
    ],
)
def test_experiment_order_by_errors(clauses: list[str], fragment: str) -> None:
    message = _exp_order_error(clauses)
    assert fragment in message
    assert "at position" in message


# -- the tables drive the grammar --------------------------------------------------------


def test_a_new_entity_is_just_a_table() -> None:
    grammar = Grammar(
        entity="widgets",
        kinds={
            "attribute": KindSpec(
                ("attribute",),
                keys={
                    "name": KeySpec("name", STRING),
                    "size": KeySpec("size", NUMBER),
                    "colour": KeySpec("color", STRING, orderable=False),
                },
            ),
            "tag": KindSpec(("label", "labels"), open_keys=NULLABLE_STRING, orderable=False),
        },
    )
    assert parse_filter(grammar, "name = 'w' AND size > 2 AND labels.x IS NULL") == [
        Comparison("attribute", "name", "=", "w"),
        Comparison("attribute", "size", ">", 2.0),
        Comparison("tag", "x", "IS NULL", None),
    ]
    assert parse_filter(grammar, "attribute.colour = 'red'") == [
        Comparison("attribute", "color", "=", "red")
    ]
    assert parse_order_by(grammar, ["size DESC"]) == [OrderBy("attribute", "size", False)]
    with pytest.raises(InvalidParameterValueError, match="widgets cannot be ordered"):
        parse_order_by(grammar, ["colour"])
    with pytest.raises(InvalidParameterValueError, match="unknown prefix 'tags'"):
        parse_filter(grammar, "tags.x = 'y'")


def test_experiment_grammar_has_no_run_kinds() -> None:
    assert set(EXPERIMENT_GRAMMAR.kinds) == {"attribute", "tag"}


# -- fuzz: nothing but InvalidParameterValueError escapes --------------------------------

_FRAGMENTS = [
    "metrics.",
    "params.",
    "tags.",
    "attributes.",
    "dataset.",
    "run.",
    "acc",
    "name",
    "run_id",
    "status",
    "start_time",
    "created",
    "`",
    '"',
    "'",
    "(",
    ")",
    ",",
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "!",
    "==",
    " ",
    "  ",
    "\t",
    "\n",
    "AND",
    "and",
    "OR",
    "NOT",
    "IN",
    "IS",
    "NULL",
    "LIKE",
    "ILIKE",
    "ASC",
    "DESC",
    "1",
    "-",
    "+",
    ".",
    "e",
    "1e-3",
    "-2.5",
    "'x'",
    '"y"',
    "`z z`",
    "%",
    "_",
    "\\",
    ";",
    "\x00",
    "é",
    "🙂",
    "\u2028",
]

_SEEDS = [
    "metrics.acc > 0.5 AND params.lr = '0.1'",
    "tags.`a b` LIKE 'x%' and run_id IN ('a', \"b\")",
    "attributes.\"run name\" != 'x' AND start_time >= -1e3",
    "dataset.name NOT IN ('d') AND tags.t IS NOT NULL",
    "name ILIKE '%e%' AND experiment_id IN ('1','2') AND creation_time < 5",
]


def _random_text(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return "".join(rng.choice(_FRAGMENTS) for _ in range(rng.randint(0, 12)))
    text = list(rng.choice(_SEEDS))
    for _ in range(rng.randint(1, 4)):
        where = rng.randrange(len(text) + 1)
        action = rng.random()
        if action < 0.4 and where < len(text):
            del text[where]
        elif action < 0.8:
            text.insert(where, rng.choice(_FRAGMENTS))
        else:
            text.insert(where, chr(rng.randrange(1, 0x3000)))
    return "".join(text)


def _only_invalid_parameter(parse: Callable[[_T], Sequence[object]], arg: _T) -> bool:
    """True if parsing succeeded, False if it raised InvalidParameterValueError; any other
    exception propagates and fails the test."""
    try:
        result = parse(arg)
    except InvalidParameterValueError as error:
        assert "at position" in error.message, error.message
        return False
    assert all(isinstance(item, (Comparison, OrderBy)) for item in result)
    return True


def test_fuzz_filters_raise_only_invalid_parameter_value() -> None:
    rng = random.Random(20240611)
    outcomes = set()
    for _ in range(4000):
        text = _random_text(rng)
        outcomes.add(_only_invalid_parameter(parse_run_filter, text))
        outcomes.add(_only_invalid_parameter(parse_experiment_filter, text))
    assert outcomes == {True, False}  # the generator hits both sides


def test_fuzz_order_by_raises_only_invalid_parameter_value() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        clauses = [_random_text(rng)[: rng.randint(0, 30)] for _ in range(rng.randint(1, 3))]
        _only_invalid_parameter(parse_run_order_by, clauses)
        _only_invalid_parameter(parse_experiment_order_by, clauses)


def test_fuzz_printable_noise() -> None:
    rng = random.Random(99)
    alphabet = "".join(chr(c) for c in range(32, 127)) + "\t\n"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
        _only_invalid_parameter(parse_run_filter, text)
        _only_invalid_parameter(parse_run_order_by, [text])

"""Parser for MLflow's search filter and order_by grammars.

MLflow parses these with sqlparse plus special cases; a hand-written tokenizer and
recursive-descent parser give every malformed input the same error type with an exact
position. What each entity accepts lives in a declarative `Grammar` table, so registered
models and model versions can be added as data rather than as new code paths.

The language::

    filter     := clause (AND clause)*
    clause     := identifier operator [value]
    identifier := [prefix "."] key     key: bare, `backticked` or "double-quoted"
    value      := number | 'string' | "string" | "(" string ("," string)* ")"
    order_by   := identifier [ASC | DESC]

Error messages quote the input and give a 0-based character offset ("at position N").

Sizes are capped before any work that grows with them: a filter longer than
MAX_FILTER_LENGTH is refused before it is read, and parsing stops at the clause past
MAX_FILTER_CLAUSES. The parser loops over clauses, so no input nests Python calls.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cairn.exceptions import InvalidParameterValueError

#: The longest filter (and order_by clause) accepted, in characters. Every value a filter
#: binds takes at least three of them (`'',`), so it binds at most ~21,800: under SQLite's
#: 32,766 parameters per statement and PostgreSQL's and MySQL's 65,535. It still holds an
#: IN list of 1,800 run ids.
MAX_FILTER_LENGTH = 65_536
#: The most clauses in one filter. Each key-value clause is one subquery: 200 stay far
#: below SQLite's expression depth (1,000), and each database answers them in well under a
#: second at 10,000 runs. A filter of more AND-ed clauses is a bug or an attack.
MAX_FILTER_CLAUSES = 200
#: The most order_by clauses: each key may be one more table in the join (SQLite allows 64,
#: MySQL 61), and no ordering needs more than a few keys to break its ties.
MAX_ORDER_BY_CLAUSES = 10

# -- the AST -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Comparison:
    """One `identifier operator value` clause; a filter is the AND of a list of these."""

    kind: str
    key: str
    op: str
    value: float | str | tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class OrderBy:
    """One order_by term."""

    kind: str
    key: str
    ascending: bool


# -- grammar tables ----------------------------------------------------------------------

NUMERIC_OPS = ("=", "!=", "<", "<=", ">", ">=")
STRING_OPS = ("=", "!=", "LIKE", "ILIKE")
LIST_OPS = ("IN", "NOT IN")
NULL_OPS = ("IS NULL", "IS NOT NULL")
#: Canonical operator order, so error hints read the same every time.
_OP_ORDER = NUMERIC_OPS + STRING_OPS[2:] + LIST_OPS + NULL_OPS


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """What a field is compared with (a number or a quoted string) and by which operators."""

    numeric: bool
    ops: frozenset[str]


NUMBER = FieldSpec(numeric=True, ops=frozenset(NUMERIC_OPS))
STRING = FieldSpec(numeric=False, ops=frozenset(STRING_OPS))
STRING_OR_LIST = FieldSpec(numeric=False, ops=frozenset(STRING_OPS + LIST_OPS))
NULLABLE_STRING = FieldSpec(numeric=False, ops=frozenset(STRING_OPS + NULL_OPS))


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One accepted spelling of a key from a closed set (an attribute, a dataset field)."""

    canonical: str
    spec: FieldSpec
    orderable: bool = True
    filterable: bool = True


@dataclass(frozen=True, slots=True)
class KindSpec:
    """One kind of identifier: its prefixes, and either any key (`open_keys`) or `keys`."""

    prefixes: tuple[str, ...]
    open_keys: FieldSpec | None = None
    keys: Mapping[str, KeySpec] = field(default_factory=dict)
    orderable: bool = True


@dataclass(frozen=True, slots=True)
class Grammar:
    """Everything that differs between searchable entities; `bare_kind` has no prefix."""

    entity: str
    kinds: Mapping[str, KindSpec]
    bare_kind: str = "attribute"

    def kind_for_prefix(self, prefix: str) -> str | None:
        """Prefixes are case-insensitive, as in MLflow's clients."""
        lowered = prefix.lower()
        for kind, spec in self.kinds.items():
            if lowered in spec.prefixes:
                return kind
        return None

    def prefixes(self) -> list[str]:
        """Every accepted prefix, for error hints."""
        return sorted(p for spec in self.kinds.values() for p in spec.prefixes)


_RUN_STRINGS = ("run_name", "status", "user_id", "artifact_uri", "lifecycle_stage")
_RUN_ATTRIBUTES: dict[str, KeySpec] = {
    **{name: KeySpec(name, STRING) for name in _RUN_STRINGS},
    **{name: KeySpec("run_id", STRING_OR_LIST) for name in ("run_id", "run_uuid")},
    **{name: KeySpec("start_time", NUMBER) for name in ("start_time", "created", "Created")},
    "end_time": KeySpec("end_time", NUMBER),
    # MLflow accepts these spellings in filters only, not in order_by.
    **{name: KeySpec("run_name", STRING, False) for name in ("run name", "Run name", "Run Name")},
}

RUN_GRAMMAR = Grammar(
    entity="runs",
    kinds={
        "metric": KindSpec(("metric", "metrics"), open_keys=NUMBER),
        "param": KindSpec(("param", "params", "parameter", "parameters"), NULLABLE_STRING),
        "tag": KindSpec(("tag", "tags"), open_keys=NULLABLE_STRING),
        "attribute": KindSpec(("attribute", "attributes", "attr", "run"), keys=_RUN_ATTRIBUTES),
        "dataset": KindSpec(
            ("dataset", "datasets"),
            keys={name: KeySpec(name, STRING_OR_LIST) for name in ("name", "digest", "context")},
            orderable=False,
        ),
    },
)

_EXPERIMENT_ATTRIBUTES: dict[str, KeySpec] = {
    **{name: KeySpec(name, STRING_OR_LIST) for name in ("name", "experiment_id")},
    **{name: KeySpec(name, NUMBER) for name in ("creation_time", "last_update_time")},
}

EXPERIMENT_GRAMMAR = Grammar(
    entity="experiments",
    kinds={
        "attribute": KindSpec(("attribute", "attributes", "attr"), keys=_EXPERIMENT_ATTRIBUTES),
        "tag": KindSpec(("tag", "tags"), open_keys=NULLABLE_STRING, orderable=False),
    },
)

_MODEL_STRINGS = ("name", "model_id", "model_type", "status", "source_run_id")
_LOGGED_MODEL_ATTRIBUTES: dict[str, KeySpec] = {
    **{name: KeySpec(name, STRING_OR_LIST) for name in _MODEL_STRINGS},
    **{
        name: KeySpec("creation_timestamp", NUMBER)
        for name in ("creation_timestamp", "creation_time")
    },
    **{
        name: KeySpec("last_updated_timestamp", NUMBER)
        for name in ("last_updated_timestamp", "last_updated_time")
    },
}

LOGGED_MODEL_GRAMMAR = Grammar(
    entity="logged models",
    kinds={
        "metric": KindSpec(("metric", "metrics"), open_keys=NUMBER),
        "param": KindSpec(("param", "params"), open_keys=STRING),
        "tag": KindSpec(("tag", "tags"), open_keys=STRING),
        "attribute": KindSpec(("attribute", "attributes", "attr"), keys=_LOGGED_MODEL_ATTRIBUTES),
    },
)

# Registered models: MLflow's SQL store filters on `name` and tags only, and orders by `name`
# or the last update, spelled `timestamp` or `last_updated_timestamp` (one key, so naming
# both is a duplicate). It refuses `creation_timestamp` in order_by.
_LAST_UPDATE = KeySpec("last_updated_timestamp", NUMBER, filterable=False)
REGISTERED_MODEL_GRAMMAR = Grammar(
    entity="registered models",
    kinds={
        "attribute": KindSpec(
            (),
            keys={
                "name": KeySpec("name", STRING_OR_LIST),
                "timestamp": _LAST_UPDATE,
                "last_updated_timestamp": _LAST_UPDATE,
            },
        ),
        "tag": KindSpec(("tag", "tags"), open_keys=STRING, orderable=False),
    },
)

# Model versions: `current_stage` is Cairn's addition (stages are deprecated in MLflow, but
# "which versions are in Production" is the question stages answer).
MODEL_VERSION_GRAMMAR = Grammar(
    entity="model versions",
    kinds={
        "attribute": KindSpec(
            (),
            keys={
                "name": KeySpec("name", STRING_OR_LIST),
                "version_number": KeySpec("version_number", NUMBER),
                "run_id": KeySpec("run_id", STRING_OR_LIST, orderable=False),
                "source_path": KeySpec("source_path", STRING, orderable=False),
                "current_stage": KeySpec("current_stage", STRING_OR_LIST, orderable=False),
                "creation_timestamp": KeySpec("creation_timestamp", NUMBER, filterable=False),
                "last_updated_timestamp": KeySpec(
                    "last_updated_timestamp", NUMBER, filterable=False
                ),
            },
        ),
        "tag": KindSpec(("tag", "tags"), open_keys=STRING, orderable=False),
    },
)


# -- tokenizer ---------------------------------------------------------------------------

# Numbers must not run into identifier characters, so `1e` or `1.2.3` stay words.
_TOKEN_RE = re.compile(
    r"(?P<space>\s+)"
    r"|(?P<number>[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?(?![\w\-./:]))"
    r"|(?P<word>[\w\-./:]+)"
    r"|(?P<op>!=|<=|>=|<|>|=)"
    r"|(?P<punct>[(),])"
)
_QUOTE_NAMES = {"'": "single-quoted string", '"': "double-quoted string", "`": "backtick quote"}


@dataclass(frozen=True, slots=True)
class _Token:
    """A lexeme; `type` is word, number, string, op, "(", ")", "," or end (no whitespace)."""

    type: str
    text: str  # for strings: the content without its quotes
    pos: int
    end: int
    quote: str = ""


@dataclass(frozen=True, slots=True)
class _Ident:
    """A resolved identifier: where it was, how it was spelled, and what it accepts."""

    kind: str
    key: str
    spelled: str
    spec: FieldSpec
    orderable: bool
    pos: int
    filterable: bool = True


def _error(
    label: str, text: str, what: str, pos: int, hint: str = ""
) -> InvalidParameterValueError:
    """The one error shape: quoted input, what was wrong, 0-based offset, optional hint."""
    return InvalidParameterValueError(f'Invalid {label} "{text}": {what} at position {pos}{hint}')


# -- parser ------------------------------------------------------------------------------


class _Parser:
    """Recursive descent over one filter string or one order_by clause."""

    def __init__(self, grammar: Grammar, text: str, label: str) -> None:
        self.grammar = grammar
        self.text = text
        self.label = label
        self.tokens = self._tokenize()
        self.index = 0

    def _error(self, what: str, pos: int, hint: str = "") -> InvalidParameterValueError:
        return _error(self.label, self.text, what, pos, hint)

    def _expected(self, what: str, tok: _Token) -> InvalidParameterValueError:
        if tok.type == "end":
            return self._error(f"expected {what}", tok.pos)
        found = f"{tok.quote}{tok.text}{tok.quote}" if tok.quote else repr(tok.text)
        return self._error(f"expected {what}, found {found}", tok.pos)

    def _tokenize(self) -> list[_Token]:
        tokens: list[_Token] = []
        text, pos = self.text, 0
        while pos < len(text):
            if text[pos] in _QUOTE_NAMES:
                tokens.append(self._quoted(pos))
                pos = tokens[-1].end
                continue
            match = _TOKEN_RE.match(text, pos)
            if match is None:
                raise self._error(f"unexpected character {text[pos]!r}", pos)
            kind = str(match.lastgroup)
            if kind != "space":
                type_ = match.group() if kind == "punct" else kind
                tokens.append(_Token(type_, match.group(), pos, match.end()))
            pos = match.end()
        tokens.append(_Token("end", "", len(text), len(text)))
        return tokens

    def _quoted(self, pos: int) -> _Token:
        quote = self.text[pos]
        close = self.text.find(quote, pos + 1)
        if close < 0:
            raise self._error(f"unterminated {_QUOTE_NAMES[quote]} starting", pos)
        return _Token("string", self.text[pos + 1 : close], pos, close + 1, quote)

    def _peek(self) -> _Token:
        return self.tokens[self.index]

    def _advance(self) -> _Token:
        tok = self.tokens[self.index]
        if tok.type != "end":
            self.index += 1
        return tok

    @staticmethod
    def _keyword(tok: _Token) -> str:
        return tok.text.upper() if tok.type == "word" else ""

    def _expect_keyword(self, word: str) -> None:
        tok = self._advance()
        if self._keyword(tok) != word:
            raise self._expected(word, tok)

    def identifier(self) -> _Ident:
        """`prefix.key`, a bare attribute name, or a quoted bare attribute name."""
        tok = self._advance()
        if tok.type == "string" and tok.quote != "'":
            return self._resolve(self.grammar.bare_kind, tok.text, tok.pos, tok.pos)
        if tok.type != "word":
            raise self._expected("an identifier", tok)
        prefix, dot, key = tok.text.partition(".")
        if not dot:
            return self._resolve(self.grammar.bare_kind, tok.text, tok.pos, tok.pos)
        kind = self.grammar.kind_for_prefix(prefix)
        if kind is None:
            hint = f" (valid prefixes: {', '.join(self.grammar.prefixes())})"
            raise self._error(f"unknown prefix {prefix!r}", tok.pos, hint)
        if key:
            return self._resolve(kind, key, tok.pos, tok.pos + len(prefix) + 1)
        key, key_pos = self._quoted_key(tok)
        return self._resolve(kind, key, tok.pos, key_pos)

    def _quoted_key(self, prefix_tok: _Token) -> tuple[str, int]:
        """The key after `prefix.` when it is `backticked` or "double-quoted"."""
        tok = self._peek()
        if tok.type == "string" and tok.quote != "'" and tok.pos == prefix_tok.end:
            self._advance()
            return tok.text, tok.pos
        raise self._error(f"expected a key after {prefix_tok.text!r}", prefix_tok.end)

    def _resolve(self, kind: str, key: str, pos: int, key_pos: int) -> _Ident:
        spec = self.grammar.kinds[kind]
        if not key:
            raise self._error(f"expected a non-empty {kind} key", key_pos)
        if spec.open_keys is not None:
            return _Ident(kind, key, key, spec.open_keys, spec.orderable, pos)
        entry = spec.keys.get(key)
        if entry is None:
            hint = f" (valid {kind} keys for {self.grammar.entity}: {', '.join(sorted(spec.keys))})"
            raise self._error(f"unknown {kind} {key!r}", key_pos, hint)
        orderable = spec.orderable and entry.orderable
        return _Ident(kind, entry.canonical, key, entry.spec, orderable, pos, entry.filterable)

    def filter(self) -> list[Comparison]:
        """clause (AND clause)* up to the end of the string."""
        clauses = [self._clause()]
        while (tok := self._advance()).type != "end":
            if len(clauses) == MAX_FILTER_CLAUSES:
                raise InvalidParameterValueError(
                    f"Invalid filter: more than {MAX_FILTER_CLAUSES} clauses, at position"
                    f" {tok.pos}; a filter may have at most {MAX_FILTER_CLAUSES}."
                )
            word = self._keyword(tok)
            if word == "OR":
                raise self._error("OR is not supported, join clauses with AND", tok.pos)
            if tok.type in ("(", ")"):
                raise self._error("parentheses are not supported", tok.pos)
            if word != "AND":
                raise self._expected("AND or end of filter", tok)
            clauses.append(self._clause())
        return clauses

    def _clause(self) -> Comparison:
        tok = self._peek()
        if tok.type in ("(", ")"):
            raise self._error("parentheses are not supported", tok.pos)
        ident = self.identifier()
        if not ident.filterable:
            what = f"{self.grammar.entity} cannot be filtered by {ident.kind} {ident.spelled!r}"
            raise self._error(what, ident.pos)
        op, op_pos = self._operator()
        if op not in ident.spec.ops:
            allowed = ", ".join(o for o in _OP_ORDER if o in ident.spec.ops)
            what = f"operator {op!r} is not supported for {ident.kind} {ident.spelled!r}"
            raise self._error(what, op_pos, f" (expected one of: {allowed})")
        return Comparison(ident.kind, ident.key, op, self._value(op, ident.spec))

    def _operator(self) -> tuple[str, int]:
        tok = self._advance()
        word = self._keyword(tok)
        if tok.type == "op":
            return tok.text, tok.pos
        if word in ("LIKE", "ILIKE", "IN"):
            return word, tok.pos
        if word == "NOT":
            self._expect_keyword("IN")
            return "NOT IN", tok.pos
        if word == "IS":
            negated = self._keyword(self._peek()) == "NOT"
            if negated:
                self._advance()
            self._expect_keyword("NULL")
            return ("IS NOT NULL" if negated else "IS NULL"), tok.pos
        raise self._expected("a comparison operator", tok)

    def _value(self, op: str, spec: FieldSpec) -> float | str | tuple[str, ...] | None:
        if op in NULL_OPS:
            return None
        if op in LIST_OPS:
            return self._string_list()
        tok = self._advance()
        if spec.numeric and tok.type == "number":
            return float(tok.text)
        if not spec.numeric and self._is_string(tok):
            return tok.text
        if tok.type == "end":
            raise self._error("expected a value", tok.pos)
        raise self._expected("a number" if spec.numeric else "a quoted string", tok)

    @staticmethod
    def _is_string(tok: _Token) -> bool:
        return tok.type == "string" and tok.quote != "`"

    def _string_list(self) -> tuple[str, ...]:
        """("a", 'b', ...): at least one quoted string."""
        tok = self._advance()
        if tok.type != "(":
            raise self._expected("'(' starting a list of quoted strings", tok)
        items: list[str] = []
        while True:
            tok = self._advance()
            if not self._is_string(tok):
                raise self._expected("a quoted string", tok)
            items.append(tok.text)
            tok = self._advance()
            if tok.type == ")":
                return tuple(items)
            if tok.type != ",":
                raise self._expected("',' or ')'", tok)

    def order_by(self) -> OrderBy:
        """identifier [ASC|DESC] and nothing else."""
        ident = self.identifier()
        if not ident.orderable:
            what = f"{self.grammar.entity} cannot be ordered by {ident.kind} {ident.spelled!r}"
            raise self._error(what, ident.pos)
        tok = self._advance()
        direction = self._keyword(tok)
        if direction in ("ASC", "DESC"):
            tok = self._advance()
        if tok.type != "end":
            raise self._expected("ASC, DESC or end of clause", tok)
        return OrderBy(ident.kind, ident.key, direction != "DESC")


# -- entry points ------------------------------------------------------------------------


def parse_filter(grammar: Grammar, filter_string: str | None) -> list[Comparison]:
    """Parse a filter under `grammar`; empty or blank means no filter."""
    if filter_string is None or not filter_string.strip():
        return []
    refuse_long(filter_string, "filter")
    _refuse_nul(filter_string, "filter")
    return _Parser(grammar, filter_string, "filter").filter()


def refuse_long(text: str, what: str) -> None:
    """Refuse a text over MAX_FILTER_LENGTH by its length alone, before reading it."""
    if isinstance(text, str) and len(text) > MAX_FILTER_LENGTH:
        raise InvalidParameterValueError(
            f"Invalid {what}: {len(text):,} characters, more than the {MAX_FILTER_LENGTH:,}"
            " allowed."
        )


def _refuse_nul(text: str, what: str) -> None:
    """A NUL could never match, and PostgreSQL refuses it in a query outright."""
    if isinstance(text, str) and "\x00" in text:
        raise InvalidParameterValueError(
            f"Invalid {what} {text!r}: NUL character at position {text.index(chr(0))}."
        )


def parse_order_by(grammar: Grammar, order_by: Sequence[str] | None) -> list[OrderBy]:
    """Parse order_by clauses under `grammar`; ordering twice by one key is an error."""
    result: list[OrderBy] = []
    seen: set[tuple[str, str]] = set()
    if order_by is not None and len(order_by) > MAX_ORDER_BY_CLAUSES:
        raise InvalidParameterValueError(
            f"Invalid order_by: {len(order_by)} clauses, more than the"
            f" {MAX_ORDER_BY_CLAUSES} allowed."
        )
    for clause in order_by or ():
        refuse_long(clause, "order_by clause")
        _refuse_nul(clause, "order_by clause")
        item = _Parser(grammar, clause, "order_by clause").order_by()
        if (item.kind, item.key) in seen:
            what = f"duplicate order_by key {item.kind} {item.key!r}"
            raise _error("order_by clause", clause, what, 0)
        seen.add((item.kind, item.key))
        result.append(item)
    return result


def parse_run_filter(filter_string: str | None) -> list[Comparison]:
    """Parse a search_runs filter."""
    return parse_filter(RUN_GRAMMAR, filter_string)


def parse_run_order_by(order_by: Sequence[str] | None) -> list[OrderBy]:
    """Parse search_runs order_by clauses."""
    return parse_order_by(RUN_GRAMMAR, order_by)


def parse_experiment_filter(filter_string: str | None) -> list[Comparison]:
    """Parse a search_experiments filter."""
    return parse_filter(EXPERIMENT_GRAMMAR, filter_string)


def parse_experiment_order_by(order_by: Sequence[str] | None) -> list[OrderBy]:
    """Parse search_experiments order_by clauses."""
    return parse_order_by(EXPERIMENT_GRAMMAR, order_by)

"""Rows of trace tables by trace id, read the cheap way for the count at hand.

The tracer's calls name one trace or a few: for those, one statement compiled once per
dialect and run per id on the driver's cursor (cairn.store.sql.prepared) costs a tenth of
building an IN query with SQLAlchemy. Searches name up to 500: those go as IN lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, bindparam
from sqlalchemy.engine import Connection

from cairn.store.sql.prepared import Prepared

_FEW = 8
# Ids per IN (...) list: well under every database's limit on bound parameters.
CHUNK = 500


class RowsById:
    """`SELECT <columns> … WHERE <id column> = id`, for any number of ids."""

    __slots__ = ("_query", "_column", "_one")

    def __init__(self, query: Select[Any], column: Any, *order: Any) -> None:
        self._query = query.order_by(*order) if order else query
        self._column = column
        self._one = Prepared(self._query.where(column == bindparam("id")))

    def rows(self, conn: Connection, ids: Sequence[str]) -> list[tuple[Any, ...]]:
        """Every matching row as a plain tuple; one id's rows in the query's order."""
        if len(ids) <= _FEW:
            found: list[tuple[Any, ...]] = []
            for one in ids:
                found.extend(tuple(row) for row in self._one.all(conn, {"id": one}))
            return found
        found = []
        for i in range(0, len(ids), CHUNK):
            query = self._query.where(self._column.in_(ids[i : i + CHUNK]))
            found.extend(tuple(row) for row in conn.execute(query))
        return found

"""Core statements compiled once per dialect and run straight on the DBAPI cursor.

``Connection.execute`` spends most of its time around the query (execution context, parameter
processing, result metadata): ~20 µs per statement on SQLite against ~4 µs for the driver itself,
and /predict runs six to seven statements. A ``Prepared`` keeps what SQLAlchemy would work out per
call - the SQL text, the parameter order, its literal values and each type's bind and result
processors (so dates, datetimes and JSON are stored exactly as SQLAlchemy stores them) - and runs on
the connection's own DBAPI connection, inside the transaction SQLAlchemy began.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect, Executable
from sqlalchemy.types import TypeEngine

Processor = Callable[[Any], Any] | None


@dataclass
class Prepared:
    sql: str
    names: tuple[str, ...]  # parameters in the order the SQL expects them
    literals: dict[str, Any]  # values fixed in the statement (e.g. tx_count=1 of a new day row)
    bind: tuple[Processor, ...]
    positional: bool
    dialect: Dialect
    column_types: tuple[TypeEngine[Any], ...]
    # Result processors depend on the driver's type codes (cursor.description): set at the first read.
    _result: tuple[Processor, ...] | None = None

    @classmethod
    def compile(cls, statement: Executable, dialect: Dialect, column_keys: Sequence[str] | None = None) -> Prepared:
        compiled = statement.compile(dialect=dialect, column_keys=list(column_keys) if column_keys else None)
        names = tuple(compiled.positiontup) if compiled.positional else tuple(compiled.binds)
        binds = {name: compiled.binds[name] for name in names}
        return cls(
            sql=compiled.string,
            names=names,
            literals={name: bp.value for name, bp in binds.items() if not bp.required and bp.value is not None},
            # Per position, not per name: a positional statement lists a parameter used twice twice.
            bind=tuple(binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names),
            positional=bool(compiled.positional),
            dialect=dialect,
            column_types=tuple(c.type for c in getattr(statement, "selected_columns", ())),
        )

    def _parameters(self, params: dict[str, Any]) -> Sequence[Any] | dict[str, Any]:
        values = [
            params[name] if name in params else self.literals[name] for name in self.names
        ]
        values = [value if proc is None or value is None else proc(value)
                  for value, proc in zip(values, self.bind, strict=True)]
        return values if self.positional else dict(zip(self.names, values, strict=True))

    def execute(self, conn: Connection, params: dict[str, Any]) -> Any:
        """Runs the statement; returns the DBAPI cursor (rowcount, and rows through ``rows``)."""
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(self.sql, self._parameters(params))
        return cursor

    def rows(self, conn: Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        cursor = self.execute(conn, params)
        try:
            fetched = cursor.fetchall()
            if self._result is None:
                self._result = tuple(
                    kind.dialect_impl(self.dialect).result_processor(self.dialect, described[1])
                    for kind, described in zip(self.column_types, cursor.description, strict=True)
                )
        finally:
            cursor.close()
        if not any(self._result):
            return fetched
        return [tuple(v if p is None or v is None else p(v) for v, p in zip(row, self._result, strict=True))
                for row in fetched]

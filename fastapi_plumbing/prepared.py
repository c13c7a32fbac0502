"""Core statements compiled once per dialect and run straight on the DBAPI cursor; on PostgreSQL, prepared
once per database connection on the server.

``Connection.execute`` spends most of its time around the query (execution context, parameter
processing, result metadata): ~20 µs per statement on SQLite against ~4 µs for the driver itself,
and /predict runs six to seven statements. A ``Prepared`` keeps what SQLAlchemy would work out per
call - the SQL text, the parameter order, its literal values and each type's bind and result
processors (so dates, datetimes and JSON are stored exactly as SQLAlchemy stores them) - and runs on
the connection's own DBAPI connection, inside the transaction SQLAlchemy began.

PostgreSQL: psycopg2 sends each statement as text, which the server parses and plans anew every time
(most of the server's CPU per capture). So the first use of a statement on a database connection runs
``PREPARE fp_<hash>(types) AS ...`` ($n parameters, each declared with its SQLAlchemy type: a parameter
in a SELECT list, as in an INSERT ... SELECT, has no type the server could infer), and every use runs
``EXECUTE fp_<hash>(...)``, a few bytes to parse and a cached plan. Which statements a connection holds is
kept in its pool entry's ``info``, which SQLAlchemy empties when it replaces the DBAPI connection
(invalidated, recycled), as the server forgets them with the session. ``PREPARE`` is not transactional:
a rolled-back transaction keeps it. The server re-plans a prepared statement when DDL changes a table it
uses; a change to the type of a column it returns makes it fail instead ("cached plan must not change
result type"), and a statement missing on the server (a pooler's ``DISCARD ALL``) fails too: either error
invalidates the connection, so the next use is on a fresh session.

SQL-level ``PREPARE`` needs a server session per client connection: PgBouncer in transaction pooling mode
breaks it. ``DB_PREPARED_STATEMENTS=off`` (``fastapi_plumbing.pool.PoolSettings``) runs the text
statements instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Connection, Dialect, Executable
from sqlalchemy.types import NullType, TypeDecorator, TypeEngine

Processor = Callable[[Any], Any] | None

# Pool entry info: the names of the statements prepared on its DBAPI connection, or None when
# server-side preparing is off for the engine (fastapi_plumbing.pool.postgres_engine).
PREPARED_NAMES = "fastapi_plumbing.prepared"
# The server's answers that mean its copy of a prepared statement is unusable for this session.
_UNDEFINED_STATEMENT = "26000"
_RESULT_TYPE_CHANGED = "cached plan must not change result type"
# Milliseconds a statement may take, set while work runs on the event loop
# (fastapi_plumbing.loop_reads.on_database_inline_when_idle); None: no bound of ours.
STATEMENT_BOUND: ContextVar[int | None] = ContextVar("statement_bound", default=None)


class EncodedJSON(TypeDecorator[Any]):
    """A JSON column's parameter that is already JSON text (encoded once for the row and an answer alike):
    bound as it is, not through ``json.dumps`` again, and declared ``json`` to a prepared statement as
    the column is (a ``varchar`` parameter does not go into a json column)."""
    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None


@dataclass(frozen=True)
class _Parameters:
    names: tuple[str, ...]  # in the order the SQL expects them
    bind: tuple[Processor, ...]  # per position, not per name: a qmark statement lists a parameter used twice twice
    literals: dict[str, Any]  # values fixed in the statement (e.g. tx_count=1 of a new day row)

    @classmethod
    def of(cls, compiled: Any, dialect: Dialect) -> _Parameters:
        names = tuple(compiled.positiontup) if compiled.positional else tuple(compiled.binds)
        return cls(names,
                   tuple(compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names),
                   {name: bp.value for name, bp in compiled.binds.items() if not bp.required and bp.value is not None})

    def values(self, params: dict[str, Any]) -> list[Any]:
        values = [params[name] if name in params else self.literals[name] for name in self.names]
        return [value if proc is None or value is None else proc(value)
                for value, proc in zip(values, self.bind, strict=True)]


@dataclass(frozen=True)
class _ServerStatement:
    """The statement as PostgreSQL prepares it: ``prepare`` once per session, then ``execute``."""
    name: str
    prepare: str
    execute: str
    parameters: _Parameters

    @classmethod
    def compile(cls, statement: Executable, dialect: Dialect, column_keys: list[str] | None) -> _ServerStatement:
        numbered = type(dialect)(paramstyle="numeric_dollar")
        numbered.server_version_info = dialect.server_version_info
        compiled = statement.compile(dialect=numbered, column_keys=column_keys)
        parameters = _Parameters.of(compiled, dialect)
        types = [compiled.binds[name].type for name in parameters.names]
        declared = ", ".join("unknown" if isinstance(kind, NullType) else numbered.type_compiler_instance.process(kind)
                             for kind in types)
        body = f"({declared}) AS {compiled.string}" if types else f" AS {compiled.string}"
        name = "fp_" + hashlib.sha256(body.encode()).hexdigest()[:24]
        arguments = f"({', '.join(['%s'] * len(types))})" if types else ""
        return cls(name, f"PREPARE {name}{body}", f"EXECUTE {name}{arguments}", parameters)


@dataclass
class Prepared:
    sql: str
    parameters: _Parameters
    positional: bool
    dialect: Dialect
    column_types: tuple[TypeEngine[Any], ...]
    server: _ServerStatement | None  # PostgreSQL
    # Result processors depend on the driver's type codes (cursor.description): set at the first read.
    _result: tuple[Processor, ...] | None = None

    @classmethod
    def compile(cls, statement: Executable, dialect: Dialect, column_keys: Sequence[str] | None = None) -> Prepared:
        keys = list(column_keys) if column_keys else None
        compiled = statement.compile(dialect=dialect, column_keys=keys)
        return cls(
            sql=compiled.string,
            parameters=_Parameters.of(compiled, dialect),
            positional=bool(compiled.positional),
            dialect=dialect,
            column_types=tuple(c.type for c in getattr(statement, "selected_columns", ())),
            server=_ServerStatement.compile(statement, dialect, keys) if dialect.name == "postgresql" else None,
        )

    def execute(self, conn: Connection, params: dict[str, Any], *, commit_waits_for_flush: bool = True) -> Any:
        """Runs the statement; returns the DBAPI cursor (rowcount, and rows through ``rows``).

        ``commit_waits_for_flush=False`` (PostgreSQL, autocommit): the statement's commit returns before its
        WAL reaches the disk (``synchronous_commit = off`` for this statement only).

        Settings for this statement alone (that, and ``STATEMENT_BOUND``) go in the same query string, ahead
        of it: the server runs a multi-statement query as one implicit transaction, so ``SET LOCAL`` applies
        to this statement only, at no extra round trip."""
        pooled = conn.connection
        cursor = pooled.dbapi_connection.cursor()  # type: ignore[union-attr]
        server = self.server
        bounded = before = ""
        if self.dialect.name == "postgresql":
            bound = STATEMENT_BOUND.get()
            bounded = f"SET LOCAL statement_timeout = {bound:d};" if bound else ""
            before = bounded + ("" if commit_waits_for_flush else "SET LOCAL synchronous_commit = off;")
        prepared = None if server is None else pooled.info.setdefault(PREPARED_NAMES, set())
        if prepared is None:
            values = self.parameters.values(params)
            cursor.execute(before + self.sql, values if self.positional else dict(zip(self.parameters.names, values,
                                                                                       strict=True)))
            return cursor
        try:
            if server.name not in prepared:  # parsing it takes the tables' locks: bounded as the statement
                cursor.execute(bounded + server.prepare)
                prepared.add(server.name)
            cursor.execute(before + server.execute, server.parameters.values(params))
        except conn.dialect.loaded_dbapi.Error as exc:
            if getattr(exc, "pgcode", None) == _UNDEFINED_STATEMENT or _RESULT_TYPE_CHANGED in str(exc):
                conn.invalidate()  # the next checkout opens a new session, with nothing prepared
            raise
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

"""PostgreSQL: many rows as ONE statement, one array parameter per column, unnested on the server.

A multi-row ``VALUES`` list is new SQL text for every batch length, so the server parses and plans it each
time, and psycopg2's ``execute_values`` formats every row in Python. With one array per column the text is
the same whatever the batch's length: the statement is prepared once per session
(``fastapi_plumbing.prepared``) and the driver adapts each list in C. Measured on the server's CPU per row,
it beat both one EXECUTE per row and a multi-row ``VALUES`` from 5 rows up (docs/performance.md, "Capture,
round four").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Column, Dialect, Text, TypeDecorator, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import BindParameter


class _JSONText(TypeDecorator[Any]):
    """A JSON value bound as its text (the engine's serializer), so a list of them is a text[]: psycopg2
    sends a list of strings as ARRAY['...'], which PostgreSQL will not take as a json[] parameter."""
    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else (dialect._json_serializer or json.dumps)(value)  # type: ignore[attr-defined]


def arrays(dialect: Dialect, columns: Sequence[Column], prefix: str = "", *,
           json_encoded: bool = False) -> tuple[str, list[BindParameter[Any]]]:
    """The unnest(...) arguments for these columns, each cast to its column's array type (so a list of
    NULLs is typed too), JSON as text[] (values encoded here, or already JSON text with ``json_encoded``);
    and the bound parameters, named ``prefix`` + the column's name."""
    compiler = dialect.type_compiler_instance
    params, arguments = [], []
    for column in columns:
        kind = column.type
        if isinstance(kind, JSON):
            kind = Text() if json_encoded else _JSONText()
        array = ARRAY(kind, dimensions=1)  # a JSON list is one value, not a second dimension
        params.append(bindparam(prefix + column.name, type_=array))
        arguments.append(f"CAST(:{prefix}{column.name} AS {compiler.process(array)})")
    return ", ".join(arguments), params


def value(column: Column, table: str) -> str:
    """The column of an unnested row, JSON text read as JSON."""
    quoted = f'{table}."{column.name}"'
    return f"CAST({quoted} AS JSON)" if isinstance(column.type, JSON) else quoted


def names(columns: Sequence[Column]) -> str:
    return ", ".join(f'"{column.name}"' for column in columns)


def by_column(rows: Sequence[Sequence[Any]], columns: Sequence[str], prefix: str = "") -> dict[str, list[Any]]:
    """Rows of values in ``columns`` order as the statement's parameters: one list per column."""
    return {prefix + name: [row[k] for row in rows] for k, name in enumerate(columns)}

"""Prepared statements: the same rows as SQLAlchemy's own execution, and on PostgreSQL one PREPARE per
connection, then EXECUTE (the server parses and plans a statement once, not per use), surviving a rollback
and DDL, recovering from a statement the server lost, and off with DB_PREPARED_STATEMENTS=off.

PostgreSQL tests run against the server at POSTGRES_URL (tests/test_pool.py's database fixture)."""

from __future__ import annotations

from datetime import date, datetime

import psycopg2
import pytest
from sqlalchemy import (
    JSON,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    func,
    insert,
    literal,
    select,
    update,
)

from fastapi_plumbing.pool import PoolSettings, postgres_engine
from fastapi_plumbing.prepared import EncodedJSON, Prepared
from fastapi_plumbing.tests.test_pool import database_url  # noqa: F401 - the fixture

metadata = MetaData()
payments = Table("payments", metadata, Column("id", String(32), primary_key=True), Column("amount", Float),
                 Column("at", DateTime), Column("details", JSON))
days = Table("days", metadata, Column("day", Date, primary_key=True), Column("count", Integer),
             Column("total", Float))

ROWS = [{"id": f"p{i}", "amount": 10.0 * i, "at": datetime(2026, 1, i, 12), "details": {"n": i}} for i in range(1, 6)]
by_amount = select(payments.c.id, payments.c.at, payments.c.details).where(
    payments.c.amount >= bindparam("least")).order_by(payments.c.id).limit(bindparam("limit", type_=Integer))
# Parameters in a SELECT list: the server cannot infer their types, the PREPARE declares them.
day_from_payments = insert(days).from_select(
    ["day", "count", "total"],
    select(bindparam("day", type_=Date), literal(1, Integer), func.sum(payments.c.amount, type_=Float))
    .where(payments.c.id == bindparam("id")))
days_since = select(days.c.day, days.c.count, days.c.total).where(days.c.day >= bindparam("since"))
rename = update(payments).where(payments.c.id == bindparam("key")).values(details=bindparam("details"))


def _run(engine):
    """What the statements answer, through Prepared and through Connection.execute."""
    answers = []
    for use in ("prepared", "sqlalchemy"):
        with engine.begin() as conn:
            metadata.drop_all(conn)
            metadata.create_all(conn)
            conn.execute(insert(payments), ROWS)
            if use == "prepared":
                compile_ = lambda statement: Prepared.compile(statement, conn.dialect)  # noqa: E731
                first = compile_(by_amount).rows(conn, {"least": 20.0, "limit": 3})
                second = compile_(by_amount).rows(conn, {"least": 40.0, "limit": 3})
                added = compile_(day_from_payments).execute(conn, {"day": date(2026, 1, 2), "id": "p2"}).rowcount
                changed = compile_(rename).execute(conn, {"key": "p3", "details": ["x"]}).rowcount
                after = compile_(days_since).rows(conn, {"since": date(2026, 1, 1)})
            else:
                first = [tuple(r) for r in conn.execute(by_amount, {"least": 20.0, "limit": 3})]
                second = [tuple(r) for r in conn.execute(by_amount, {"least": 40.0, "limit": 3})]
                added = conn.execute(day_from_payments, {"day": date(2026, 1, 2), "id": "p2"}).rowcount
                changed = conn.execute(rename, {"key": "p3", "details": ["x"]}).rowcount
                after = [tuple(r) for r in conn.execute(days_since, {"since": date(2026, 1, 1)})]
            details = conn.execute(select(payments.c.details).where(payments.c.id == "p3")).scalar_one()
            answers.append((first, second, added, changed, after, details))
    return answers


def test_prepared_answers_as_sqlalchemy_does_on_sqlite(tmp_path):
    prepared, direct = _run(create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    assert prepared == direct
    assert prepared[0] == [("p2", datetime(2026, 1, 2, 12), {"n": 2}), ("p3", datetime(2026, 1, 3, 12), {"n": 3}),
                           ("p4", datetime(2026, 1, 4, 12), {"n": 4})]
    assert prepared[4] == [(date(2026, 1, 2), 1, 20.0)]


# JSON text encoded by the caller goes into the json column as it is (not encoded a second time).
store_encoded = update(payments).where(payments.c.id == bindparam("key")).values(
    details=bindparam("details", type_=EncodedJSON()))


def _stored_encoded(engine) -> object:
    with engine.begin() as conn:
        metadata.drop_all(conn)
        metadata.create_all(conn)
        conn.execute(insert(payments), ROWS)
        Prepared.compile(store_encoded, conn.dialect).execute(conn, {"key": "p1", "details": '{"why": ["amount"]}'})
        return conn.execute(select(payments.c.details).where(payments.c.id == "p1")).scalar_one()


def test_json_text_is_stored_as_the_json_it_encodes_on_sqlite(tmp_path):
    assert _stored_encoded(create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")) == {"why": ["amount"]}


@pytest.fixture
def engine(database_url):  # noqa: F811
    engine = postgres_engine(database_url, PoolSettings(size=1, threadpool_size=1))
    yield engine
    engine.dispose()


@pytest.fixture
def by_amount_used(engine):
    """The payments table with its rows, and by_amount prepared on the pool's one connection."""
    with engine.begin() as conn:
        metadata.create_all(conn)
        conn.execute(insert(payments), ROWS)
    statement = Prepared.compile(by_amount, engine.dialect)
    with engine.begin() as conn:
        assert len(statement.rows(conn, {"least": 0.0, "limit": 9})) == 5
    return statement


def _server_statements(conn) -> dict[str, tuple[int, int]]:
    """This session's prepared statements: name -> (generic plans, custom plans) executed (PostgreSQL 14+)."""
    rows = conn.exec_driver_sql("SELECT name, generic_plans, custom_plans FROM pg_prepared_statements")
    return {name: (generic, custom) for name, generic, custom in rows}


def test_prepared_answers_as_sqlalchemy_does_on_postgres(engine):
    prepared, direct = _run(engine)
    assert prepared == direct
    assert prepared[4] == [(date(2026, 1, 2), 1, 20.0)]


def test_json_text_is_stored_as_the_json_it_encodes_on_postgres(engine):
    # Prepared on the server with the parameter declared json: a varchar one would be refused.
    assert _stored_encoded(engine) == {"why": ["amount"]}


def test_each_statement_is_prepared_once_per_connection_then_executed(engine):
    with engine.begin() as conn:
        metadata.create_all(conn)
        conn.execute(insert(payments), ROWS)
    statement = Prepared.compile(by_amount, engine.dialect)
    for round_ in range(8):
        with engine.begin() as conn:  # one pooled connection: the same session every time
            assert [row[0] for row in statement.rows(conn, {"least": 10.0 * round_, "limit": 2})] == \
                [f"p{i}" for i in range(max(round_, 1), 6)][:2]
    with engine.connect() as conn:
        server = _server_statements(conn)
    assert list(server) == [statement.server.name]
    assert sum(server[statement.server.name]) == 8  # eight executions of one parsed statement


def test_a_rolled_back_transaction_keeps_the_statement_prepared(engine):
    with engine.begin() as conn:
        metadata.create_all(conn)
    statement = Prepared.compile(days_since, engine.dialect)
    with engine.connect() as conn:
        assert statement.rows(conn, {"since": date(2026, 1, 1)}) == []
        conn.rollback()
        assert statement.rows(conn, {"since": date(2026, 1, 1)}) == []
        assert statement.server.name in _server_statements(conn)


def test_ddl_on_a_table_is_followed_by_the_prepared_statement(engine, by_amount_used):
    with engine.begin() as conn:  # a migration: a new column, a new index; the server re-plans
        conn.exec_driver_sql("ALTER TABLE payments ADD COLUMN note TEXT")
        conn.exec_driver_sql("CREATE INDEX payments_amount ON payments (amount)")
        conn.exec_driver_sql("DELETE FROM payments WHERE id = 'p5'")
    with engine.begin() as conn:
        assert len(by_amount_used.rows(conn, {"least": 0.0, "limit": 9})) == 4


@pytest.mark.parametrize("lose_it", [
    "DEALLOCATE ALL",  # what a pooler's DISCARD ALL does
    "ALTER TABLE payments ALTER COLUMN at TYPE DATE",  # a returned column's type: "cached plan must not change ..."
])
def test_a_statement_the_server_cannot_run_any_more_costs_one_error_then_a_fresh_session(engine, by_amount_used,
                                                                                         lose_it):
    with engine.begin() as conn:
        conn.exec_driver_sql(lose_it)
    with pytest.raises(psycopg2.Error), engine.begin() as conn:
        by_amount_used.rows(conn, {"least": 0.0, "limit": 9})
    with engine.begin() as conn:
        assert len(by_amount_used.rows(conn, {"least": 0.0, "limit": 9})) == 5


def test_prepared_statements_off_sends_text(database_url):  # noqa: F811
    engine = postgres_engine(database_url, PoolSettings(size=1, threadpool_size=1, prepared_statements=False))
    try:
        with engine.begin() as conn:
            metadata.create_all(conn)
            conn.execute(insert(payments), ROWS)
            rows = Prepared.compile(by_amount, engine.dialect).rows(conn, {"least": 20.0, "limit": 9})
            assert [row[0] for row in rows] == ["p2", "p3", "p4", "p5"]
            assert _server_statements(conn) == {}
    finally:
        engine.dispose()


def test_the_setting_reads_on_and_off():
    assert PoolSettings.from_environment({}).prepared_statements
    assert not PoolSettings.from_environment({"DB_PREPARED_STATEMENTS": "off"}).prepared_statements
    with pytest.raises(ValueError, match="DB_PREPARED_STATEMENTS"):
        PoolSettings.from_environment({"DB_PREPARED_STATEMENTS": "sometimes"})

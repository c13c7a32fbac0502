"""``ml_model.profile_store.ProfileStore`` on this service's database.

Each instance works on one SQLAlchemy connection and leaves transaction boundaries to its caller, so a
transaction row and its day totals are written together or not at all. Inserts use the dialect's
``ON CONFLICT`` so two concurrent requests for the same transaction id cannot both count it.

Statements are built once per dialect with bound parameters: building and cache-keying a fresh
statement per call cost more than running it. The ones /predict runs (three reads, and the writes) are
also compiled once and run on the DBAPI cursor (``fastapi_plumbing.prepared``); the rest (labels, retries) go
through ``Connection.execute``. On PostgreSQL a transaction's row and its customer's and terminal's day
increments are one data-modifying ``WITH`` statement (one round trip instead of three, and atomic on its
own); SQLite has no DML in ``WITH`` and runs the three in-process statements.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from fastapi_plumbing.prepared import EncodedJSON, Prepared
from fastapi_plumbing.unnest import arrays, names
from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Date,
    DateTime,
    Executable,
    Float,
    Integer,
    Row,
    Select,
    Table,
    bindparam,
    cast,
    column,
    func,
    insert,
    literal,
    literal_column,
    null,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from app.db.tables import customer_days, terminal_day_changes, terminal_days, transactions
from ml_model.features import HistoryReads
from ml_model.profile_store import DayTotals, RecentActivity, Transaction

# What /predict stores with a transaction and answers again on a retry.
SCORED_COLUMNS = ("decision", "risk_score", "anomaly_score", "threshold", "reasons", "model_version",
                  "contributions")
# The challenger's answer, stored beside it and never answered (app/services/shadow.py).
SHADOW_COLUMNS = ("challenger_decision", "challenger_risk_score", "challenger_model_version")
# In DayTotals' field order; terminals also read labelled_count (their fraud rate's denominator).
DAY_TOTALS_FIELDS = ("day", "tx_count", "amount_sum", "amount_sq_sum", "fraud_count", "labelled_count")


def _days_query(table: Table, key: str) -> Select:
    return (
        select(*(table.c[name] for name in DAY_TOTALS_FIELDS if name in table.c))
        .where(table.c[key] == bindparam("owner"), table.c.day >= bindparam("first"), table.c.day <= bindparam("last"))
        .order_by(table.c.day)
    )


def terminal_days_query(owners: Any, first: Any = None, last: Any = None) -> Select:
    """A terminal's totals per day: the folded ones plus the changes not folded yet (app/services/terminal_totals.py),
    in one statement, hence one snapshot (a fold committing meanwhile is seen whole or not at all).
    ``owners``: the condition on ``terminal_id`` (one terminal, or a batch's); ``first`` and ``last``: the
    first and last day (default: the bound parameters "first" and "last")."""
    first = bindparam("first") if first is None else first
    last = bindparam("last") if last is None else last
    parts = [select(table.c.terminal_id, *(table.c[name] for name in DAY_TOTALS_FIELDS))
             .where(owners(table.c.terminal_id), table.c.day >= first, table.c.day <= last)
             for table in (terminal_days, terminal_day_changes)]
    both = union_all(*parts).subquery()
    sums = [func.sum(both.c[name], type_=both.c[name].type).label(name) for name in DAY_TOTALS_FIELDS[1:]]
    return (select(both.c.terminal_id, both.c.day, *sums).group_by(both.c.terminal_id, both.c.day)
            .order_by(both.c.terminal_id, both.c.day))


def _constant(value: float, kind: Any, name: str | None) -> Any:
    """``value`` written into the statement, not bound: each bound value is one more parameter the driver
    formats and the server parses and casts on every EXECUTE (docs/performance.md). Named: SQLAlchemy names a
    literal column by its text, and two equal constants in one select would be one column of the union."""
    constant = cast(literal_column(repr(value)), kind)
    return constant if name is None else constant.label(name)


# What ``HistoryReads`` reads: (customer day totals, customer activity, terminal day totals).
History = tuple[list[DayTotals], RecentActivity, list[DayTotals]]

# The parts of ``_history_query``'s answer, in its first column.
_CUSTOMER_DAY, _ACTIVITY, _TERMINAL_DAY, _KNOWN = 0, 1, 2, 3

# ``_history_query``'s inputs: the transaction's id and ``HistoryReads``' fields, with their types.
_HISTORY_INPUTS = {"tx_id": transactions.c.transaction_id.type, "customer_id": transactions.c.customer_id.type,
                   "customer_first": Date(), "day": Date(), "until": DateTime(), "since": DateTime(),
                   "limit": Integer(), "latest_since": DateTime(), "terminal_id": transactions.c.terminal_id.type,
                   "terminal_first": Date(), "terminal_last": Date()}


def _bound(name: str) -> Any:
    return bindparam(name, type_=_HISTORY_INPUTS[name])


def _history_query(given: Callable[[str], Any] = _bound) -> Select:
    """PostgreSQL: ``HistoryReads``' three reads and whether the transaction is already recorded, as one
    statement (one round trip, parse and plan instead of four): rows (part, day, tx_count, amount_sum,
    amount_sq_sum, fraud_count, labelled_count, latest), the customer's days, then the activity's one row
    (count, amount sum, latest), then the terminal's days, then one flag row if the id is recorded.
    ``given(name)``: each input of ``_HISTORY_INPUTS`` (bound parameters, or a batch's unnested columns)."""
    c = customer_days.c
    customer = select(_constant(_CUSTOMER_DAY, Integer, "part"), c.day, c.tx_count, c.amount_sum, c.amount_sq_sum,
                      c.fraud_count, _constant(0, Integer, "labelled_count"), cast(null(), DateTime).label("latest")
                      ).where(c.customer_id == given("customer_id"), c.day >= given("customer_first"),
                              c.day <= given("day"))
    activity = _activity_query(given).subquery()
    count, amount_sum, latest = activity.c
    recent = select(_constant(_ACTIVITY, Integer, "part"), cast(null(), Date), count, amount_sum,
                    _constant(0.0, Float, "amount_sq_sum"), _constant(0, Integer, "fraud_count"),
                    _constant(0, Integer, "labelled_count"), latest)
    totals = terminal_days_query(lambda column: column == given("terminal_id"), given("terminal_first"),
                                 given("terminal_last")).subquery()
    t = totals.c
    terminal = select(_constant(_TERMINAL_DAY, Integer, "part"), t.day, t.tx_count, t.amount_sum, t.amount_sq_sum,
                      t.fraud_count, t.labelled_count, cast(null(), DateTime))
    known = select(_constant(_KNOWN, Integer, "part"), cast(null(), Date), _constant(0, Integer, "tx_count"),
                   _constant(0.0, Float, "amount_sum"), _constant(0.0, Float, "amount_sq_sum"),
                   _constant(0, Integer, "fraud_count"), _constant(0, Integer, "labelled_count"),
                   cast(null(), DateTime)).where(transactions.c.transaction_id == given("tx_id"))
    both = union_all(customer, recent, terminal, known).subquery()
    return select(*both.c).order_by(both.c.part, both.c.day)


def _inputs(transaction_id: str, reads: HistoryReads) -> dict[str, Any]:
    return {"tx_id": transaction_id, **vars(reads)}  # HistoryReads' fields are the other inputs' names


def _histories_query(dialect: Dialect) -> Prepared:
    """PostgreSQL: ``_history_query`` for several transactions in one statement, each answer's rows led by the
    transaction's position (1-based) in the inputs. The inputs go as one array per field
    (``fastapi_plumbing.unnest``), so the statement is prepared once whatever the number of transactions."""
    inputs = [Column(name, kind) for name, kind in _HISTORY_INPUTS.items()]
    arguments, params = arrays(dialect, inputs)
    one = _history_query(lambda name: literal_column(f'k."{name}"'))
    result = [column("position", Integer), *(column(c.name, c.type) for c in one.selected_columns)]
    return Prepared.compile(text(
        f"SELECT k.position, h.* FROM unnest({arguments}) WITH ORDINALITY AS k ({names(inputs)}, position) "  # noqa: S608 (our own SQL)
        f"CROSS JOIN LATERAL ({one.compile(dialect=dialect)}) AS h ORDER BY k.position, h.part, h.day"
    ).bindparams(*params).columns(*result), dialect)


def add_terminal_changes() -> Executable:
    """Appends increments of terminal day totals (a capture's, a label's, a batch's)."""
    return insert(terminal_day_changes)


def _activity_query(given: Callable[[str], Any] = _bound) -> Executable:
    """Count and amount sum of the customer's latest ``limit`` transactions in [since, until], and their
    newest timestamp in [latest_since, until]: one round trip, and both parts are range reads of the
    (customer_id, timestamp) index, so a customer's history beyond the window costs nothing."""
    t = transactions.c
    mine = t.customer_id == given("customer_id")
    until = t.timestamp <= given("until")
    window = (
        select(t.amount)
        .where(mine, t.timestamp >= given("since"), until)
        .order_by(t.timestamp.desc())
        .limit(given("limit"))
        .subquery()
    )
    # The newest row by the index's order, not max(): PostgreSQL plans max() over the whole 30-day range
    # when a table has no statistics yet (seen on a freshly seeded table), while this reads one index entry.
    latest = (select(t.timestamp).where(mine, t.timestamp >= given("latest_since"), until)
              .order_by(t.timestamp.desc()).limit(literal_column("1")))
    return select(
        func.count(),
        func.coalesce(func.sum(window.c.amount), _constant(0.0, Float, None), type_=Float),
        latest.scalar_subquery().label("latest"),
    ).select_from(window)


def _add_to_day(insert: Any, table: Table, key: str) -> Executable:
    statement = insert(table).values(
        {key: bindparam("owner"), "day": bindparam("day"), "tx_count": 1, "amount_sum": bindparam("amount"),
         "amount_sq_sum": bindparam("amount_sq"), "fraud_count": 0}
    )
    return statement.on_conflict_do_update(
        index_elements=[key, "day"],
        set_={
            "tx_count": table.c.tx_count + 1,
            "amount_sum": table.c.amount_sum + statement.excluded.amount_sum,
            "amount_sq_sum": table.c.amount_sq_sum + statement.excluded.amount_sq_sum,
        },
    )


_INSERTED_COLUMNS = ("transaction_id", "customer_id", "terminal_id", "amount", "timestamp", "recorded_at",
                     *SCORED_COLUMNS, *SHADOW_COLUMNS)


def _inserted_values() -> dict[str, Any]:
    """The transaction row's parameters. JSON columns take JSON text (``Verdict.stored_columns``), encoded once
    for the row and the response alike, not again by the JSON type's ``json.dumps`` (two per /predict)."""
    return {name: bindparam(name, type_=EncodedJSON()) if isinstance(transactions.c[name].type, JSON)
            else bindparam(name) for name in _INSERTED_COLUMNS}


# The day increments' parameters (beside the transaction's own): the day and the amount's square.
_DAY_COLUMNS = ("tx_count", "amount_sum", "amount_sq_sum", "fraud_count")


def _record_in_one_statement() -> Executable:
    """PostgreSQL: the transaction's row, its customer's day total and its terminal's day change in one
    statement; the increments select from the insert's RETURNING, so a known id (ON CONFLICT DO NOTHING
    returns no row) adds nothing. Returns the number of rows inserted (0 or 1)."""
    stored = (postgresql.insert(transactions).values(_inserted_values())
              .on_conflict_do_nothing(index_elements=["transaction_id"])
              .returning(transactions.c.customer_id, transactions.c.terminal_id).cte("stored"))
    increment = (literal(1, Integer), bindparam("amount", type_=Float), bindparam("amount_sq", type_=Float),
                 literal(0, Integer))
    day = bindparam("day", type_=customer_days.c.day.type)
    customer = postgresql.insert(customer_days).from_select(
        ["customer_id", "day", *_DAY_COLUMNS], select(stored.c.customer_id, day, *increment))
    customer = customer.on_conflict_do_update(
        index_elements=["customer_id", "day"],
        set_={name: customer_days.c[name] + customer.excluded[name] for name in _DAY_COLUMNS[:3]})
    terminal = add_terminal_changes().from_select(["terminal_id", "day", *_DAY_COLUMNS],
                                                  select(stored.c.terminal_id, day, *increment))
    return select(func.count()).select_from(stored).add_cte(customer.cte("customer"), terminal.cte("terminal"))


@dataclass(frozen=True)
class _Statements:
    customer_days: Prepared
    terminal_days: Prepared
    customer_activity: Prepared
    insert_transaction: Prepared
    add_customer_day: Prepared
    add_terminal_day: Prepared
    record_in_one: Prepared | None  # PostgreSQL only
    history: Prepared | None  # PostgreSQL only
    histories: Prepared | None  # PostgreSQL only
    known: Prepared | None  # SQLite only: whether an id is recorded (``scored_result`` then reads its answer)
    lock_for_label: Executable
    set_label: Executable
    add_terminal_labels: Executable
    scored_result: Executable


@cache
def _statements(dialect: Dialect) -> _Statements:
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect.name]
    t = transactions.c
    by_id = t.transaction_id == bindparam("tx_id")  # not "transaction_id": reserved for VALUES/SET
    return _Statements(
        customer_days=Prepared.compile(_days_query(customer_days, "customer_id"), dialect),
        terminal_days=Prepared.compile(terminal_days_query(lambda column: column == bindparam("owner")), dialect),
        customer_activity=Prepared.compile(_activity_query(), dialect),
        insert_transaction=Prepared.compile(
            insert(transactions).values(_inserted_values())
            .on_conflict_do_nothing(index_elements=["transaction_id"]),
            dialect),
        add_customer_day=Prepared.compile(_add_to_day(insert, customer_days, "customer_id"), dialect),
        add_terminal_day=Prepared.compile(
            add_terminal_changes().values(terminal_id=bindparam("owner"), day=bindparam("day"), tx_count=1,
                                          amount_sum=bindparam("amount"), amount_sq_sum=bindparam("amount_sq"),
                                          fraud_count=0), dialect),
        record_in_one=Prepared.compile(_record_in_one_statement(), dialect) if dialect.name == "postgresql" else None,
        history=Prepared.compile(_history_query(), dialect) if dialect.name == "postgresql" else None,
        histories=_histories_query(dialect) if dialect.name == "postgresql" else None,
        known=Prepared.compile(select(t.transaction_id).where(by_id), dialect) if dialect.name == "sqlite" else None,
        # A concurrent label for the same transaction waits for this one (PostgreSQL; SQLite has one writer).
        lock_for_label=select(t.terminal_id, t.timestamp, t.is_fraud).where(by_id).with_for_update(),
        set_label=update(transactions).where(by_id).values(is_fraud=bindparam("is_fraud")),
        add_terminal_labels=add_terminal_changes().values(
            terminal_id=bindparam("owner"), day=bindparam("on_day"), tx_count=0, amount_sum=0.0, amount_sq_sum=0.0,
            fraud_count=bindparam("change"), labelled_count=bindparam("newly_labelled")),
        scored_result=select(*(t[name] for name in SCORED_COLUMNS)).where(by_id),
    )


class SqlProfileStore:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection
        self._sql = _statements(connection.dialect)

    def customer_days(self, customer_id: str, first: date, last: date) -> list[DayTotals]:
        rows = self._sql.customer_days.rows(self._conn, {"owner": customer_id, "first": first, "last": last})
        return [DayTotals(*row) for row in rows]

    def terminal_days(self, terminal_id: str, first: date, last: date) -> list[DayTotals]:
        rows = self._sql.terminal_days.rows(self._conn, {"owner": terminal_id, "first": first, "last": last})
        return [DayTotals(*row[1:]) for row in rows]

    def customer_activity(self, customer_id: str, until: datetime, *, since: datetime, limit: int,
                          latest_since: datetime) -> RecentActivity:
        params = {"customer_id": customer_id, "until": until, "since": since, "limit": limit,
                  "latest_since": latest_since}
        count, amount_sum, latest = self._sql.customer_activity.rows(self._conn, params)[0]
        return RecentActivity(count=count, amount_sum=amount_sum, latest=latest)

    def known_or_history(self, transaction_id: str, reads: HistoryReads) -> tuple[Row | None, History | None]:
        """/predict's read: (stored answer, None) for a recorded id (``scored_result``), else (None, the answers
        to ``reads``). On PostgreSQL the check and the three reads are one statement (``_history_query``; a
        statement more for a known id, rare); on SQLite (in-process, no round trip to save) a primary-key
        lookup (prepared), then ``reads.read``."""
        if self._sql.history is None:
            # A new id, nearly always: the prepared lookup costs a fifth of ``scored_result``'s
            # Connection.execute, which only a known id needs.
            if not self._sql.known.rows(self._conn, {"tx_id": transaction_id}):  # type: ignore[union-attr]
                return None, reads.read(self)
            return self.scored_result(transaction_id), None
        return self._known_or(transaction_id, self._sql.history.rows(self._conn, _inputs(transaction_id, reads)))

    def known_or_histories(self, wanted: list[tuple[str, HistoryReads]]) -> list[tuple[Row | None, History | None]]:
        """``known_or_history`` of several (id, reads) at once, in order: one statement on PostgreSQL
        (``_histories_query``), so none of them may depend on another's write (same customer, terminal or id)."""
        if self._sql.histories is None or len(wanted) == 1:
            return [self.known_or_history(transaction_id, reads) for transaction_id, reads in wanted]
        inputs = [_inputs(transaction_id, reads) for transaction_id, reads in wanted]
        rows_of: list[list[tuple[Any, ...]]] = [[] for _ in wanted]
        for position, *row in self._sql.histories.rows(self._conn, {name: [one[name] for one in inputs]
                                                                     for name in _HISTORY_INPUTS}):
            rows_of[position - 1].append(row)
        return [self._known_or(transaction_id, rows) for (transaction_id, _), rows in zip(wanted, rows_of, strict=True)]

    def _known_or(self, transaction_id: str, rows: list[tuple[Any, ...]]) -> tuple[Row | None, History | None]:
        """``known_or_history``'s answer from ``_history_query``'s rows for one transaction."""
        customer, terminal, activity, recorded = [], [], None, False
        for part, day, tx_count, amount_sum, amount_sq_sum, fraud_count, labelled, latest in rows:
            if part == _KNOWN:
                recorded = True
            elif part == _ACTIVITY:
                activity = RecentActivity(count=tx_count, amount_sum=amount_sum, latest=latest)
            else:
                days = customer if part == _CUSTOMER_DAY else terminal
                days.append(DayTotals(day, tx_count, amount_sum, amount_sq_sum, fraud_count, labelled))
        if recorded:
            return self.scored_result(transaction_id), None
        if activity is None:  # not an assert: it must hold with -O too
            raise RuntimeError("the history read returned no activity row")
        return None, (customer, activity, terminal)

    def record_transaction(self, tx: Transaction) -> bool:
        return self.record_scored(tx, {})

    def record_scored(self, tx: Transaction, scored: dict[str, Any]) -> bool:
        """Record ``tx`` with the model's answer (``SCORED_COLUMNS``, the lists as JSON text:
        ``Verdict.stored_columns``; and ``SHADOW_COLUMNS`` when a challenger scored it too); False when the id
        is known."""
        row = {
            "transaction_id": tx.transaction_id,
            "customer_id": tx.customer_id,
            "terminal_id": tx.terminal_id,
            "amount": tx.amount,
            "timestamp": tx.timestamp,
            "recorded_at": datetime.now(UTC).replace(tzinfo=None),  # naive UTC, as every timestamp here
            **{name: scored.get(name) for name in (*SCORED_COLUMNS, *SHADOW_COLUMNS)},
        }
        day = {"day": tx.timestamp.date(), "amount": tx.amount, "amount_sq": tx.amount * tx.amount}
        if self._sql.record_in_one is not None:
            return self._sql.record_in_one.rows(self._conn, {**row, **day})[0][0] == 1
        inserted = self._sql.insert_transaction.execute(self._conn, row)
        added = inserted.rowcount
        inserted.close()
        if added == 0:
            return False
        self._sql.add_customer_day.execute(self._conn, {"owner": tx.customer_id, **day}).close()
        self._sql.add_terminal_day.execute(self._conn, {"owner": tx.terminal_id, **day}).close()
        return True

    def record_label(self, transaction_id: str, is_fraud: bool) -> bool:
        row = self._conn.execute(self._sql.lock_for_label, {"tx_id": transaction_id}).first()
        if row is None:
            return False
        self._conn.execute(self._sql.set_label, {"tx_id": transaction_id, "is_fraud": is_fraud})
        change = int(is_fraud) - int(bool(row.is_fraud))
        newly_labelled = int(row.is_fraud is None)
        if change or newly_labelled:
            self._conn.execute(
                self._sql.add_terminal_labels,
                {"owner": row.terminal_id, "on_day": row.timestamp.date(), "change": change,
                 "newly_labelled": newly_labelled},
            )
        return True

    def scored_result(self, transaction_id: str) -> Row | None:
        """The stored answer for a known transaction (columns ``SCORED_COLUMNS``; decision None when
        it was recorded without scoring), or None for an unknown id."""
        return self._conn.execute(self._sql.scored_result, {"tx_id": transaction_id}).first()

"""The few statements of every command, run on the driver's cursor (issue 12, part 5).

SQLAlchemy's execution machinery (parameter processing, result objects, events, cache
lookups) cost several times what SQLite itself spends on a statement: about 60 µs against
5–10 µs per statement on the measuring machine (docs/performance.md). A command runs ten
or so of them. :class:`Prepared` compiles a Core statement once per dialect, keeps the
bind and result processors of its columns, and runs it on the DB-API cursor of the
connection the store's transaction holds: the same SQL, the same transaction, the same
type conversions (aware UTC datetimes, JSON), without the machinery.

It stays behind the store port: the SQL comes from the same table models on SQLite and
PostgreSQL, and ``tests/contract`` runs every operation of the port on both paths
(``SqlStore(engine, fast=False)`` uses SQLAlchemy's execution for everything). Driver
errors are raised as SQLAlchemy's exception classes, so the store translates them as
before; listeners of ``before_cursor_execute`` (statement counts in the benchmarks and
tests) still see every statement.

On PostgreSQL (psycopg 3) a statement's SQL is also rewritten once, when it is prepared,
to PostgreSQL's own ``$1, $2, ...`` placeholders and encoded, and it runs on a raw
cursor kept with the pooled connection (:func:`_kept_cursor`): psycopg then parses no
query per call (it parses one longer than 4,096 characters afresh every time: the clocks'
statements are) and finds its dumpers and loaders in the cursor's caches instead of
building a cursor and looking them up per statement. The values, their types and the
server-side prepared statements (psycopg's ``prepare_threshold``) are the same.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import DateTime
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.engine.processors import str_to_datetime
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import Executable

from cmc_workflow.errors import StoreError
from cmc_workflow.i18n import tr
from cmc_workflow.store.tables import UTCDateTime

Processor = Callable[[Any], Any] | None


class Prepared:
    """One statement compiled for one dialect, run on the driver's cursor.

    ``keys`` are the column keys an INSERT or UPDATE sets (as SQLAlchemy would take them
    from the first parameter set); a statement that would need SQLAlchemy to fill in a
    default is refused here, when it is built, not when it runs.

    What a run does per value is decided here, once: the values are taken in the
    statement's order by one ``itemgetter``, and only the binds whose type converts
    (times, JSON) pass through a processor; a row is decoded the same way, only its
    converting columns through theirs (:class:`Conversions`)."""

    __slots__ = (
        "_constant_values",
        "_constants",
        "_convert",
        "_decoding",
        "_dialect",
        "_errors",
        "_get",
        "_names",
        "_positional",
        "_raw",
        "_result_names",
        "_results",
        "_slots",
        "order",
        "sql",
    )

    def __init__(
        self,
        statement: Executable,
        dialect: Dialect,
        keys: Sequence[str] | None = None,
        conversions: Conversions | None = None,
    ) -> None:
        conversions = conversions if conversions is not None else Conversions(dialect)
        compiled = cast(
            "SQLCompiler",
            statement.compile(  # type: ignore[attr-defined]
                dialect=dialect,
                column_keys=list(keys) if keys is not None else None,
            ),
        )
        prefetch = getattr(compiled, "insert_prefetch", []) + getattr(
            compiled, "update_prefetch", []
        )
        if prefetch:
            names = ", ".join(str(c) for c in prefetch)
            raise ValueError(f"the statement needs defaults filled in by SQLAlchemy: {names}")
        self.sql = compiled.string
        self._dialect = dialect
        # the driver's error class (a dialect without its driver only prepares)
        self._errors: type[Exception] = dialect.dbapi.Error if dialect.dbapi else Exception
        self._positional = bool(compiled.positional)
        # each bind under the name it is rendered with (``binds`` holds anonymous binds
        # under their unrendered names too): SQLAlchemy sends these, and only these
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        for bind in compiled.binds.values():  # (numbered SQL no longer names them)
            if bind.expanding:  # rendered per call: write ``or_(c == a, c == b)`` instead
                raise ValueError(f"an IN list, expanded per call: {bind.key}")
        # the SQL as psycopg's raw cursor takes it (PostgreSQL), else None
        self._raw: bytes | None = None
        if self._positional:
            order = list(compiled.positiontup or [])
        elif dialect.driver == "psycopg" and compiled.string.isascii():
            # ASCII reads the same in every client encoding: numbered and encoded once
            self.sql, order = _numbered(compiled)
            self._raw = self.sql.encode("ascii")
            self._positional = True
        else:
            order = list(binds)
        # the parameters a run binds: first the values taken (in ``_names``' order), then
        # the constants (values written into the statement: a literal, or None); positions
        # in ``_slots`` put them in the statement's order when it is positional
        taken: list[tuple[int, str, str]] = []  # (position, parameter name, key in values)
        constants: list[tuple[int, str, Any]] = []  # (position, parameter name, value)
        self._convert: list[tuple[int, Callable[[Any], Any]]] = []
        self.order = order
        """The parameters' names in the order a positional statement sends them."""
        for position, name in enumerate(order):  # (a name bound twice comes twice)
            bind = binds[name]
            processor = conversions.bind(bind.type)
            if bind.required:
                if processor is not None:
                    self._convert.append((len(taken), processor))
                taken.append((position, name, bind.key))
            else:
                value = bind.effective_value
                constant = value if processor is None else processor(value)
                constants.append((position, name, constant))
        self._names = [name for _position, name, _key in taken]
        self._get = _getter([key for _position, _name, key in taken])
        self._constants = [(name, value) for _position, name, value in constants]
        self._constant_values = tuple(value for _position, _name, value in constants)
        # a positional statement with constants: the values taken, then the constants,
        # picked in the statement's order
        self._slots: Callable[[Sequence[Any]], Sequence[Any]] | None = None
        if self._positional and constants:
            placed = [position for position, *_rest in taken] + [
                position for position, *_rest in constants
            ]
            self._slots = _getter(sorted(range(len(placed)), key=placed.__getitem__))
        columns = [(column[0], column[3]) for column in getattr(compiled, "_result_columns", [])]
        self._result_names = [name for name, _type in columns]
        # a name selected twice keeps its last column, as a mapping of the row does
        last = {name: conversions.result(type_) for name, type_ in columns}
        self._results: list[tuple[str, Callable[[Any], Any]]] = [
            (name, processor) for name, processor in last.items() if processor is not None
        ]
        # every converting column by its place (:meth:`_decoded`), and whether its
        # values are kept per read (the times: see :data:`_KEPT_PER_READ`)
        self._decoding: list[tuple[int, Callable[[Any], Any], bool]] = []
        for place, (_name, type_) in enumerate(columns):
            processor = conversions.result(type_)
            if processor is not None:
                self._decoding.append((place, processor, processor in _KEPT_PER_READ))

    def _parameters(self, values: Mapping[str, Any]) -> Any:
        taken = self._get(values)
        convert = self._convert
        if convert:
            taken = list(taken)
            for i, processor in convert:
                taken[i] = processor(taken[i])
        if self._positional:
            if self._slots is None:
                return taken
            return self._slots((*taken, *self._constant_values))
        named = dict(zip(self._names, taken, strict=True))
        if self._constants:
            named.update(self._constants)
        return named

    def _parameters_many(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """``[self._parameters(values) for values in rows]``, a batch's executemany
        (thousands of rows): a positional statement without constants, the usual one,
        in one loop here instead of a call a row."""
        if not self._positional or self._slots is not None:
            return [self._parameters(values) for values in rows]
        get = self._get
        convert = self._convert
        if not convert:
            return [get(values) for values in rows]
        parameters = []
        for values in rows:
            taken = list(get(values))
            for i, processor in convert:
                taken[i] = processor(taken[i])
            parameters.append(taken)
        return parameters

    def _cursor(self, conn: Connection, parameters: Any, many: bool) -> Any:
        # the driver's own connection (what ``driver_connection`` answers for the sync
        # drivers the store runs on: sqlite3, psycopg), without its two lookups
        driver = conn.connection.dbapi_connection
        if self._raw is None:
            cursor = driver.cursor()  # type: ignore[union-attr]
        else:
            cursor = _kept_cursor(conn, driver, self._dialect.loaded_dbapi.RawCursor)
        for hook in _listeners(conn):
            hook(conn, cursor, self.sql, parameters, None, many)
        return cursor

    def _done(self, cursor: Any) -> None:
        """Let go of the cursor of a statement whose answer was read: closed, unless it
        is the connection's kept raw cursor (PostgreSQL), whose next execute clears it."""
        if self._raw is None:
            cursor.close()

    def _run(self, conn: Connection, values: Mapping[str, Any]) -> Any:
        """Execute once in ``conn``'s transaction; the driver's cursor holding the answer
        (let go of it with :meth:`_done`)."""
        parameters = self._parameters(values)
        cursor = self._cursor(conn, parameters, False)
        try:
            cursor.execute(self._raw or self.sql, parameters)
        except self._errors as error:
            cursor.close()
            raise self._translated(error, parameters) from error
        return cursor

    def run(self, conn: Connection, values: Mapping[str, Any]) -> None:
        """Execute once in ``conn``'s transaction, for its effect."""
        self._done(self._run(conn, values))

    def inserted_id(self, conn: Connection, values: Mapping[str, Any]) -> int:
        """Execute an INSERT of one row; the id the driver gives the row (``lastrowid``:
        SQLite, no ``RETURNING`` row to fetch and decode)."""
        cursor = self._run(conn, values)
        try:
            return int(cursor.lastrowid)
        finally:
            self._done(cursor)

    def run_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Execute for every parameter set in one ``executemany``; returns the rows
        changed (as the driver counts them)."""
        parameters = self._parameters_many(rows)
        cursor = self._cursor(conn, parameters, True)
        try:
            cursor.executemany(self._raw or self.sql, parameters)
            count = int(cursor.rowcount)
        except self._errors as error:
            cursor.close()
            raise self._translated(error, parameters) from error
        self._done(cursor)
        return count

    def first(self, conn: Connection, values: Mapping[str, Any]) -> dict[str, Any] | None:
        """The first row of the result as a mapping of the selected columns, or None."""
        cursor = self._run(conn, values)
        try:
            row = cursor.fetchone()
        finally:
            self._done(cursor)
        return None if row is None else self._row(row)

    def rows(self, conn: Connection, values: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every row of the result as mappings of the selected columns."""
        found = self._all(conn, values)
        if len(found) < 2:
            return [self._row(row) for row in found]
        names = self._result_names
        return [dict(zip(names, row, strict=True)) for row in self._decoded(found)]

    def ordered(self, conn: Connection, values: Mapping[str, Any]) -> list[list[Any]]:
        """Every row of the result as the list of its selected columns' values, in the
        statement's order (a row type built positionally: ``ClockRow(*row)``)."""
        return self._decoded(self._all(conn, values))

    def _all(self, conn: Connection, values: Mapping[str, Any]) -> list[Any]:
        cursor = self._run(conn, values)
        try:
            return cast("list[Any]", cursor.fetchall())
        finally:
            self._done(cursor)

    def _decoded(self, found: Sequence[Sequence[Any]]) -> list[list[Any]]:
        """``found``'s rows as lists of decoded values, the same as :meth:`_row` decodes
        them: the rows of a read share most of their times (a batch's clocks their due
        and warn times, its items their creation), so each stored time is converted
        once per read and its (immutable) datetime given to every row that has it."""
        decoding = self._decoding
        kept: dict[Any, dict[Any, Any]] = {}
        for _place, processor, keep in decoding:
            if keep:
                kept.setdefault(processor, {})
        decoded = []
        for row in found:
            values = list(row)
            for place, processor, keep in decoding:
                value = values[place]
                if not keep:
                    values[place] = processor(value)
                elif value is not None:  # (a time's processor gives None for None)
                    memo = kept[processor]
                    converted = memo.get(value)
                    if converted is None:
                        converted = memo[value] = processor(value)
                    values[place] = converted
            decoded.append(values)
        return decoded

    def count(self, conn: Connection, values: Mapping[str, Any]) -> int:
        """Execute and return how many rows it changed."""
        cursor = self._run(conn, values)
        try:
            return int(cursor.rowcount)
        finally:
            self._done(cursor)

    def _row(self, row: Sequence[Any]) -> dict[str, Any]:
        decoded = dict(zip(self._result_names, row, strict=True))
        for name, processor in self._results:
            decoded[name] = processor(decoded[name])
        return decoded

    def _translated(self, error: Exception, parameters: Any) -> Exception:
        """The driver's error as SQLAlchemy raises it (``IntegrityError``,
        ``OperationalError``, ...), so that the store translates it as before."""
        dbapi = self._dialect.loaded_dbapi
        return sa_exc.DBAPIError.instance(
            self.sql,
            parameters,
            error,
            dbapi.Error,
            dialect=self._dialect,
        )


def execute_plain(conn: Connection, sql: str) -> None:
    """Run ``sql``, a statement without parameters or rows (``BEGIN IMMEDIATE``), on the
    driver's cursor of ``conn`` as :class:`Prepared` runs its statements: listeners of
    ``before_cursor_execute`` see it, a driver error comes as SQLAlchemy's class."""
    dialect = conn.dialect
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        for hook in _listeners(conn):
            hook(conn, cursor, sql, (), None, False)
        cursor.execute(sql)
    except dialect.loaded_dbapi.Error as error:
        raise sa_exc.DBAPIError.instance(
            sql, (), error, dialect.loaded_dbapi.Error, dialect=dialect
        ) from error
    finally:
        cursor.close()


def _listeners(conn: Connection) -> Any:
    """The ``before_cursor_execute`` listeners a statement of ``conn`` calls, as
    SQLAlchemy's own execution calls them: none unless the connection or its engine has
    events (the flags SQLAlchemy checks first); the engine's own (its class's included)
    when the connection has none of its own, without joining the two dispatchers (the
    joined one costs about 0.3 µs a statement to make; the store's engine always has
    events: its ``begin`` listener)."""
    if conn._has_events:
        return conn.dispatch.before_cursor_execute
    if conn.engine._has_events:
        return conn.engine.dispatch.before_cursor_execute
    return ()


def _getter(keys: Sequence[Any]) -> Callable[[Any], Sequence[Any]]:
    """The items of ``keys`` (of a mapping, or indexes of a sequence), as a tuple, by one
    ``itemgetter`` call."""
    if not keys:
        return lambda _values: ()
    if len(keys) == 1:
        (key,) = keys
        return lambda values: (values[key],)
    return itemgetter(*keys)


class Conversions:
    """The bind and result processors of one dialect's types, decided once per type and
    shared by every statement of a store (:class:`Statements`).

    A type that converts nothing has no processor (its values pass as they are). Times
    (:class:`~cmc_workflow.store.tables.UTCDateTime`), the most bound values of a
    command, convert in one step: an aware UTC datetime straight to what SQLAlchemy's
    decorator and the dialect's ``DATETIME`` make of it together (on SQLite the text
    ``YYYY-MM-DD HH:MM:SS.ffffff``, on PostgreSQL the naive datetime), a stored time
    straight back to the aware UTC datetime; any other value (another zone, a naive
    datetime, which is refused) goes through SQLAlchemy's own processors. A converted
    time is kept with its answer (:func:`_last_kept`), shared by every statement: a
    command binds its one ``now`` a dozen times, to the item, its history, audit record,
    clock and timers. Every other type takes SQLAlchemy's processors as they are."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._binds: dict[Any, Processor] = {}
        self._results: dict[Any, Processor] = {}

    def bind(self, type_: Any) -> Processor:
        """What a value bound to ``type_`` passes through (None: nothing)."""
        key = _shared(type_)
        if key not in self._binds:
            self._binds[key] = self._bind(type_)
        return self._binds[key]

    def result(self, type_: Any) -> Processor:
        """What a value read from a column of ``type_`` passes through (None: nothing)."""
        key = _shared(type_)
        if key not in self._results:
            self._results[key] = self._result(type_)
        return self._results[key]

    def _bind(self, type_: Any) -> Processor:
        dialect = self._dialect
        decorated: Any = type_.dialect_impl(dialect)
        general: Processor = decorated.bind_processor(dialect)
        if general is None or not _of_datetimes(type_):
            return general
        if type(type_) is UTCDateTime:
            impl = decorated.impl
            if impl.bind_processor(dialect) is None:  # the driver takes datetimes (psycopg)
                general = _utc_naive(general)
            elif _sqlite_text(impl):
                general = _utc_text(general)
        return _last_kept(general)

    def _result(self, type_: Any) -> Processor:
        dialect = self._dialect
        decorated: Any = type_.dialect_impl(dialect)
        general: Processor = decorated.result_processor(dialect, None)
        if general is None or type(type_) is not UTCDateTime:
            return general
        impl = decorated.impl
        impl_processor = impl.result_processor(dialect, None)
        if impl_processor is None:  # the driver gives datetimes (psycopg)
            return _aware_utc
        if impl_processor is str_to_datetime and _sqlite_text(impl):
            return _parsed_utc
        return general


def _shared(type_: Any) -> Any:
    """What a type's processors are kept under: the class for the times (every
    ``UTCDateTime`` column converts alike, and so its statements share what they keep),
    else the type object itself."""
    return UTCDateTime if type(type_) is UTCDateTime else type_


def _of_datetimes(type_: Any) -> bool:
    """Whether a bind of ``type_`` takes datetimes (whose conversion :func:`_last_kept`
    may keep): a DateTime column, or a decorator of one (``UTCDateTime``)."""
    return isinstance(getattr(type_, "impl_instance", type_), DateTime)


def _sqlite_text(impl: Any) -> bool:
    """Whether ``impl`` is SQLite's ``DATETIME`` storing SQLAlchemy's default text."""
    if impl.__class__.__name__ != "DATETIME" or impl.__class__.__module__ != (
        "sqlalchemy.dialects.sqlite.base"
    ):
        return False
    return bool(
        impl._storage_format == type(impl)._storage_format and not getattr(impl, "_reg", None)
    )


def _utc_text(general: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """SQLite: an aware UTC datetime as SQLAlchemy stores it (``DATETIME``'s default
    format of the naive UTC time); anything else through ``general``."""

    def process(value: Any) -> Any:
        if value is not None and value.tzinfo is _UTC:
            return _TEXT % (
                value.year,
                value.month,
                value.day,
                value.hour,
                value.minute,
                value.second,
                value.microsecond,
            )
        return general(value)

    return process


_TEXT = "%04d-%02d-%02d %02d:%02d:%02d.%06d"
"""SQLite ``DATETIME``'s default storage format, positionally."""
_UTC = dt.UTC


def _utc_naive(general: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """PostgreSQL: an aware UTC datetime as the naive UTC time; anything else through
    ``general``."""

    def process(value: Any) -> Any:
        if value is not None and value.tzinfo is _UTC:
            return value.replace(tzinfo=None)
        return general(value)

    return process


def _parsed_utc(value: Any) -> Any:
    """SQLite: stored text back to the aware UTC datetime."""
    if value is None:
        return None
    return str_to_datetime(value).replace(tzinfo=_UTC)


def _aware_utc(value: Any) -> Any:
    """PostgreSQL: the driver's naive UTC datetime as the aware one."""
    if value is None:
        return None
    return value.replace(tzinfo=_UTC)


_KEPT_PER_READ = frozenset({_parsed_utc})
"""The result processors whose answers :meth:`Prepared._decoded` keeps for the rest of
a read: SQLite's times' (equal stored texts give equal, immutable datetimes; None gives
None). PostgreSQL's driver gives datetimes, which one ``replace`` makes aware: keeping
them would save little, and equal naive datetimes may differ in ``fold``."""


def _last_kept(processor: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``processor``, answering again without converting when given one of the last
    datetime objects it converted: a command (and every command of a batch) binds its one
    ``now`` a dozen times, to the item, its history, audit record, clock and timers, and
    the commands of a batch share their clocks' due and step times (kept answers of the
    deadline arithmetic: the very objects). Datetimes are immutable, so the same object
    converts the same; each kept object is held with its answer (its id stays its own),
    at most :data:`_KEPT_TIMES` of them, forgotten all at once (threads share them)."""
    kept: dict[int, tuple[Any, Any]] = {}

    def process(value: Any) -> Any:
        found = kept.get(id(value))
        if found is not None and found[0] is value:
            return found[1]
        converted = processor(value)
        if type(value) is dt.datetime:
            if len(kept) >= _KEPT_TIMES:
                kept.clear()
            kept[id(value)] = (value, converted)
        return converted

    return process


_KEPT_TIMES = 32
"""How many converted datetimes a time's processor keeps (see :func:`_last_kept`)."""


_PLACEHOLDER = re.compile(r"%%|%\(([^)]*)\)s")
"""A pyformat placeholder ``%(name)s``, or an escaped ``%`` (``%%``)."""


def _numbered(compiled: SQLCompiler) -> tuple[str, list[str]]:
    """``compiled``'s pyformat SQL with PostgreSQL's ``$1, $2, ...`` in its placeholders'
    stead (a name used twice takes one number) and ``%%`` read as ``%``, as psycopg
    would send it; and the bind names in the numbers' order."""
    original = {escaped: name for name, escaped in (compiled.escaped_bind_names or {}).items()}
    numbers: dict[str, int] = {}

    def number(found: re.Match[str]) -> str:
        escaped = found.group(1)
        if escaped is None:
            return "%"
        name = original.get(escaped, escaped)
        if name not in numbers:
            numbers[name] = len(numbers) + 1
        return f"${numbers[name]}"

    sql = _PLACEHOLDER.sub(number, compiled.string)
    return sql, list(numbers)


_KEPT_CURSOR = "cmc_raw_cursor"
"""The key of a pooled connection's kept raw cursor in its ``info`` (PostgreSQL)."""


def _kept_cursor(conn: Connection, driver: Any, make: Callable[[Any], Any]) -> Any:
    """The raw psycopg cursor kept with ``conn``'s pooled connection (in the pool
    record's ``info``, which lives as long as the driver's connection), made on first
    use. One statement runs at a time on a connection and reads its answer before the
    next one, so they can share it; a cursor closed after an error, or of a connection
    the pool replaced, is made anew. ``make`` is ``psycopg.RawCursor``."""
    info = conn.connection.info
    cursor = info.get(_KEPT_CURSOR)
    if cursor is None or cursor.closed or cursor.connection is not driver:
        cursor = info[_KEPT_CURSOR] = make(driver)  # psycopg.RawCursor
    return cursor


class Statements:
    """The prepared statements of one dialect, built on first use and kept (one set per
    store: a statement's SQL depends on the dialect and on the keys it sets)."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._conversions = Conversions(dialect)
        self._prepared: dict[tuple[int, tuple[str, ...] | None], Prepared] = {}
        self._keep: list[Executable] = []  # the statements keyed by id() stay alive
        # (id of an UPDATE, the keys of its values as given) -> its prepared form
        self._setting: dict[tuple[int, tuple[str, ...]], Prepared] = {}

    def __call__(self, statement: Executable, keys: Sequence[str] | None = None) -> Prepared:
        """The prepared form of ``statement`` (setting ``keys``, for INSERT/UPDATE)."""
        key = (id(statement), tuple(keys) if keys is not None else None)
        prepared = self._prepared.get(key)
        if prepared is None:
            prepared = self._prepared[key] = Prepared(
                statement, self._dialect, keys, self._conversions
            )
            self._keep.append(statement)
        return prepared

    def setting(self, statement: Executable, values: Mapping[str, Any]) -> Prepared:
        """The prepared form of the UPDATE ``statement`` that sets ``values``' plain keys
        (those not named ``b_...``: its WHERE clause binds them), found by the keys of
        ``values`` as given, without picking the plain ones out per call."""
        key = (id(statement), tuple(values))
        prepared = self._setting.get(key)
        if prepared is None:
            prepared = self(statement, [k for k in values if not k.startswith("b_")])
            if len(self._setting) >= _SETTINGS_KEPT:
                self._setting.clear()
            self._setting[key] = prepared
        return prepared


_SETTINGS_KEPT = 256
"""How many (UPDATE, keys given) pairs :meth:`Statements.setting` keeps (a store's code
sets a handful of key sets; past this, the kept ones are forgotten all at once)."""


class Runs:
    """Running a prebuilt statement in a transaction: on the driver's cursor when the
    store has its :class:`Statements` (``_fast``), else through SQLAlchemy. Mixed into
    the SQL transaction and its query mixins."""

    _conn: Connection
    _fast: Statements | None

    def _first(self, statement: Any, values: Mapping[str, Any]) -> dict[str, Any] | None:
        """The first row of a prepared SELECT (or RETURNING) as a mapping, or None."""
        if self._fast is not None:
            return self._fast(statement).first(self._conn, values)
        row = self._conn.execute(statement, values).first()
        return None if row is None else dict(row._mapping)

    def _rows(self, statement: Any, values: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every row of a prepared SELECT as mappings."""
        if self._fast is not None:
            return self._fast(statement).rows(self._conn, values)
        return [dict(r._mapping) for r in self._conn.execute(statement, values)]

    def _changed(self, statement: Any, values: Mapping[str, Any]) -> int:
        """Run a prepared UPDATE that sets ``values``' plain keys; rows changed."""
        if self._fast is not None:
            return self._fast.setting(statement, values).count(self._conn, values)
        return int(self._conn.execute(statement, values).rowcount)

    def _insert(self, statement: Any, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run a prepared INSERT for every row (one executemany)."""
        if self._fast is not None:
            prepared = self._fast(statement, list(rows[0]))
            if len(rows) == 1:
                prepared.run(self._conn, rows[0])
            else:
                prepared.run_many(self._conn, rows)
            return
        self._conn.execute(statement, list(rows))

    def _insert_returning_id(self, statement: Any, row: Mapping[str, Any]) -> int:
        """Run a prepared INSERT ... RETURNING id for one row; the new id."""
        if self._fast is not None:
            found = self._fast(statement, list(row)).first(self._conn, row)
            assert found is not None
            return int(found["id"])
        return int(self._conn.execute(statement, row).scalar_one())


class Appends(Runs):
    """Appends written together (a batch, :mod:`cmc_workflow.engine.batch`): while
    :meth:`defer_appends` is on, the rows of the pure appends of a command — history rows,
    audit records of an item's chain, timers, and on SQLite the new items and SLA clocks
    (their ids reserved ahead, :meth:`_reserved_id`) — are kept, hashes and anchors computed, and
    written with one executemany per table and statement by :meth:`flush_appends`, which
    the batch calls before any operation that reads or changes those tables, at its
    commands' savepoint boundaries and before commit. Rows keep the order they were
    appended in, so ids and chains come out as they would one command at a time."""

    _appending: dict[str, list[tuple[Any, Mapping[str, Any]]]] | None = None
    # table -> the id its next kept row takes (see _reserved_id); emptied when the kept
    # rows are dropped
    _next_ids: dict[str, int] | None = None

    def defer_appends(self) -> None:
        """Keep the appends from now on until :meth:`flush_appends` writes them."""
        if self._appending is None:
            self._appending = {}
            self._next_ids = {}

    def flush_appends(self, tables: Sequence[str] | None = None) -> None:
        """Write the kept appends (of ``tables`` only, when given), in their order; the
        rows other kept rows refer to (:data:`_REFERRED`) first."""
        kept = self._appending
        if not kept:
            return
        chosen = list(kept) if tables is None else [t for t in tables if t in kept]
        if not chosen:  # none kept of those asked for (what they refer to waits with them)
            return
        for table in list(chosen):
            for referred in _REFERRED.get(table, ()):
                if referred in kept and referred not in chosen:
                    chosen.append(referred)
        # stable: the tables other rows refer to first, the others in their order
        chosen.sort(key=lambda t: _FIRST.index(t) if t in _FIRST else len(_FIRST))
        for table in chosen:
            for statement, run in _runs(self._completed(table, kept.pop(table))):
                if isinstance(statement, KeptUpdate):
                    self._update_kept(statement, run)
                else:
                    self._insert(statement, run)

    def _update_kept(self, kept: KeptUpdate, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run a kept UPDATE for every row (one executemany, in their order); when it is
        ``checked``, each row must have changed one row (:meth:`_missed` says which did
        not)."""
        assert self._fast is not None  # (kept only on the driver's cursor)
        keys = [key for key in rows[0] if not key.startswith("b_")]
        prepared = self._fast(kept.statement, keys)
        if len(rows) == 1:
            changed = prepared.count(self._conn, rows[0])
        else:
            changed = prepared.run_many(self._conn, rows)
        if kept.checked and changed != len(rows):
            raise self._missed(kept, rows)

    def _missed(self, kept: KeptUpdate, rows: Sequence[Mapping[str, Any]]) -> Exception:
        """The error for checked kept UPDATEs of which some changed no row (the SQL
        transaction names the item)."""
        return StoreError(tr("database error: {orig}", orig=f"{kept.table}: a kept UPDATE missed"))

    def _completed(
        self, table: str, rows: list[tuple[Any, Mapping[str, Any]]]
    ) -> list[tuple[Any, Mapping[str, Any]]]:
        """The kept rows of ``table`` as written now (the SQL transaction adds what it
        learnt since they were kept: a new item's chain anchors)."""
        return rows

    def drop_appends(self) -> None:
        """Forget the kept appends (their command's savepoint rolled back), and the ids
        reserved for them (the rows before them were written when the savepoint began)."""
        if self._appending is not None:
            self._appending.clear()
            self._next_ids = {}

    def _reserved_id(self, table: str, largest: Any) -> int | None:
        """The id the next row of ``table`` takes, when appends are kept and the store
        can tell it ahead (None: insert now and read it back).

        SQLite (rowid tables without AUTOINCREMENT, under the write lock of ``BEGIN
        IMMEDIATE``) gives a new row the largest id plus one: read once (``largest``, a
        prepared ``SELECT max(id)``) when the table's first row is kept, then counted
        here, the ids are those the rows would have taken one INSERT at a time.
        PostgreSQL takes its ids from a sequence, shared with other transactions: not
        reserved here (its rows are inserted at once)."""
        if self._next_ids is None or not getattr(self, "sqlite", False) or self._fast is None:
            return None
        next_id = self._next_ids.get(table)
        if next_id is None:
            found = self._fast(largest).first(self._conn, {})
            next_id = int((found or {}).get("largest") or 0) + 1
        self._next_ids[table] = next_id + 1
        return next_id

    def _append(self, statement: Any, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run the INSERT of pure appends to ``table`` now, or keep them for the batch's
        next :meth:`flush_appends`."""
        if self._appending is None:
            self._insert(statement, rows)
        else:
            self._appending.setdefault(table, []).extend([(statement, row) for row in rows])

    def _keeps_updates(self) -> bool:
        """Whether the UPDATEs of :class:`KeptUpdate` statements are kept with the
        appends (SQLite on the driver's cursor, while a batch keeps its appends: under
        ``BEGIN IMMEDIATE`` nobody else changes a row, so an UPDATE can wait for the
        batch's next flush, written in its place among the kept rows of its table)."""
        return (
            self._next_ids is not None and self._fast is not None and getattr(self, "sqlite", False)
        )

    def _keep_update(self, kept: KeptUpdate, values: Mapping[str, Any]) -> None:
        """Keep one UPDATE (:meth:`_keeps_updates`) for the next :meth:`flush_appends`
        of its table; ``values`` as :meth:`Runs._changed` takes them."""
        assert self._appending is not None
        self._appending.setdefault(kept.table, []).append((kept, values))


def _runs(rows: list[tuple[Any, Mapping[str, Any]]]) -> list[tuple[Any, list[Mapping[str, Any]]]]:
    """``rows`` (statement, values) cut into runs, in their order, of one statement and
    one set of keys: each run is one executemany. The keys are compared as the tuple of
    the run's first row (one C call a row; rows of one statement come from one place,
    their keys in one order), and only when that differs as sets."""
    runs: list[tuple[Any, list[Mapping[str, Any]]]] = []
    statement: Any = None
    first: Mapping[str, Any] = {}
    shape: tuple[str, ...] = ()
    run: list[Mapping[str, Any]] = []
    for kept, row in rows:
        if kept is statement and (tuple(row) == shape or row.keys() == first.keys()):
            run.append(row)
        else:
            statement, first, shape, run = kept, row, tuple(row), [row]
            runs.append((kept, run))
    return runs


@dataclass(frozen=True, slots=True, eq=False)
class KeptUpdate:
    """An UPDATE of one row by its key that a batch may keep with its appends
    (:meth:`Appends._keep_update`) and run for many rows in one executemany: the
    statement, the table it changes, and whether every row must change one row (a
    version check: ``checked``, else the count is not looked at, as when it runs at
    once)."""

    statement: Any
    table: str
    checked: bool = False


_FIRST = ("items", "clocks")
"""Kept tables written before the others, in this order: their rows are referred to (the
history, clocks and timers name their item, timers their clock; SQLite checks foreign
keys at once)."""

_REFERRED: dict[str, tuple[str, ...]] = {
    "timers": ("items", "clocks"),
    "clocks": ("items",),
    "history": ("items",),
}
"""The kept tables whose rows a kept table's rows refer to: written with it."""

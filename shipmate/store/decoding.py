"""Raw driver values to domain values, for the hot reads that skip SQLAlchemy's types.

The hottest reads (a history page, the current matrix) return hundreds or thousands
of rows, and SQLAlchemy's per-cell type processing, plus the frozen records'
one-``object.__setattr__``-per-field constructors, cost several times the query
itself.  Those reads run their SQL with ``exec_driver_sql`` (see
:class:`CompiledQuery`) and decode here, mirroring the column types exactly:

- :class:`~shipmate.store.types.UTCDateTime`: naive UTC text on SQLite,
  ``timestamptz`` (in the session's zone) on PostgreSQL; both become aware UTC.
- ``JSON``: text on SQLite, already parsed by psycopg on PostgreSQL.

``tests/services/test_history_rows.py`` checks records decoded here equal the same
rows decoded through SQLAlchemy's types, on both backends.

The ordinary reads (one record, a short list) decode a SQLAlchemy row with a
:class:`RowDecoder`: every field of the record from the column of its name.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import Connection, Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from shipmate.domain.inputs.jsonlimits import readable

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "CompiledQuery",
    "RowDecoder",
    "bind_time",
    "fast_record",
    "json_object",
    "load_stored_json",
    "metadata_dict",
    "pg_time",
    "sqlite_time",
    "time_decoder",
]

T = TypeVar("T")
R = TypeVar("R", bound="DataclassInstance")

_fromiso = datetime.fromisoformat


def sqlite_time(value: str | None) -> datetime | None:
    """UTCDateTime on SQLite: naive UTC text (``2026-11-22 03:30:52.666394``)."""
    return None if value is None else _fromiso(value + "+00:00")


def pg_time(value: datetime | None) -> datetime | None:
    """UTCDateTime on PostgreSQL: ``timestamptz`` in the session's zone, made UTC."""
    if value is None or value.tzinfo is UTC:
        return value
    return value.astimezone(UTC)


def time_decoder(dialect: Dialect) -> Callable[[Any], datetime | None]:
    return sqlite_time if dialect.name == "sqlite" else pg_time


def bind_time(value: datetime, dialect: Dialect) -> Any:
    """A time as a UTCDateTime column stores it (for parameters sent raw)."""
    utc = value.astimezone(UTC)
    if dialect.name == "sqlite":
        # UTCDateTime + SQLite's DATETIME: naive UTC text, always with microseconds.
        return utc.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return utc


@lru_cache(maxsize=4096)
def _parse_json(text: str) -> Any:
    return load_stored_json(text)


def load_stored_json(text: str | bytes) -> Any:
    """The engines' JSON reader: text an older version stored that no longer parses
    (nested past the recursion limit, not JSON at all) reads as a note, not a 500."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return {UNREADABLE_KEY: "this JSON value was stored by an older version and cannot be read"}


#: The one key of the object a stored JSON text that cannot be parsed reads as.
UNREADABLE_KEY = "_unreadable"


def metadata_dict(value: Any) -> dict[str, Any]:
    """A JSON object column as a fresh dict.  Many deployments carry the same small
    document, so SQLite's text is parsed once per distinct text, then copied.

    What an older version stored beyond today's limits (nested too deeply,
    ``NaN``) is made readable (:func:`shipmate.domain.inputs.jsonlimits.readable`).
    """
    if value is None:
        return {}
    if isinstance(value, str):
        value = _parse_json(value)
    if not isinstance(value, dict):
        return {UNREADABLE_KEY: _compact_note(value)} if value else {}
    return dict(readable(value))


def _compact_note(value: Any) -> str:
    return f"stored as a JSON {type(value).__name__}, not an object"


_new = object.__new__
_setattr = object.__setattr__


def fast_record(cls: type[T], values: dict[str, Any]) -> T:
    """An instance of the frozen dataclass ``cls`` with exactly ``values`` as fields.

    A frozen dataclass's ``__init__`` sets each field through
    ``object.__setattr__``, which for records of 11 to 30 fields was the largest
    part of decoding a page.  ``values`` must name every field (the equality test
    above catches a missing one); nothing is validated, so use it only for values
    read back from shipmate's own typed columns.
    """
    record: T = _new(cls)
    _setattr(record, "__dict__", values)
    return record


class CompiledQuery:
    """A SELECT compiled once per dialect, run with ``exec_driver_sql``.

    Build the statement with ``bindparam``s for everything that varies; the SQL
    text is then exactly what SQLAlchemy would send, without rebuilding the
    statement, computing its cache key or applying result types on every call.
    Parameters SQLAlchemy adds itself (SQLite's ``OFFSET 0`` beside a bound
    ``LIMIT``) keep the values it gave them.
    """

    __slots__ = ("_build", "_by_dialect")

    def __init__(self, build: Callable[[], Select[Any]]) -> None:
        self._build = build
        self._by_dialect: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}

    def _compiled(self, dialect: Dialect) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            compiled = self._build().compile(dialect=dialect)
            order = tuple(compiled.positiontup or ()) if compiled.positional else None
            found = (compiled.string, order, dict(compiled.params))
            self._by_dialect[dialect.name] = found
        return found

    def rows(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Sequence[Any]:
        """Every row, as the driver returned its values, in ``conn``'s transaction."""
        sql, order, defaults = self._compiled(conn.dialect)
        merged = {**defaults, **params} if params else defaults
        bound: Any = tuple(merged[n] for n in order) if order is not None else merged
        engine = conn.engine
        if (
            engine.echo
            or engine.dispatch.before_cursor_execute
            or conn.dispatch.before_cursor_execute
        ):
            # Someone is watching the SQL (echo, a listener such as the EXPLAIN test's
            # capture): go through SQLAlchemy so they see this statement too.
            return conn.exec_driver_sql(sql, bound).all()
        # Otherwise straight to the driver's cursor: SQLAlchemy would build a result
        # description per call (29 columns for a history page) for rows used raw.
        dbapi = conn.dialect.loaded_dbapi
        cursor = conn.connection.cursor()
        try:
            cursor.execute(sql, bound)
            return cursor.fetchall()  # type: ignore[no-any-return,unused-ignore]
        except dbapi.Error as exc:
            raise DBAPIError.instance(sql, bound, exc, dbapi.Error) from exc
        finally:
            cursor.close()


def json_object(value: Any) -> dict[str, Any]:
    """A JSON object column that may be NULL, as a fresh dict (NULL: empty)."""
    return dict(value or {})


class RowDecoder(Generic[R]):
    """Turns a row into a ``cls`` record: each field from the column of its name.

    ``columns`` names the column of a field stored under another name
    (``{"product": "product_name"}`` for a joined label); ``convert`` the function
    a field's value goes through (``int``, :func:`metadata_dict`, ...).  The fields
    in ``skip`` are not read from the row: the call passes them (a record's steps
    or events) or they keep their default.
    """

    __slots__ = ("_cls", "_plan")

    def __init__(
        self,
        cls: type[R],
        *,
        columns: Mapping[str, str] | None = None,
        convert: Mapping[str, Callable[[Any], Any]] | None = None,
        skip: Iterable[str] = (),
    ) -> None:
        renamed = columns or {}
        converters = convert or {}
        skipped = set(skip)
        self._cls = cls
        self._plan = tuple(
            (f.name, renamed.get(f.name, f.name), converters.get(f.name))
            for f in dataclasses.fields(cls)
            if f.name not in skipped
        )

    def __call__(self, row: Any, **given: Any) -> R:
        """The record of ``row`` (a SQLAlchemy row), with ``given`` for skipped fields."""
        return self.decode(row._mapping, **given)

    def decode(self, m: Mapping[str, Any], **given: Any) -> R:
        """The record of the column values ``m`` (a row's mapping, or the values just
        inserted), with ``given`` for skipped fields."""
        values = {
            name: m[column] if to is None else to(m[column]) for name, column, to in self._plan
        }
        return self._cls(**values, **given)

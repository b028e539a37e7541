"""Validation of the plain fields every front end accepts.

Each check returns the clean value or raises InvalidInputError naming the field.
Limits follow the Versioner wire protocol where it has one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shipmate.domain.inputs.jsonlimits import MAX_DEPTH, check_document
from shipmate.domain.inputs.names import validate_lookup_name, validate_new_name
from shipmate.errors import InvalidInputError, PayloadTooLargeError

__all__ = [
    "MAX_METADATA_BYTES",
    "format_time",
    "parse_id",
    "parse_metadata",
    "parse_time",
    "read_iso_time",
    "validate_lookup_name",
    "validate_name",
    "validate_text",
]

MAX_METADATA_BYTES = 100 * 1024


#: Ids are BIGINTs: at most 18 decimal digits always fit.
MAX_ID_DIGITS = 18


def parse_id(value: object, *, field: str, label: str | None = None, noun: str = "an id") -> int:
    """An id from the text a front end received: ASCII digits only, at most 18.

    ``str.isdigit`` alone is not enough: ``"²".isdigit()`` is true and ``int("²")``
    raises.  ``label`` is how the message names the field (``--before``), ``noun``
    what the value should have been (``a run id``).
    """
    text = str(value)
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_ID_DIGITS:
        raise InvalidInputError(f"{label or field} {text[:40]!r} is not {noun}", field=field)
    return int(text)


def validate_name(value: object, *, field: str, max_length: int = 100) -> str:
    """A product or environment name a write stores: the charset of
    :mod:`shipmate.domain.inputs.names` (letters, digits and ``. _ - +``)."""
    return validate_new_name(value, field=field, max_length=max_length)


def validate_text(value: object, *, field: str, max_length: int) -> str | None:
    """An optional free-text field: None or blank gives None; too long is an error."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"{field} must be a string", field=field)
    text = value.strip()
    if not text:
        return None
    if len(text) > max_length:
        raise InvalidInputError(
            f"{field} is {len(text)} characters long; the limit is {max_length}", field=field
        )
    if "\x00" in text:
        raise InvalidInputError(f"{field} must not contain NUL characters", field=field)
    return text


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def parse_metadata(value: object, *, field: str = "metadata") -> dict[str, Any]:
    """A JSON object given as text or as a mapping, at most 100 KB once encoded,
    within the limits of :mod:`shipmate.domain.inputs.jsonlimits` (depth, finite numbers,
    64-bit integers, key counts)."""
    if value is None:
        return {}
    if isinstance(value, str):
        if len(value.encode()) > MAX_METADATA_BYTES:
            raise PayloadTooLargeError(
                f"{field} is {len(value.encode())} bytes; the limit is {MAX_METADATA_BYTES}",
                field=field,
            )
        try:
            value = json.loads(value, parse_constant=_no_constant)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(
                f"{field} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                field=field,
            ) from None
        except ValueError as exc:  # NaN, Infinity, or an integer of thousands of digits
            raise InvalidInputError(
                f"{field} holds {str(exc)[:40]}: only finite numbers of at most 64 bits "
                "are allowed",
                field=field,
            ) from None
        except RecursionError:
            raise InvalidInputError(
                f"{field} is nested more than {MAX_DEPTH} levels deep; the limit is {MAX_DEPTH}",
                field=field,
            ) from None
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{field} must be a JSON object", field=field)
    data = dict(value)
    check_document(data, field=field)
    encoded = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    if len(encoded) > MAX_METADATA_BYTES:
        raise PayloadTooLargeError(
            f"{field} is {len(encoded)} bytes; the limit is {MAX_METADATA_BYTES}", field=field
        )
    if "\\u0000" in encoded.decode():
        raise InvalidInputError(f"{field} must not contain NUL characters", field=field)
    return data


def read_iso_time(text: str) -> datetime | None:
    """The time an ISO 8601 string states (``Z`` meaning UTC), naive if it names no zone.

    None when ``text`` is not such a time.
    """
    text = text.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def parse_time(value: object, *, field: str) -> datetime:
    """RFC 3339 / ISO 8601 with a zone (``Z`` or ``+hh:mm``); returned in UTC.

    A time without a zone is refused rather than guessed.  A datetime object is
    accepted when it is zone-aware.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        read = read_iso_time(value)
        if read is None:
            raise InvalidInputError(
                f"{field} {value!r} is not an RFC 3339 time (e.g. 2026-11-22T10:00:00Z)",
                field=field,
            )
        parsed = read
    else:
        raise InvalidInputError(f"{field} must be an RFC 3339 time string", field=field)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidInputError(
            f"{field} {value!r} has no time zone; add Z or an offset such as +00:00",
            field=field,
        )
    out_of_range = InvalidInputError(
        f"{field} {value!r} is out of range: times from 1970 to 9999 (in UTC) are allowed",
        field=field,
    )
    if not 1970 <= parsed.year <= 9999:
        raise out_of_range
    try:
        utc = parsed.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-23:59 is in year 10000 in UTC
        raise out_of_range from None
    if not 1 <= utc.year <= 9999:
        raise out_of_range
    return utc


def format_time(value: datetime | None) -> str | None:
    """UTC, RFC 3339, ``Z``, millisecond precision: ``2026-11-22T10:00:00.123Z``."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    elif value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # isoformat (C) rather than strftime: a history page or the matrix formats thousands.
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"

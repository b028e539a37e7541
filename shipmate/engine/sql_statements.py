"""SQL scripts read as statements: split for SQLite and PostgreSQL, checked, shown.

SQLite scripts are split where :func:`sqlite3.complete_statement` says a statement
ends, so trigger bodies stay whole; PostgreSQL scripts on top-level semicolons,
with quotes, comments and ``$tag$`` bodies respected.  A script that contains its
own ``BEGIN``/``COMMIT``/``ROLLBACK``/``SAVEPOINT`` is found by
:func:`find_transaction_control` (shipmate runs each script in one transaction of
its own).
"""

from __future__ import annotations

import re
import sqlite3

__all__ = [
    "find_transaction_control",
    "split_postgres_statements",
    "split_sqlite_statements",
    "split_statements",
    "statement_excerpt",
]

_TRANSACTION_WORDS = frozenset(
    {"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE", "START", "ABORT"}
)
_WORD = re.compile(r"[A-Za-z_]+")


def _skip_space_and_comments(sql: str, i: int) -> int:
    n = len(sql)
    while i < n:
        if sql[i].isspace():
            i += 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            break
    return i


def _first_word(statement: str) -> str:
    """The statement's first keyword, upper-cased ("" for an empty or comment-only one)."""
    i = _skip_space_and_comments(statement, 0)
    match = _WORD.match(statement, i)
    return match.group(0).upper() if match else ""


def split_sqlite_statements(script: str) -> list[str]:
    """The statements of ``script`` as SQLite reads them (comment-only pieces dropped)."""
    statements: list[str] = []
    pending = ""
    pieces = script.split(";")
    for piece in pieces[:-1]:
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if _first_word(pending):
                statements.append(pending.strip())
            pending = ""
    rest = pending + pieces[-1]
    if _first_word(rest):
        statements.append(rest.strip())
    return statements


_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


def split_postgres_statements(script: str) -> list[str]:
    """Top-level statements of a PostgreSQL script (quotes, comments, ``$$`` respected)."""
    statements: list[str] = []
    n = len(script)
    i = 0
    start = 0
    while i < n:
        ch = script[i]
        if ch == "'":
            escapes = i > 0 and script[i - 1] in "eE" and (i < 2 or not _ident(script[i - 2]))
            i += 1
            while i < n:
                if escapes and script[i] == "\\":
                    i += 2
                    continue
                if script[i] == "'":
                    if i + 1 < n and script[i + 1] == "'":
                        i += 2
                        continue
                    break
                i += 1
            i += 1
        elif ch == '"':
            end = script.find('"', i + 1)
            while end >= 0 and script.startswith('""', end):
                end = script.find('"', end + 2)
            i = n if end < 0 else end + 1
        elif script.startswith("--", i):
            end = script.find("\n", i)
            i = n if end < 0 else end + 1
        elif script.startswith("/*", i):
            depth = 0
            while i < n:
                if script.startswith("/*", i):
                    depth += 1
                    i += 2
                elif script.startswith("*/", i):
                    depth -= 1
                    i += 2
                    if depth == 0:
                        break
                else:
                    i += 1
        elif ch == "$" and (i == 0 or not _ident(script[i - 1])):
            match = _DOLLAR_TAG.match(script, i)
            if match is None:
                i += 1
                continue
            tag = match.group(0)
            end = script.find(tag, match.end())
            i = n if end < 0 else end + len(tag)
        elif ch == ";":
            piece = script[start : i + 1]
            if _first_word(piece):
                statements.append(piece.strip())
            i += 1
            start = i
        else:
            i += 1
    rest = script[start:]
    if _first_word(rest):
        statements.append(rest.strip())
    return statements


def _ident(ch: str) -> bool:
    return ch.isalnum() or ch in "_$"


def find_transaction_control(statements: list[str]) -> str | None:
    """The first statement that would begin or end a transaction itself, if any."""
    for statement in statements:
        word = _first_word(statement)
        if word in _TRANSACTION_WORDS:
            if word == "START" and "TRANSACTION" not in statement.upper():
                continue
            return statement
    return None


def split_statements(script: str, dialect: str) -> list[str]:
    """The statements of ``script`` as ``dialect`` (``sqlite`` or ``postgresql``) reads them."""
    if dialect == "sqlite":
        return split_sqlite_statements(script)
    return split_postgres_statements(script)


def statement_excerpt(statement: str) -> str:
    """The statement on one line, without leading comments, at most 120 characters."""
    line = " ".join(statement[_skip_space_and_comments(statement, 0) :].split())
    return line if len(line) <= 120 else line[:119] + "…"

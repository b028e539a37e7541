"""Gate rules: the ``[[gates]]`` of ``shipmate.toml`` and the rules managed in the database.

Rules from the configuration file are read-only through the CLI and the API
(409 naming the file); managed rules (table ``gate_rules``) are added, replaced,
switched between modes and removed with ``shipmate gates`` or
``/api/v1/gates/rules``, each change an event.  Names are unique,
case-insensitively, across both.  A new name is one URL path segment
(:func:`~shipmate.domain.inputs.segments.validate_segment`).  Every changing function
takes a :class:`RuleChange`, whose ``guard`` may refuse the rule about to be written
(or changed) inside the transaction: the API's product limits
(:mod:`shipmate.services.auth.access`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict, Unpack

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from shipmate.config import Settings
from shipmate.domain.gates.config import rule_from_dict, rule_to_dict, rules_from_list
from shipmate.domain.gates.rules import Rule, parse_mode
from shipmate.domain.inputs.fields import format_time, validate_text
from shipmate.domain.inputs.segments import validate_segment
from shipmate.errors import ConfigError, ConflictError, InvalidInputError, NotFoundError
from shipmate.services.context import Context
from shipmate.store.deployments import append_event
from shipmate.store.schema_gates import gate_rules

__all__ = [
    "CONFIG",
    "DATABASE",
    "Guard",
    "RuleChange",
    "StoredRule",
    "add_rule",
    "config_rules",
    "get_rule",
    "list_rules",
    "load_rules",
    "remove_rule",
    "replace_rule",
    "set_rule_mode",
]

CONFIG = "config"
DATABASE = "database"
#: May refuse a rule about to be written (raising); the API's product limits.
Guard = Callable[[Rule], None]


class RuleChange(TypedDict, total=False):
    """Who changes a managed rule: ``actor`` and ``key_name`` go to the event log;
    ``guard`` may refuse the rule about to be written, or changed, inside the transaction."""

    actor: str | None
    key_name: str | None
    guard: Guard | None


def _check(change: RuleChange, rule: Rule) -> None:
    guard = change.get("guard")
    if guard is not None:
        guard(rule)


@dataclass(frozen=True)
class StoredRule:
    """A rule and where it comes from: ``config`` (shipmate.toml) or ``database``."""

    rule: Rule
    source: str
    id: int | None = None
    created_at: datetime | None = None
    created_by: str | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None

    @property
    def read_only(self) -> bool:
        return self.source == CONFIG

    def to_dict(self) -> dict[str, Any]:
        return {
            **rule_to_dict(self.rule),
            "source": self.source,
            "read_only": self.read_only,
            "id": None if self.id is None else str(self.id),
            "created_at": format_time(self.created_at),
            "created_by": self.created_by,
            "updated_at": format_time(self.updated_at),
            "updated_by": self.updated_by,
        }


def config_rules(settings: Settings) -> list[Rule]:
    """The ``[[gates]]`` rules of the configuration file; a bad one is a ConfigError."""
    raw = settings.sections.get("gates")
    if raw is None:
        return []
    where = settings.config_file or "shipmate.toml"
    try:
        return rules_from_list(raw, field="gates")
    except InvalidInputError as exc:
        raise ConfigError(f"{where}: {exc.message}", field=exc.field) from None


def _stored(row: Any) -> StoredRule:
    m = row._mapping
    return StoredRule(
        rule=rule_from_dict(m["definition"], field=f"gate rule {m['name']!r}"),
        source=DATABASE,
        id=m["id"],
        created_at=m["created_at"],
        created_by=m["created_by"],
        updated_at=m["updated_at"],
        updated_by=m["updated_by"],
    )


def load_rules(conn: Connection, settings: Settings) -> list[StoredRule]:
    """Configuration rules first (file order), then managed rules (oldest first)."""
    out = [StoredRule(rule=r, source=CONFIG) for r in config_rules(settings)]
    rows = conn.execute(select(gate_rules).order_by(gate_rules.c.id)).all()
    out.extend(_stored(r) for r in rows)
    return out


def list_rules(ctx: Context) -> list[StoredRule]:
    with ctx.read() as conn:
        return load_rules(conn, ctx.settings)


def _rule_name(name: object) -> str:
    text = validate_text(name, field="name", max_length=100)
    if text is None:
        raise InvalidInputError("name must not be empty", field="name")
    return text


def _find(conn: Connection, settings: Settings, name: str) -> StoredRule:
    key = name.casefold()
    for stored in load_rules(conn, settings):
        if stored.rule.name.casefold() == key:
            return stored
    raise NotFoundError(
        f"gate rule {name!r} does not exist (shipmate gates list shows the rules)", field="name"
    )


def _managed(conn: Connection, settings: Settings, name: str, action: str) -> StoredRule:
    stored = _find(conn, settings, name)
    if stored.read_only:
        where = settings.config_file or "shipmate.toml"
        raise ConflictError(
            f"gate rule {stored.rule.name!r} comes from {where} and is read-only through the "
            f"CLI and the API; {action} it in that file",
            field="name",
        )
    return stored


@dataclass(frozen=True)
class _RuleWrite:
    """The write transaction on the managed rule ``old``, at ``now``, for ``change``."""

    conn: Connection
    settings: Settings
    old: StoredRule
    now: datetime
    change: RuleChange

    def store(self, rule: Rule, **extra: Any) -> StoredRule:
        """Write ``rule`` over ``old``, with a ``gate.rule_changed`` event."""
        self.conn.execute(
            update(gate_rules)
            .where(gate_rules.c.id == self.old.id)
            .values(
                name=rule.name,
                name_key=rule.name.casefold(),
                mode=rule.mode.value,
                definition=rule_to_dict(rule),
                updated_at=self.now,
                updated_by=self.change.get("actor"),
            )
        )
        _rule_event(self.conn, "gate.rule_changed", rule, self.now, self.change, **extra)
        return _find(self.conn, self.settings, rule.name)


@contextmanager
def _changing(ctx: Context, name: str, action: str, change: RuleChange) -> Iterator[_RuleWrite]:
    """A write transaction on the managed rule ``name``, once the guard lets it be changed."""
    now = ctx.now()
    with ctx.write() as conn:
        old = _managed(conn, ctx.settings, name, action)
        _check(change, old.rule)
        yield _RuleWrite(conn, ctx.settings, old, now, change)


def get_rule(ctx: Context, name: str) -> StoredRule:
    with ctx.read() as conn:
        return _find(conn, ctx.settings, _rule_name(name))


def _rule_event(
    conn: Connection,
    type_: str,
    rule: Rule,
    now: datetime,
    change: RuleChange,
    **extra: Any,
) -> None:
    append_event(
        conn,
        type=type_,
        at=now,
        actor=change.get("actor"),
        key_name=change.get("key_name"),
        data={"rule_name": rule.name, "rule": rule_to_dict(rule), **extra},
    )


def add_rule(
    ctx: Context,
    definition: Mapping[str, object],
    **change: Unpack[RuleChange],
) -> StoredRule:
    """Store a new rule (its TOML/JSON form); names are unique, case-insensitively,
    across the configuration file and the database (``change``: see :class:`RuleChange`)."""
    rule = rule_from_dict(definition)
    validate_segment(rule.name, field="name", what="a gate rule's name")
    _check(change, rule)
    now = ctx.now()
    actor = change.get("actor")
    try:
        with ctx.write() as conn:
            _refuse_taken(conn, ctx.settings, rule.name)
            conn.execute(
                insert(gate_rules).values(
                    name=rule.name,
                    name_key=rule.name.casefold(),
                    kind=rule.kind.value,
                    mode=rule.mode.value,
                    definition=rule_to_dict(rule),
                    created_at=now,
                    created_by=actor,
                    updated_at=now,
                    updated_by=actor,
                )
            )
            _rule_event(conn, "gate.rule_added", rule, now, change)
            return _find(conn, ctx.settings, rule.name)
    except IntegrityError:
        raise _taken(rule.name, "the database") from None


def _refuse_taken(conn: Connection, settings: Settings, name: str) -> None:
    try:
        existing = _find(conn, settings, name)
    except NotFoundError:
        return
    where = (settings.config_file or "shipmate.toml") if existing.read_only else "the database"
    raise _taken(existing.rule.name, where)


def _taken(name: str, where: str) -> ConflictError:
    return ConflictError(
        f"a gate rule named {name!r} already exists (in {where}); pick another name, "
        "or change that rule",
        field="name",
    )


def replace_rule(
    ctx: Context,
    name: str,
    definition: Mapping[str, object],
    **change: Unpack[RuleChange],
) -> StoredRule:
    """Replace a managed rule's definition (its name may change, its kind may not)."""
    name = _rule_name(name)
    data = dict(definition)
    data.setdefault("name", name)
    rule = rule_from_dict(data)
    try:
        with _changing(ctx, name, "change", change) as write:
            old = write.old
            _check(change, rule)
            if rule.kind is not old.rule.kind:
                raise InvalidInputError(
                    f"kind: rule {old.rule.name!r} is a {old.rule.kind.value} rule; remove it "
                    f"and add a {rule.kind.value} rule instead",
                    field="kind",
                )
            if rule.name.casefold() != old.rule.name.casefold():
                validate_segment(rule.name, field="name", what="a gate rule's name")
                _refuse_taken(write.conn, ctx.settings, rule.name)
            return write.store(rule, previous=rule_to_dict(old.rule))
    except IntegrityError:
        raise _taken(rule.name, "the database") from None


def set_rule_mode(
    ctx: Context,
    name: str,
    mode: str,
    **change: Unpack[RuleChange],
) -> StoredRule:
    """``enabled``, ``report_only`` or ``disabled`` for a managed rule."""
    name = _rule_name(name)
    new_mode = parse_mode(mode)
    with _changing(ctx, name, "change the mode of", change) as write:
        old = write.old.rule
        rule = rule_from_dict({**rule_to_dict(old), "mode": new_mode.value})
        return write.store(rule, from_mode=old.mode.value, to_mode=new_mode.value)


def remove_rule(
    ctx: Context,
    name: str,
    **change: Unpack[RuleChange],
) -> StoredRule:
    """Delete a managed rule; the event log keeps its definition."""
    name = _rule_name(name)
    with _changing(ctx, name, "remove", change) as write:
        write.conn.execute(delete(gate_rules).where(gate_rules.c.id == write.old.id))
        _rule_event(write.conn, "gate.rule_removed", write.old.rule, write.now, change)
    return write.old

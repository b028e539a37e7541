"""Handlers of ``versions`` and ``drain check``: parse, call a service, render.

``versions`` reads the database directly, or in remote mode (``--url``) what the
server knows (``GET /api/v1/version-states``).  ``drain check`` reads drain checks
and stops slots on this host, so in remote mode it refuses: run it on the host.

``drain check`` shows every reading: on a terminal one line per version rewritten
in place (``3 pending (12s)``), elsewhere (a pipe, CI) a plain line at most every
few seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, TextIO

from shipmate.cli import render
from shipmate.cli.arguments import local_only
from shipmate.config import Settings
from shipmate.errors import InvalidInputError

__all__ = [
    "STILL_DRAINING",
    "DrainProgress",
    "cmd_drain_check",
    "cmd_versions",
    "describe_state",
    "drain_exit_code",
    "render_states",
]

_COLOURS = {"active": "32", "draining": "33", "drained": "36", "retired": "2"}
#: Plain output prints a reading at most this often per version.
PLAIN_EVERY = 5.0


def render_states(states: list[Any]) -> str:
    """The version states as a table."""
    if not states:
        return "no versions recorded"
    rows = []
    colours = []
    for s in states:
        pending = "-" if s.pending is None else str(s.pending)
        drain = "-"
        if s.drain_seconds is not None:
            drain = f"{s.drain_seconds:.1f}s"
        elif s.state == "draining" and s.drain_started_at is not None:
            drain = f"since {render.when(s.drain_started_at)}"
        note = s.note or ""
        if s.forced:
            note = f"forced with {s.forced_pending} pending" + (f"; {note}" if note else "")
        rows.append(
            [
                s.environment,
                s.full_version,
                s.state,
                s.slot or "-",
                pending,
                render.when(s.since),
                drain,
                note,
            ]
        )
        colours.append(_COLOURS.get(s.state))
    return render.table(
        ["ENV", "VERSION", "STATE", "SLOT", "PENDING", "SINCE", "DRAIN", "NOTE"], rows, colours
    )


def describe_state(state: Any) -> str:
    """One line: ``Version state: draining in slot blue, 3 pending (since ...)``."""
    shown = render.colour(render.p(state.state), _COLOURS.get(state.state))
    parts = [f"Version state: {shown}"]
    if state.slot:
        parts.append(f" in slot {render.p(state.slot)}")
    if state.state == "draining":
        pending = "?" if state.pending is None else state.pending
        since = state.drain_started_at or state.since
        parts.append(f", {pending} pending (draining since {render.when(since)})")
    else:
        parts.append(f" since {render.when(state.since)}")
    if state.drain_seconds is not None:
        parts.append(f"; drained in {state.drain_seconds:.1f}s")
    if state.forced:
        parts.append(f"; retired by force with {state.forced_pending} pending")
    return "".join(parts)


def _remote_states(settings: Settings, product: str, env: str | None) -> list[Any]:
    """What the server knows of the versions' states (``GET /api/v1/version-states``)."""
    from shipmate.cli.backends.remote import RemoteBackend
    from shipmate.domain.versionstates import VersionState

    query = {"product": product} | ({"environment": env} if env else {})
    answer = RemoteBackend(settings).api("GET", "/api/v1/version-states", query=query)
    return [VersionState.from_dict(item) for item in answer["items"]]


def cmd_versions(args: argparse.Namespace, settings: Settings) -> int:
    product = args.product or settings.product
    if not product:
        raise InvalidInputError(
            "product is required: pass --product, set SHIPMATE_PRODUCT, or put "
            'product = "..." in shipmate.toml',
            field="product",
        )
    if settings.url:
        states = _remote_states(settings, product, args.env)
        if args.state:
            states = [s for s in states if s.state in args.state]
        return _print_states(args, product, states)
    from shipmate.services.context import open_context
    from shipmate.services.draining.states import list_version_states, require_product

    ctx = open_context(settings)
    try:
        require_product(ctx, product)
        states = list_version_states(
            ctx, product, args.env, states=tuple(args.state) if args.state else None
        )
    finally:
        ctx.close()
    return _print_states(args, product, states)


def _print_states(args: argparse.Namespace, product: str, states: list[Any]) -> int:
    if args.json:
        render.print_json({"product": product, "items": [s.to_dict() for s in states]})
    else:
        print(render_states(states))
    return 0


class DrainProgress:
    """Readings of ``drain check``: a rewritten line on a terminal, plain lines elsewhere."""

    def __init__(self, out: TextIO, *, interactive: bool | None = None) -> None:
        self.out = out
        if interactive is None:
            interactive = (
                out.isatty()
                and os.environ.get("CI", "").lower() not in ("1", "true", "yes")
                and os.environ.get("TERM") != "dumb"
            )
        self.interactive = interactive
        self.current: str | None = None
        self.last: dict[str, float] = {}

    def __call__(self, full_version: str, message: str) -> None:
        if self.interactive:
            self.out.write(f"\r\033[K  {full_version}: {message}")
            self.out.flush()
            self.current = full_version
            return
        now = time.monotonic()
        if now - self.last.get(full_version, -1e9) >= PLAIN_EVERY:
            self.last[full_version] = now
            self.out.write(f"  {full_version}: {message}\n")
            self.out.flush()

    def end_line(self) -> None:
        if self.interactive and self.current is not None:
            self.out.write("\r\033[K")
            self.out.flush()
            self.current = None


def cmd_drain_check(args: argparse.Namespace, settings: Settings) -> int:
    local_only(
        settings,
        "drain check",
        "reads each version's drain check from the host that runs it and stops its slot "
        "there, which a server cannot do for a host (and agents do not do yet)",
        " on the host itself",
    )
    from shipmate.services.context import open_context
    from shipmate.services.draining.check import check_draining

    stream = sys.stderr if args.json else sys.stdout
    progress = DrainProgress(stream)
    ctx = open_context(settings)
    try:
        reports = check_draining(
            ctx, args.product, args.env, force=args.force, wait=args.wait, say=progress
        )
    finally:
        progress.end_line()
        ctx.close()
    if args.json:
        render.print_json({"items": [r.to_dict() for r in reports]})
    elif not reports:
        print("no version is draining")
    else:
        for r in reports:
            colour = {"retired": "32", "active": "32", "draining": "33"}.get(r.outcome, "31")
            print(
                render.colour(
                    f"{render.p(r.product)} {render.p(r.full_version)} in "
                    f"{render.p(r.environment)}: {r.outcome}: {render.p(r.message)}",
                    colour,
                )
            )
    return drain_exit_code(reports)


#: ``drain check``'s exit code when a version is still draining (or waits for a run).
STILL_DRAINING = 5


def drain_exit_code(reports: list[Any]) -> int:
    """1 when a version could not be checked (``error``), else :data:`STILL_DRAINING`
    when one is left ``draining`` or ``busy`` (a run is in progress: checked again
    later), else 0: every version is retired or active again."""
    outcomes = {r.outcome for r in reports}
    if "error" in outcomes:
        return 1
    if outcomes & {"draining", "busy"}:
        return STILL_DRAINING
    return 0

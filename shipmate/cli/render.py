"""Text rendering for the terminal: tables, the matrix, stats.  No logic.

Every stored value reaches the terminal through :func:`printable` (``p`` here):
:func:`table` applies it to every cell, so a renderer that builds a table is
covered; a renderer that builds its own lines passes each value through ``p``.
A control character or escape sequence a client stored is shown as ``\\x1b``,
never sent to the terminal.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shipmate.domain.inputs.fields import format_time
from shipmate.domain.printable import printable
from shipmate.domain.records import DeploymentRecord, HistoryPage

if TYPE_CHECKING:
    from shipmate.domain.matrix import Matrix
    from shipmate.domain.stats import Stats

__all__ = [
    "age",
    "p",
    "print_json",
    "render_deployment",
    "render_history",
    "render_matrix",
    "render_stats",
    "table",
    "table_line",
]

_COLOURS = {
    "completed": "32",
    "failed": "31",
    "aborted": "33",
    "rolled_back": "35",
    "started": "36",
    "pending": "36",
}


#: What every renderer calls on a stored value it prints.
p = printable


def colour_wanted(environ: Mapping[str, str], is_tty: bool) -> bool:
    """The usual conventions, in the order Python itself follows: a non-empty
    ``NO_COLOR`` turns colour off; else a non-empty ``FORCE_COLOR`` turns it on, even
    when the output is not a terminal (CI logs that render ANSI); else ``TERM=dumb``
    turns it off; else colour only on a terminal."""
    if environ.get("NO_COLOR"):
        return False
    if environ.get("FORCE_COLOR"):
        return True
    if environ.get("TERM") == "dumb":
        return False
    return is_tty


def _use_colour() -> bool:
    return colour_wanted(os.environ, sys.stdout.isatty())


def colour(text: str, code: str | None) -> str:
    if not code or not _use_colour():
        return text
    return f"\033[{code}m{text}\033[0m"


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def age(seconds: float) -> str:
    """3d, 5h, 12m, 40s: the largest unit that fits."""
    s = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"


def duration(ms: int | None) -> str:
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms}ms"
    return age(ms / 1000) if ms >= 60_000 else f"{ms / 1000:.1f}s"


def when(value: datetime | None) -> str:
    text = format_time(value)
    return "-" if text is None else text[:16].replace("T", " ")


def table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], colours: Sequence[str | None] = ()
) -> str:
    """Aligned columns; every header and cell is shown through :func:`printable`."""
    headers = [printable(h) for h in headers]
    rows = [[printable(cell) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for n, row in enumerate(rows):
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=True)]
        code = colours[n] if n < len(colours) else None
        if code:
            status_col = headers.index("STATUS") if "STATUS" in headers else -1
            if status_col >= 0:
                cells[status_col] = colour(cells[status_col], code)
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def table_line(values: Sequence[str]) -> str:
    """Values on one line, separated by a space, each through :func:`printable`."""
    return " ".join(printable(v) for v in values)


def render_history(page: HistoryPage) -> str:
    if not page.items:
        return "No deployments match."
    rows = []
    for d in page.items:
        rows.append(
            [
                str(d.id),
                d.product,
                d.environment,
                d.full_version,
                d.status,
                d.kind,
                when(d.deployed_at),
                duration(d.duration_ms),
                d.deployed_by or "-",
                (d.commit_sha or "-")[:10],
            ]
        )
    out = table(
        [
            "ID",
            "PRODUCT",
            "ENV",
            "VERSION",
            "STATUS",
            "KIND",
            "DEPLOYED (UTC)",
            "TOOK",
            "BY",
            "COMMIT",
        ],
        rows,
        [_COLOURS.get(d.status) for d in page.items],
    )
    if page.next_cursor:
        out += f"\n\nMore: --cursor {page.next_cursor}"
    return out


def render_deployment(d: DeploymentRecord) -> str:
    lines = [
        f"Deployment {d.id}: {p(d.product)} {p(d.full_version)} -> {p(d.environment)} "
        f"({p(d.environment_kind)})",
        f"  status      {colour(p(d.status), _COLOURS.get(d.status))}",
        f"  kind        {p(d.kind)}" + (f" (reverts {d.reverts_id})" if d.reverts_id else ""),
        f"  deployed    {format_time(d.deployed_at)} by {p(d.deployed_by or '-')}",
        f"  started     {format_time(d.started_at) or '-'}",
        f"  finished    {format_time(d.finished_at) or '-'}  took {duration(d.duration_ms)}",
        f"  commit      {p(d.commit_sha or '-')}  branch {p(d.branch or '-')}",
    ]
    if d.repository:
        lines.append(f"  repository  {p(d.repository)}")
    if d.ci_platform or d.ci_run_id:
        lines.append(f"  ci          {p(d.ci_platform or '-')} run {p(d.ci_run_id or '-')}")
    if d.ci_run_url:
        lines.append(f"  ci url      {p(d.ci_run_url)}")
    if d.metadata:
        shown = json.dumps(d.metadata, ensure_ascii=False, sort_keys=True)
        lines.append("  metadata    " + p(shown))
    if d.events:
        lines.append("")
        lines.append("Events:")
        for e in d.events:
            change = f"{e.from_status or '(new)'} -> {e.to_status}" if e.to_status else ""
            who = e.actor or "-"
            if e.key_name:
                who += f" (key {e.key_name})"
            lines.append(f"  {format_time(e.at)}  {e.type:<24} {p(change):<24} {p(who)}")
    return "\n".join(lines)


def render_matrix(m: Matrix) -> str:
    if not m.products:
        return "Nothing deployed yet."
    env_names = [name for name, _ in m.environments]
    rows = []
    drifted = warned = False
    for product in m.products:
        row = [product]
        for env in env_names:
            cell = m.cell(product, env)
            if cell is None:
                row.append("-")
                continue
            mark = "!" if cell.drift_warning else ("*" if cell.drift else "")
            drifted = drifted or mark == "*"
            warned = warned or mark == "!"
            spread = f" [{cell.hosts}]" if cell.hosts else ""
            row.append(f"{cell.full_version}{mark} ({age(cell.age_seconds)}){spread}")
        rows.append(row)
    out = table(["PRODUCT", *env_names], rows)
    if drifted:
        out += "\n\n* differs from the most-promoted environment's version (drift)"
    if warned:
        out += "\n" if drifted else "\n\n"
        out += "! behind a later environment, or never in the one before (drift to look at)"
    return out


def render_stats(s: Stats) -> str:
    rate = "-" if s.success_rate is None else f"{s.success_rate * 100:.1f}%"
    lines = [
        f"Total deployments   {s.total}",
        *(f"  {status:<18}{n}" for status, n in s.by_status.items() if n),
        f"Success rate        {rate}   (completed / (completed + failed + rolled back))",
        f"Latest completed    {p(s.latest_full_version or '-')}"
        + (f"  at {format_time(s.latest_deployed_at)}" if s.latest_deployed_at else ""),
    ]
    if s.versions:
        lines.append("")
        lines.append(
            table(
                ["VERSION", "TOTAL", "COMPLETED", "FAILED", "ROLLED BACK"],
                [
                    [v.version, str(v.total), str(v.completed), str(v.failed), str(v.rolled_back)]
                    for v in s.versions[:20]
                ],
            )
        )
        if len(s.versions) > 20:
            lines.append(f"... and {len(s.versions) - 20} more versions (--json for all)")
    return "\n".join(lines)

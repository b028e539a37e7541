"""Handlers of ``shipmate dora`` and ``shipmate changelog``: parse, call the backend, render.

Both work against the local database or, with ``SHIPMATE_URL`` set, a server
(``GET /api/v1/dora``, ``GET /api/v1/changelog``); the output is the same.
"""

from __future__ import annotations

import argparse
from typing import Any

from shipmate.cli import render
from shipmate.cli.arguments import moment_of, product_of
from shipmate.cli.backends.interface import open_backend
from shipmate.config import Settings
from shipmate.errors import InvalidInputError

__all__ = ["cmd_changelog", "cmd_dora", "render_dora"]

_BAND_COLOURS = {"elite": "32", "high": "36", "medium": "33", "low": "31"}


def _band(value: str | None) -> str:
    return render.colour(value, _BAND_COLOURS.get(value)) if value else "-"


def _rate(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if value else "0"


def _metric_rows(d: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    freq, lead = d["deployment_frequency"], d["lead_time"]
    cfr, rec = d["change_failure_rate"], d["recovery_time"]
    days = f"on {freq['deployment_days']} day" + ("" if freq["deployment_days"] == 1 else "s")
    frequency = (
        f"{freq['deployments']} deployments ({_rate(freq['per_day'])}/day, "
        f"{_rate(freq['per_week'])}/week) {days}"
    )
    lead_text = (
        f"median {lead['median']}, p90 {lead['p90']} ({lead['samples']} commits)"
        if lead["samples"]
        else "no commit times"
    )
    cfr_text = (
        f"{cfr['percent']}% ({cfr['failures']} of {cfr['went_live']} that went live)"
        if cfr["rate"] is not None
        else "nothing went live"
    )
    if cfr["stopped_before_traffic"]:
        cfr_text += f", {cfr['stopped_before_traffic']} stopped before traffic"
    if rec["recovered"]:
        rec_text = f"median {rec['median']}, p90 {rec['p90']} ({rec['recovered']} recovered"
        rec_text += f", {rec['unrecovered']} not yet)" if rec["unrecovered"] else ")"
    elif rec["unrecovered"]:
        rec_text = f"{rec['unrecovered']} failures not recovered yet"
    else:
        rec_text = "no failures"
    return [
        ("Deployment frequency", frequency, freq["band"]),
        ("Lead time for changes", lead_text, lead["band"]),
        ("Change failure rate", cfr_text, cfr["band"]),
        ("Failed deployment recovery", rec_text, rec["band"]),
    ]


def render_dora(d: dict[str, Any]) -> str:
    """The four metrics with bands, then one line per stream when there are several."""
    scope = d["product"] or "every product"
    where = d["environment"] or (
        ", ".join(d["environments"]) if d["environments"] else "no production environment"
    )
    period = d["period"]
    lines = [
        f"DORA metrics: {render.p(scope)} in {render.p(where)}",
        f"Period: {period['start']} to {period['end']} ({period['days']:g} days)",
        "",
    ]
    rows = _metric_rows(d)
    width = max(len(name) for name, _, _ in rows)
    value_width = max(len(value) for _, value, _ in rows)
    for name, value, band in rows:
        lines.append(f"{name.ljust(width)}  {value.ljust(value_width)}  {_band(band)}")
    sources = d.get("lead_time_sources") or {}
    if any(sources.values()):
        parts = [f"{n} {k.replace('_', ' ')}" for k, n in sources.items() if n]
        lines += ["", "Lead time samples by deployment: " + ", ".join(parts)]
    streams = d.get("streams") or []
    if len(streams) > 1:
        lines.append("")
        lines.append(
            render.table(
                ["STREAM", "DEPLOYS", "LEAD TIME", "FAILURE RATE", "RECOVERY"],
                [
                    [
                        s["stream"],
                        str(s["deployment_frequency"]["deployments"]),
                        s["lead_time"]["median"] or "-",
                        "-"
                        if s["change_failure_rate"]["percent"] is None
                        else f"{s['change_failure_rate']['percent']}%",
                        s["recovery_time"]["median"] or "-",
                    ]
                    for s in streams
                ],
            )
        )
    lines += ["", "Bands and definitions: docs/metrics.md"]
    return "\n".join(lines)


def cmd_dora(args: argparse.Namespace, settings: Settings) -> int:
    if args.days is not None and args.since is not None:
        raise InvalidInputError("give --days or --since, not both", field="days")
    backend = open_backend(settings)
    try:
        data = backend.dora(
            product=args.product,
            environment=args.env,
            days=args.days,
            since=moment_of(args.since, "since"),
            until=moment_of(args.until, "until"),
            repo=args.repo,
        )
    finally:
        backend.close()
    if args.json:
        render.print_json(data)
    else:
        print(render_dora(data))
    return 0


def cmd_changelog(args: argparse.Namespace, settings: Settings) -> int:
    product = product_of(args.product, settings)
    backend = open_backend(settings)
    try:
        data = backend.changelog(
            product=product,
            environment=args.env,
            from_ref=args.from_ref,
            to_ref=args.to_ref,
            repo=args.repo,
        )
    finally:
        backend.close()
    if args.json or args.format == "json":
        render.print_json(data)
    else:
        print("\n".join(render.p(line) for line in data["markdown"].rstrip("\n").split("\n")))
    return 0

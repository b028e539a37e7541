"""Notification messages: the title, text and JSON body of one delivery.  No I/O.

The wording is shipmate's own; every value filled into it (product, version,
environment, actor, branch, reason, CI link) goes through
:func:`~shipmate.domain.notify.escape.escape_value` for the rule's target
dialect, so no value can start a fake line, a link or a mention.  The JSON body
keeps the structured values unchanged (JSON encoding escapes them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shipmate.domain.inputs.fields import format_time
from shipmate.domain.notify.escape import MessageFormat, escape_teams_title, escape_value
from shipmate.domain.notify.rules import NotificationEvent
from shipmate.domain.records import DeploymentRecord

__all__ = ["SCHEMA", "Message", "build_message", "build_test_message", "format_duration"]

#: The ``schema`` field of every webhook body.
SCHEMA = "shipmate.notification.v1"


@dataclass(frozen=True)
class Message:
    """What one delivery says: a title and text (Apprise) and the JSON body (webhooks)."""

    title: str
    text: str
    #: ``info``, ``success``, ``warning`` or ``failure`` (Apprise's notify types).
    severity: str
    payload: dict[str, Any]


def format_duration(ms: int | None) -> str | None:
    """``2m 14s``, ``1h 5m``, ``850ms``: two units at most."""
    if ms is None or ms < 0:
        return None
    if ms < 1000:
        return f"{ms}ms"
    seconds = ms // 1000
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{n}{u}" for n, u in parts if n][:2]
    return " ".join(shown)


_SEVERITY = {
    "deployment.pending": "info",
    "deployment.started": "info",
    "deployment.completed": "success",
    "deployment.failed": "failure",
    "deployment.aborted": "warning",
    "deployment.rolled_back": "warning",
    "gate.blocked": "warning",
    "run.failed": "failure",
    "version.drained": "info",
}


#: The title of each event type; ``{what}`` is "Deployment", "Rollback" or "Roll-forward".
_TITLES = {
    "deployment.started": "{what} of {product} {version} to {env} started",
    "deployment.pending": "{what} of {product} {version} to {env} is pending",
    "deployment.failed": "{what} of {product} {version} to {env} failed",
    "deployment.aborted": "{what} of {product} {version} to {env} was aborted",
    "deployment.rolled_back": "{product} {version} in {env} was rolled back",
    "gate.blocked": "Deployment of {product} {version} to {env} blocked by a gate",
    "run.failed": "{what} run of {product} {version} to {env} failed",
    "version.drained": "{product} {version} drained in {env}",
}


def _title(event: NotificationEvent, product: str, version: str, env: str) -> str:
    """The title; ``product``, ``version`` and ``env`` arrive escaped."""
    kind = event.deployment.kind if event.deployment is not None else "deploy"
    what = {"rollback": "Rollback", "rollforward": "Roll-forward"}.get(kind, "Deployment")
    t = event.type
    if t == "deployment.completed":
        if kind == "rollback":
            return f"Rolled back {product} in {env} to {version}"
        return f"Deployed {product} {version} to {env}"
    template = _TITLES.get(t)
    if template is None:
        return f"{t}: {product} {version} in {env}"
    return template.format(what=what, product=product, version=version, env=env)


def _text(value: object, limit: int = 500) -> str | None:
    if value is None or value == "":
        return None
    text = str(value).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def build_message(
    event: NotificationEvent,
    *,
    rule_name: str,
    base_url: str | None,
    fmt: MessageFormat = MessageFormat.PLAIN,
) -> Message:
    """The title, text and JSON body for ``event`` sent under ``rule_name`` to ``fmt``."""
    dep = event.deployment
    product = event.product or "?"
    env = event.environment or "?"
    version = (
        dep.version
        if dep is not None
        else _text(event.data.get("version")) or _text(event.data.get("full_version")) or "?"
    )
    full_version = (
        dep.full_version if dep is not None else _text(event.data.get("full_version")) or version
    )
    actor = event.actor or (dep.deployed_by if dep is not None else None)
    finished = event.type in ("deployment.completed", "deployment.failed", "deployment.aborted")
    duration_ms = dep.duration_ms if dep is not None and finished else None
    duration = format_duration(duration_ms)
    deployment_id = (
        event.deployment_id
        if event.deployment_id is not None
        else (dep.id if dep is not None else None)
    )
    link = f"{base_url}/deployments/{deployment_id}" if base_url and deployment_id else None
    reason = (
        _text(event.data.get("reason"))
        or _text(event.data.get("message"))
        or _text(event.data.get("error"))
    )

    severity = _SEVERITY.get(event.type, "info")

    def v(value: object) -> str:
        return escape_value(value, fmt)

    title = _title(event, v(product), v(full_version), v(env))
    lines = [title]
    facts = [f"product {v(product)}", f"version {v(full_version)}", f"environment {v(env)}"]
    lines.append(" · ".join(facts))
    who = []
    if actor:
        who.append(f"by {v(actor)}")
    if duration:
        who.append(f"took {duration}")
    if dep is not None and dep.commit_sha:
        commit = v(dep.commit_sha[:12])
        who.append(f"commit {commit}" + (f" ({v(dep.branch)})" if dep.branch else ""))
    if who:
        lines.append(" · ".join(who))
    if reason:
        lines.append(f"reason: {v(reason)}")
    if dep is not None and dep.ci_run_url:
        lines.append(f"CI: {_url(dep.ci_run_url, fmt)}")
    if link:
        lines.append(link)
    text = "\n".join(lines)
    if fmt == MessageFormat.TEAMS:
        title = escape_teams_title(title)  # Apprise converts a Teams body, not its title

    payload: dict[str, Any] = {
        "schema": SCHEMA,
        "rule": rule_name,
        "event": {
            "id": str(event.id),
            "type": event.type,
            "at": format_time(event.at),
        },
        "title": title,
        "text": text,
        "severity": severity,
        "product": event.product,
        "environment": event.environment,
        "version": None if version == "?" else version,
        "full_version": None if full_version == "?" else full_version,
        "status": event.to_status,
        "from_status": event.from_status,
        "actor": actor,
        "duration_ms": duration_ms,
        "duration": duration,
        "link": link,
        "deployment": None if dep is None else _deployment_summary(dep),
        "data": dict(event.data),
    }
    return Message(title=title, text=text, severity=severity, payload=payload)


def _url(url: str, fmt: MessageFormat) -> str:
    """A link keeps its punctuation; only its controls and, for Discord, mentions go."""
    shown = escape_value(url, MessageFormat.PLAIN)
    return shown.replace("@", "@\u200b") if fmt == MessageFormat.DISCORD else shown


def _deployment_summary(dep: DeploymentRecord) -> dict[str, Any]:
    return {
        "id": str(dep.id),
        "kind": dep.kind,
        "status": dep.status,
        "reverts_id": None if dep.reverts_id is None else str(dep.reverts_id),
        "build_number": dep.build_number,
        "commit_sha": dep.commit_sha,
        "branch": dep.branch,
        "repository": dep.repository,
        "deployed_by": dep.deployed_by,
        "ci_run_url": dep.ci_run_url,
        "started_at": format_time(dep.started_at),
        "finished_at": format_time(dep.finished_at),
    }


def build_test_message(*, rule_name: str, at: datetime, base_url: str | None) -> Message:
    """What ``shipmate notifications test`` sends: proof the target is reachable."""
    title = f"Test notification from shipmate (rule {rule_name})"
    text = f"{title}\nIf you can read this, rule {rule_name} reaches its target."
    if base_url:
        text += f"\n{base_url}/"
    payload: dict[str, Any] = {
        "schema": SCHEMA,
        "rule": rule_name,
        "event": {"id": None, "type": "test", "at": format_time(at)},
        "title": title,
        "text": text,
        "severity": "info",
        "product": None,
        "environment": None,
        "version": None,
        "full_version": None,
        "status": None,
        "from_status": None,
        "actor": None,
        "duration_ms": None,
        "duration": None,
        "link": f"{base_url}/" if base_url else None,
        "deployment": None,
        "data": {},
    }
    return Message(title=title, text=text, severity="info", payload=payload)

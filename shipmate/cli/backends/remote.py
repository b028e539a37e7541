"""Remote mode: the CLI's calls go to a shipmate server over HTTP.

Uses only the standard library (:mod:`shipmate.cli.backends.transport`, on
``socket``) so the CLI stays quick to start.
Network errors and 5xx answers are retried with exponential backoff for a bounded
time (``SHIPMATE_RETRY_SECONDS``, default 30).  Every write carries an
``Idempotency-Key`` made once per command, so a retried ``record`` or ``version
next`` never records twice nor burns a build number.  Error answers are turned
back into the same exception classes the local backend raises, so exit codes and
messages match.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
from dataclasses import MISSING, fields
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

from shipmate import errors
from shipmate.cli.backends import transport
from shipmate.cli.backends.interface import (
    Backend,
    ChangelogQuery,
    DoraQuery,
    RollbackMarkTarget,
    UnlockTarget,
)
from shipmate.config import Settings
from shipmate.domain.inputs.fields import format_time, parse_time
from shipmate.domain.records import BuildRecord, DeploymentRecord, EventRecord, HistoryPage
from shipmate.domain.requests import MAX_CANDIDATES, BuildRequest, HistoryFilter, RecordRequest

if TYPE_CHECKING:
    from shipmate.domain.matrix import Matrix
    from shipmate.domain.stats import Stats
    from shipmate.domain.versionstates import VersionState

__all__ = ["RemoteBackend", "deployment_record"]


#: Fields of the records that hold times (RFC 3339 text in the API's JSON).
_TIMES = frozenset(
    {"at", "commit_time", "completed_at", "created_at", "deployed_at", "finished_at"}
    | {"latest_deployed_at", "since", "started_at", "updated_at"}
)
#: Fields named like ids that are text (a CI platform's run id).
_TEXT_IDS = frozenset({"ci_run_id"})
_Record = TypeVar("_Record")


def _record(cls: type[_Record], d: dict[str, Any], **converted: Any) -> _Record:
    """A record from the API's JSON: each field by name (None where the answer leaves
    it out, the record's default where it has one), ids as ints, times parsed, ``{}``
    for empty metadata; ``converted`` gives the fields decoded otherwise."""
    values: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        value = d.get(f.name)
        if f.name in converted or (value is None and f.default is not MISSING):
            continue
        if f.name in _TIMES and value is not None:
            value = parse_time(value, field=f.name)
        elif (f.name == "id" or f.name.endswith("_id")) and f.name not in _TEXT_IDS:
            value = None if value is None else int(value)
        elif f.name in ("metadata", "data"):
            value = value or {}
        values[f.name] = value
    return cls(**values, **converted)


def _deployment(d: dict[str, Any]) -> DeploymentRecord:
    events = tuple(_record(EventRecord, e) for e in d.get("events", ()))
    return _record(DeploymentRecord, d, events=events)


def deployment_record(d: dict[str, Any]) -> DeploymentRecord:
    """A deployment from the API's JSON (the remote run commands read them too)."""
    return _deployment(d)


def _override(req: RecordRequest) -> dict[str, Any]:
    """Sent only when used, so servers without gates keep accepting the body."""
    if not req.override_gates and req.override_reason is None:
        return {}
    return {"override_gates": req.override_gates, "override_reason": req.override_reason}


def _given(**values: str | None) -> dict[str, str]:
    """The query parameters that have a value."""
    return {k: v for k, v in values.items() if v is not None}


def _filter_query(f: HistoryFilter) -> dict[str, str]:
    names = ("product", "environment", "status", "version", "branch", "actor", "kind")
    return _given(
        **{name: getattr(f, name) for name in names},
        since=format_time(f.since),
        until=format_time(f.until),
    )


def _shown(url: str) -> str:
    """``url`` as an error message may show it (the redaction patterns are compiled
    only when an error needs them)."""
    from shipmate.domain.redaction import redact_url

    return redact_url(url)


class RemoteBackend(Backend):
    """The :class:`~shipmate.cli.backends.interface.Backend` that talks to ``shipmate serve``."""

    def __init__(self, settings: Settings) -> None:
        assert settings.url
        self.base = settings.url.rstrip("/")
        if not self.base.startswith(("http://", "https://")):
            raise errors.ConfigError(
                f"url {_shown(settings.url)!r} must start with http:// or https://", field="url"
            )
        if "@" in urllib.parse.urlsplit(self.base).netloc:
            raise errors.ConfigError(
                f"url {_shown(settings.url)!r} holds a user name or password; shipmate sends "
                "only the API key (SHIPMATE_TOKEN_FILE), so leave them out of the URL",
                field="url",
            )
        self.token = settings.token
        self.retry_seconds = settings.retry_seconds
        self.timeout = 15.0
        #: ``--create``: writes may create near-miss names (``?create=true``).
        self.create_names = False

    # -- transport --------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: dict[str, str] | None = None,
        write: bool = False,
        timeout: float | None = None,
    ) -> Any:
        """The decoded JSON answer; network errors and 5xx answers are retried.
        ``timeout``: this call's, for a long poll (default: ``self.timeout``)."""
        url = self.base + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = {"Accept": "application/json", "User-Agent": "shipmate-cli"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if write:
            headers["Idempotency-Key"] = transport.idempotency_key()
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.25
        while True:
            try:
                answer = transport.send(
                    method, url, headers=headers, body=data, timeout=timeout or self.timeout
                )
            except OSError as exc:
                problem = f"cannot reach {_shown(self.base)}: {exc}"
            except ValueError as exc:  # a bad port, a stray space
                from shipmate.domain.redaction import redact

                raise errors.ConfigError(
                    f"url {_shown(self.base)!r} is not a valid URL ({redact(str(exc))})",
                    field="url",
                ) from None
            except transport.BrokenAnswer as exc:  # retried like a 5xx
                problem = f"{_shown(self.base)} sent a broken answer ({exc})"
            else:
                if 200 <= answer.status < 300:
                    if answer.warning:  # [catalog] unknown = "warn" on the server
                        print(f"shipmate: warning: {answer.warning}", file=sys.stderr)
                    return self._decode(answer)
                if answer.status < 500:
                    raise self._error(answer.status, answer.body)
                problem = f"server answered {answer.status}"
            if time.monotonic() + delay > deadline:
                raise errors.RemoteError(
                    f"{problem} (gave up after retrying for {self.retry_seconds:.0f} s)",
                    field="url",
                )
            import random

            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 5.0)

    #: One call of the server's API outside the Backend interface (remote runs and
    #: hosts: :mod:`shipmate.cli.runs.remote`).
    api = _request

    def _decode(self, answer: transport.Answer) -> Any:
        try:
            return json.loads(answer.body or b"null")
        except ValueError:  # a web page, a proxy's login form: not a shipmate server
            raise errors.RemoteError(
                f"{_shown(self.base)} answered {answer.status} with something that is "
                "not JSON; is the url that of a shipmate server?",
                field="url",
            ) from None

    def _object(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        """An answer that is one JSON object (a rule, a key, a report)."""
        result: dict[str, Any] = self._request(method, path, **options)
        return result

    def _items(self, path: str, query: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """The ``items`` of a listing."""
        items: list[dict[str, Any]] = self._request("GET", path, query=query)["items"]
        return items

    def _error(self, status: int, payload: bytes) -> errors.ShipmateError:
        return errors.error_from_answer(
            status,
            payload,
            unauthorized="the server refused the token ({detail}); check SHIPMATE_TOKEN",
        )

    # -- Backend ---------------------------------------------------------------
    def allocate_build(self, req: BuildRequest) -> BuildRecord:
        body = {
            "product": req.product,
            "version": req.version,
            "commit": req.commit_sha,
            "branch": req.branch,
            "repository": req.repository,
            "built_by": req.built_by,
            "ci_platform": req.ci_platform,
            "ci_run_id": req.ci_run_id,
            "ci_run_url": req.ci_run_url,
            "metadata": req.metadata,
        }
        return _record(
            BuildRecord,
            self._request("POST", "/api/v1/builds", body=body, query=self._create(), write=True),
        )

    def record(self, req: RecordRequest) -> DeploymentRecord:
        times = {
            "started_at": format_time(req.started_at),
            "completed_at": format_time(req.completed_at),
        }
        if req.deployment_id is not None:
            body: dict[str, Any] = {
                "status": req.status,
                "deployed_by": req.deployed_by,
                "metadata": req.metadata,
                **times,
                **_override(req),
            }
            path = f"/api/v1/deployments/{req.deployment_id}/events"
            return _deployment(self._request("POST", path, body=body, write=True))
        body = {
            "product": req.product,
            "environment": req.environment,
            "version": req.version,
            "status": req.status,
            "build_number": req.build_number,
            "kind": req.kind,
            "reverts_id": None if req.reverts_id is None else str(req.reverts_id),
            "commit": req.commit_sha,
            "commit_time": format_time(req.commit_time),
            "branch": req.branch,
            "repository": req.repository,
            "deployed_by": req.deployed_by,
            "ci_platform": req.ci_platform,
            "ci_run_id": req.ci_run_id,
            "ci_run_url": req.ci_run_url,
            "environment_kind": req.environment_kind,
            "metadata": req.metadata,
            **times,
            **_override(req),
        }
        return _deployment(
            self._request(
                "POST", "/api/v1/deployments", body=body, query=self._create(), write=True
            )
        )

    def mark_rollback(self, ref: str, **target: Unpack[RollbackMarkTarget]) -> DeploymentRecord:
        product, environment = target["product"], target["environment"]
        dep_id = ref
        if not ref.isdigit():  # the same rule as local mode: domain.repeats
            from shipmate.domain.repeats import rollback_mark_target

            query = {"version": ref, "limit": str(MAX_CANDIDATES)}
            query |= _given(product=product or None, environment=environment or None)
            items = self._items("/api/v1/deployments", query)
            found = [_deployment(d) for d in items if d["full_version"] == ref]
            dep_id = str(rollback_mark_target(ref, found).id)
        path = f"/api/v1/deployments/{dep_id}/rollback-mark"
        body = {"reason": target["reason"]}
        return _deployment(self._request("POST", path, body=body, write=True))

    def history(self, f: HistoryFilter, *, limit: int, cursor: str | None) -> HistoryPage:
        query = {**_filter_query(f), "limit": str(limit)}
        if cursor:
            query["cursor"] = cursor
        data = self._request("GET", "/api/v1/deployments", query=query)
        return HistoryPage(
            items=tuple(_deployment(d) for d in data["items"]), next_cursor=data.get("next_cursor")
        )

    def show(self, deployment_id: int) -> DeploymentRecord:
        return _deployment(self._request("GET", f"/api/v1/deployments/{deployment_id}"))

    def current(self, product: str | None) -> Matrix:
        from shipmate.domain.matrix import Matrix, MatrixCell

        data = self._request(
            "GET", "/api/v1/current", query={"product": product} if product else None
        )
        return Matrix(
            products=tuple(data["products"]),
            environments=tuple((e["name"], e["kind"]) for e in data["environments"]),
            cells=tuple(_record(MatrixCell, c) for c in data["cells"]),
        )

    def version_state(self, dep: DeploymentRecord) -> VersionState | None:
        from shipmate.domain.versionstates import VersionState

        query = {"product": dep.product, "environment": dep.environment}
        items = self._items("/api/v1/version-states", query)
        found = (VersionState.from_dict(d) for d in items if d["full_version"] == dep.full_version)
        return next(found, None)

    def stats(self, f: HistoryFilter) -> Stats:
        from shipmate.domain.stats import Stats, VersionCount

        data = self._request("GET", "/api/v1/stats", query=_filter_query(f))
        versions = tuple(_record(VersionCount, v) for v in data["versions"])
        return _record(Stats, data, versions=versions)

    # -- gates -----------------------------------------------------------------
    def gate_rules(self) -> list[dict[str, Any]]:
        return self._items("/api/v1/gates/rules")

    def add_gate_rule(self, definition: dict[str, Any]) -> dict[str, Any]:
        return self._object("POST", "/api/v1/gates/rules", body=definition, write=True)

    def set_gate_rule_mode(self, name: str, mode: str) -> dict[str, Any]:
        path = "/api/v1/gates/rules/" + urllib.parse.quote(name, safe="")
        return self._object("PATCH", path, body={"mode": mode}, write=True)

    def remove_gate_rule(self, name: str) -> dict[str, Any]:
        path = "/api/v1/gates/rules/" + urllib.parse.quote(name, safe="")
        return self._object("DELETE", path, write=True)

    def check_gates(
        self, product: str, version: str, environment: str, deployer: str | None
    ) -> dict[str, Any]:
        body = {
            "product": product,
            "version": version,
            "environment": environment,
            "deployer": deployer,
        }
        return self._object("POST", "/api/v1/gates/check", body=body)

    def approve(
        self, product: str, version: str, environment: str, *, comment: str | None
    ) -> dict[str, Any]:
        body = {  # the server approves as the key: no approver to send
            "product": product,
            "version": version,
            "environment": environment,
            "comment": comment,
        }
        return self._object("POST", "/api/v1/approvals", body=body, write=True)

    def unlock(self, **target: Unpack[UnlockTarget]) -> DeploymentRecord:
        product, environment = target["product"], target["environment"]
        deployment_id = target["deployment_id"]
        if deployment_id is None:
            if not product or not environment:
                raise errors.InvalidInputError(
                    "name the deployment to unlock: --id, or --product and --env",
                    field="product" if not product else "environment",
                )
            query = {
                "product": product,
                "environment": environment,
                "status": "started",
                "limit": "20",
            }
            items = self._items("/api/v1/deployments", query)
            if not items:
                raise errors.NotFoundError(
                    f"no deployment of {product} to {environment} is started; nothing to unlock",
                    field="environment",
                )
            if len(items) > 1:
                ids = ", ".join(str(d["id"]) for d in items)
                raise errors.InvalidInputError(
                    f"{len(items)} deployments of {product} to {environment} are started "
                    f"({ids}); give the one to unlock with --id",
                    field="id",
                )
            deployment_id = int(items[0]["id"])
        elif product or environment:
            found = self._request("GET", f"/api/v1/deployments/{deployment_id}")
            for name, given in (("product", product), ("environment", environment)):
                if given and given != found[name]:
                    raise errors.InvalidInputError(
                        f"deployment {deployment_id} is for {name} {found[name]!r}, not {given!r}",
                        field=name,
                    )
        path = f"/api/v1/deployments/{deployment_id}/unlock"
        return _deployment(
            self._request("POST", path, body={"reason": target["reason"] or ""}, write=True)
        )

    def create_key(
        self, name: str, scope: str, products: tuple[str, ...], host: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, "scope": scope, "products": list(products)}
        if host is not None:
            body["host"] = host
        return self._object("POST", "/api/v1/keys", body=body, write=True)

    def list_keys(self) -> list[dict[str, Any]]:
        return self._items("/api/v1/keys")

    def revoke_key(self, name: str) -> dict[str, Any]:
        path = "/api/v1/keys/" + urllib.parse.quote(name, safe="")
        return self._object("DELETE", path, write=True)

    def create_new_names(self) -> None:
        self.create_names = True

    def _create(self) -> dict[str, str] | None:
        return {"create": "true"} if self.create_names else None

    def catalog(self, kind: str) -> list[dict[str, Any]]:
        path = "/api/v1/products" if kind == "product" else "/api/v1/environments"
        items: list[dict[str, Any]] = self._request("GET", path)["items"]
        return items

    def change_catalog(
        self, kind: str, action: str, name: str, other: str | None = None
    ) -> dict[str, Any]:
        base = "/api/v1/products" if kind == "product" else "/api/v1/environments"
        if action == "declare":
            if kind != "product":
                from shipmate.domain.environments import infer_kind

                path = f"{base}/{urllib.parse.quote(name, safe='')}"
                result: dict[str, Any] = self._request(
                    "PUT", path, body={"kind": infer_kind(name).value}, write=True
                )
                return result
            return dict(self._request("POST", base, body={"name": name}, write=True))
        path = f"{base}/{urllib.parse.quote(name, safe='')}/{action}"
        body = (
            {"name": other}
            if action == "rename"
            else {"into": other}
            if action == "merge"
            else None
        )
        return dict(self._request("POST", path, body=body, write=True))

    def dora(self, **query: Unpack[DoraQuery]) -> dict[str, Any]:
        if query["repo"]:
            raise errors.InvalidInputError(
                "--repo works only with a local database; the server reads the "
                "repositories its configuration names ([products.<name>] repository)",
                field="repo",
            )
        days = query["days"]
        given = _given(
            product=query["product"],
            environment=query["environment"],
            days=None if days is None else str(days),
            since=format_time(query["since"]),
            until=format_time(query["until"]),
        )
        return self._object("GET", "/api/v1/dora", query=given)

    def changelog(self, **query: Unpack[ChangelogQuery]) -> dict[str, Any]:
        product, repo = query["product"], query["repo"]
        ask = _given(product=product, environment=query["environment"])
        ask |= _given(**{"from": query["from_ref"], "to": query["to_ref"]})
        if not repo:  # the server reads its configured repository
            return self._object("GET", "/api/v1/changelog", query=ask)
        # The server knows the deployments, this machine has the checkout.
        from shipmate.services.changelog.assembly import read_changelog
        from shipmate.services.changelog.commit_range import ChangelogRange
        from shipmate.services.changelog.repository import repository_for

        ends = self._request("GET", "/api/v1/changelog", query={**ask, "commits": "false"})
        local = repository_for(Settings(), product, repo)
        assert local is not None
        return read_changelog(ChangelogRange.from_dict(ends), local).to_dict()

    def close(self) -> None:
        return None

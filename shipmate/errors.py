"""Every error shipmate raises on purpose, under one root.

::

    ShipmateError                      code            CLI exit  HTTP
    ├── InvalidInputError              invalid_input   2         422
    │   ├── PayloadTooLargeError       payload_too_large 2       413
    │   └── UnknownNameError           unknown_name    2         422
    ├── ConfigError                    config_error    2         500 (never reached by a request)
    ├── NotFoundError                  not_found       1         404
    ├── ConflictError                  conflict        1         409
    │   └── VersionCommitConflictError version_commit_conflict 1 409
    ├── IllegalTransitionError         illegal_transition 1      409
    ├── AuthenticationError            unauthenticated 1         401
    ├── PermissionDeniedError          forbidden       1         403
    ├── RateLimitedError               rate_limited    1         429
    ├── GateBlockedError               gate_blocked    3         409/423/428 (per gate)
    ├── DeployError                    deploy_failed   1         500
    │   ├── ArtifactMissingError       artifact_missing 1        409
    │   ├── HealthCheckError           health_check_failed 1     502
    │   ├── SwitchError                switch_failed   1         502
    │   └── RolledBackError            rolled_back     4         409
    ├── RemoteError                    remote_error    1         502
    └── StoreError                     store_error     1         503
        └── DatabaseUnavailableError   store_error     1         503 (with Retry-After)

Each error carries a stable ``code`` (matched on by API and CLI consumers), a
human message that names the field and the problem, and optionally the ``field``
it is about.  Adapters translate errors in exactly one place each:
``shipmate.cli.main`` (one stderr line, exit code) and, later, the API's handler
(one JSON shape).  ``domain/`` raises these too: they carry no I/O.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "RETRY_AFTER_SECONDS",
    "ArtifactMissingError",
    "AuthenticationError",
    "ConfigError",
    "ConflictError",
    "DatabaseUnavailableError",
    "DeployError",
    "GateBlockedError",
    "HealthCheckError",
    "IllegalTransitionError",
    "InvalidInputError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitedError",
    "RemoteError",
    "RequestConfigError",
    "RolledBackError",
    "ShipmateError",
    "StoreError",
    "SwitchError",
    "UnknownNameError",
    "VersionCommitConflictError",
    "error_class",
    "error_from_answer",
]


class ShipmateError(Exception):
    """Root of every error shipmate raises on purpose.

    A subclass names what differs from its parent in its class line
    (``class NotFoundError(ShipmateError, code="not_found", http_status=404)``);
    what it does not name it inherits.
    """

    code: ClassVar[str] = "error"
    exit_code: ClassVar[int] = 1
    http_status: ClassVar[int] = 500

    def __init_subclass__(
        cls,
        *,
        code: str | None = None,
        exit_code: int | None = None,
        http_status: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        if code is not None:
            cls.code = code
        if exit_code is not None:
            cls.exit_code = exit_code
        if http_status is not None:
            cls.http_status = http_status

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details: dict[str, Any] = details

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """The one error shape used by the API and ``--json`` output."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.details:
            body["details"] = self.details
        return body


class InvalidInputError(ShipmateError, code="invalid_input", exit_code=2, http_status=422):
    """A value given by the user is malformed, out of range or missing."""


class PayloadTooLargeError(InvalidInputError, code="payload_too_large", http_status=413):
    """A body or a metadata object is over its size limit."""


class UnknownNameError(InvalidInputError, code="unknown_name"):
    """A write names an unknown product or environment that looks like a typo of a
    known one (``details.suggestions``), or the server creates only declared names."""


class ConfigError(ShipmateError, code="config_error", exit_code=2):
    """The configuration file or environment holds something unusable."""


class RequestConfigError(ConfigError, http_status=422):
    """The server's configuration cannot serve this request (a remote deploy's deploy
    table names a bad key): the request is refused, the server keeps serving."""


class NotFoundError(ShipmateError, code="not_found", http_status=404):
    """A named product, environment, deployment, build or key does not exist."""


class ConflictError(ShipmateError, code="conflict", http_status=409):
    """The write contradicts what is already recorded."""


class VersionCommitConflictError(ConflictError, code="version_commit_conflict"):
    """A version (or build) was recorded with one commit and reported with another."""


class IllegalTransitionError(ShipmateError, code="illegal_transition", http_status=409):
    """A deployment cannot move from its status to the one requested."""


class AuthenticationError(ShipmateError, code="unauthenticated", http_status=401):
    """No key, or a key that is unknown or revoked."""


class PermissionDeniedError(ShipmateError, code="forbidden", http_status=403):
    """The key is valid but its scope or products do not allow this."""


class RateLimitedError(ShipmateError, code="rate_limited", http_status=429):
    """Too many failed authentications from one client address; ``retry_after`` says
    in how many seconds it may try again (also the ``Retry-After`` header)."""


class GateBlockedError(ShipmateError, code="gate_blocked", exit_code=3, http_status=409):
    """A deployment gate refused the deployment.

    ``details`` carries ``gate_code`` (``DEPLOYMENT_IN_PROGRESS``, ``NO_DEPLOY_WINDOW``,
    ``FLOW_VIOLATION``, ``INSUFFICIENT_SOAK_TIME``, ``APPROVAL_REQUIRED``), ``rule_name``
    and optionally ``retry_after``.
    """


class DeployError(ShipmateError, code="deploy_failed"):
    """A deploy, rollback or roll-forward run failed."""


class ArtifactMissingError(DeployError, code="artifact_missing", http_status=409):
    """The artifact (image, release folder, ...) for a version is not available."""


class HealthCheckError(DeployError, code="health_check_failed", http_status=502):
    """A health check did not pass before its deadline."""


class SwitchError(DeployError, code="switch_failed", http_status=502):
    """The traffic switch could not be applied (nginx -t failed, ...)."""


class RolledBackError(DeployError, code="rolled_back", exit_code=4, http_status=409):
    """A deploy ended rolled back: the version it deployed is not serving.

    Traffic went back to the previous version automatically (its check after the
    switch, or while the old slot was kept warm, failed), or a rollback superseded
    the run.  ``details`` carries ``cause`` (the failing check's code) when there
    is one.
    """


class RemoteError(ShipmateError, code="remote_error", http_status=502):
    """The shipmate server could not be reached or answered with a server error."""


class StoreError(ShipmateError, code="store_error", http_status=503):
    """The database could not be reached or is not at the expected schema."""


#: What a refused request's ``Retry-After`` says: long enough for a restart to finish.
RETRY_AFTER_SECONDS = 5


class DatabaseUnavailableError(StoreError):
    """The database cannot be reached right now: a connection refused or cut, a server
    shutting down or starting up, an SQLite file locked or unusable.  Transient:
    ``retry_after`` says in how many seconds to try again (the API's ``Retry-After``).

    The message names the cause for the operator (the CLI prints it, the server logs
    it once per outage); the API answers a fixed message instead, since the cause
    may name the database's host.
    """

    def __init__(self, reason: str, *, retry_after: int = RETRY_AFTER_SECONDS) -> None:
        super().__init__(f"the database is unreachable: {reason}", retry_after=retry_after)
        self.reason = reason


def error_class(code: str) -> type[ShipmateError]:
    """The exception class an error answer's ``code`` names (ShipmateError if none)."""
    return _by_code(code)


def _by_code(code: str) -> type[ShipmateError]:
    pending: list[type[ShipmateError]] = [ShipmateError]
    while pending:  # the first class (parents before children) with that code
        cls = pending.pop(0)
        if cls.code == code:
            return cls
        pending.extend(cls.__subclasses__())
    return ShipmateError


def error_from_answer(status: int, payload: bytes, *, unauthorized: str) -> ShipmateError:
    """The error a shipmate server's error answer stands for (the one error shape), as
    the class its ``code`` names; ``unauthorized`` is the message of a bare 401, with
    ``{detail}`` standing for what the server said."""
    import json

    try:
        body = json.loads(payload)
    except ValueError:
        body = {}
    info = body.get("error") if isinstance(body, dict) else None
    if isinstance(info, dict):
        cls = _by_code(str(info.get("code")))
        details = dict(info.get("details") or {})
        return cls(str(info.get("message")), field=info.get("field"), **details)
    message = body.get("detail") if isinstance(body, dict) else None
    if status == 401:
        detail = message or "unauthorized"
        return AuthenticationError(unauthorized.format(detail=detail), field="token")
    return RemoteError(f"server answered {status}: {message or payload[:200]!r}")

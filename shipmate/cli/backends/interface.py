"""What every CLI command may ask of a backend, and which backend a command gets.

:class:`Backend` is the one interface: :class:`~shipmate.cli.backends.local.LocalBackend`
calls the services on the database, :class:`~shipmate.cli.backends.remote.RemoteBackend`
calls a shipmate server over HTTP.  Both subclass it, so mypy checks that each
implements every method with these types, and both take and return the same records,
so every command renders the same output and exits with the same code either way.

This module, its request types (:mod:`shipmate.domain.requests`, the keyword sets
below) and its result types (:mod:`shipmate.domain.records`) import no database
code: remote mode runs without SQLAlchemy or Alembic ever being imported.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, Unpack

from shipmate.domain.records import BuildRecord, DeploymentRecord, HistoryPage, Matrix, Stats
from shipmate.domain.requests import BuildRequest, HistoryFilter, RecordRequest

if TYPE_CHECKING:
    from shipmate.config import Settings
    from shipmate.domain.versionstates import VersionState

__all__ = [
    "Backend",
    "ChangelogQuery",
    "DoraQuery",
    "RollbackMarkTarget",
    "UnlockTarget",
    "open_backend",
]


class RollbackMarkTarget(TypedDict):
    """Narrows a full version to one deployment, and says why it is marked."""

    product: str | None
    environment: str | None
    reason: str | None


class UnlockTarget(TypedDict):
    """The started deployment to abort: by id, or the one of a product in an environment."""

    product: str | None
    environment: str | None
    deployment_id: int | None
    reason: str | None


class DoraQuery(TypedDict):
    product: str | None
    environment: str | None
    days: int | None
    since: datetime | None
    until: datetime | None
    #: A local git checkout to read commits from (local mode only).
    repo: str | None


class ChangelogQuery(TypedDict):
    product: str
    environment: str | None
    from_ref: str | None
    to_ref: str | None
    #: A local git checkout to read commits from.
    repo: str | None


class Backend(Protocol):
    def allocate_build(self, req: BuildRequest) -> BuildRecord: ...

    def record(self, req: RecordRequest) -> DeploymentRecord: ...

    def mark_rollback(self, ref: str, **target: Unpack[RollbackMarkTarget]) -> DeploymentRecord:
        """Mark the deployment ``ref`` names (an id or a full version) rolled back."""
        ...

    def history(self, f: HistoryFilter, *, limit: int, cursor: str | None) -> HistoryPage: ...

    def show(self, deployment_id: int) -> DeploymentRecord: ...

    def current(self, product: str | None) -> Matrix: ...

    def version_state(self, dep: DeploymentRecord) -> VersionState | None:
        """The state of ``dep``'s version in its environment (``show`` prints it)."""
        ...

    def stats(self, f: HistoryFilter) -> Stats: ...

    # -- gates (docs/gates.md) --
    def gate_rules(self) -> list[dict[str, Any]]: ...

    def add_gate_rule(self, definition: dict[str, Any]) -> dict[str, Any]: ...

    def set_gate_rule_mode(self, name: str, mode: str) -> dict[str, Any]: ...

    def remove_gate_rule(self, name: str) -> dict[str, Any]: ...

    def check_gates(
        self, product: str, version: str, environment: str, deployer: str | None
    ) -> dict[str, Any]: ...

    def approve(
        self, product: str, version: str, environment: str, *, comment: str | None
    ) -> dict[str, Any]:
        """Approve as who is authenticated: the key (remote), the local identity."""
        ...

    def unlock(self, **target: Unpack[UnlockTarget]) -> DeploymentRecord: ...

    # -- keys --
    def create_key(
        self, name: str, scope: str, products: tuple[str, ...], host: str | None = None
    ) -> dict[str, Any]: ...

    def list_keys(self) -> list[dict[str, Any]]: ...

    def revoke_key(self, name: str) -> dict[str, Any]: ...

    # -- catalog: products and environments (docs/concepts.md) --
    def create_new_names(self) -> None:
        """Let this command's writes create near-miss names (``--create``)."""
        ...

    def catalog(self, kind: str) -> list[dict[str, Any]]:
        """Every product (``kind`` "product") or environment, archived ones included."""
        ...

    def change_catalog(
        self, kind: str, action: str, name: str, other: str | None = None
    ) -> dict[str, Any]:
        """``action`` on ``name``: rename (to ``other``), merge (into ``other``), archive,
        unarchive or declare."""
        ...

    # -- insights (docs/metrics.md) --
    def dora(self, **query: Unpack[DoraQuery]) -> dict[str, Any]: ...

    def changelog(self, **query: Unpack[ChangelogQuery]) -> dict[str, Any]: ...

    def close(self) -> None: ...


def open_backend(settings: Settings) -> Backend:
    """The server's API when a URL is configured (remote mode), else the database."""
    if settings.url:
        from shipmate.cli.backends.remote import RemoteBackend

        return RemoteBackend(settings)
    from shipmate.cli.backends.local import LocalBackend

    return LocalBackend(settings)

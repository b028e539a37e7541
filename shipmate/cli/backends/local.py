"""Local mode: the CLI's calls go to the services on the configured database."""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Unpack

from shipmate.cli.backends.interface import (
    Backend,
    ChangelogQuery,
    DoraQuery,
    RollbackMarkTarget,
    UnlockTarget,
)
from shipmate.config import Settings
from shipmate.domain.records import BuildRecord, DeploymentRecord, HistoryPage, Matrix, Stats
from shipmate.domain.requests import BuildRequest, HistoryFilter, RecordRequest

if TYPE_CHECKING:
    from shipmate.domain.versionstates import VersionState

__all__ = ["LocalBackend"]


class LocalBackend(Backend):
    """Calls the services on the configured database directly."""

    def __init__(self, settings: Settings) -> None:
        from shipmate.services.catalog.changes import collecting_warnings
        from shipmate.services.context import open_context

        self.ctx = open_context(settings)
        # [catalog] unknown = "warn": what this command created, printed when it ends.
        self._collecting = collecting_warnings()
        self._warnings = self._collecting.__enter__()
        self._creating: AbstractContextManager[None] | None = None

    def allocate_build(self, req: BuildRequest) -> BuildRecord:
        from shipmate.services.records.builds import allocate_build

        return allocate_build(self.ctx, req)

    def record(self, req: RecordRequest) -> DeploymentRecord:
        from dataclasses import replace

        from shipmate.cli.identity import local_identity
        from shipmate.services.records.deployments import record_deployment

        # Gates compare approvals with who records (as approve does), not --deployed-by.
        return record_deployment(self.ctx, replace(req, identity=local_identity()))

    def mark_rollback(self, ref: str, **target: Unpack[RollbackMarkTarget]) -> DeploymentRecord:
        from shipmate.services.records.deployments import default_actor
        from shipmate.services.records.rollbackmarks import mark_rollback

        return mark_rollback(self.ctx, ref, **target, actor=default_actor())

    def history(self, f: HistoryFilter, *, limit: int, cursor: str | None) -> HistoryPage:
        from shipmate.services.queries import history

        return history(self.ctx, f, limit=limit, cursor=cursor)

    def show(self, deployment_id: int) -> DeploymentRecord:
        from shipmate.services.queries import show_deployment

        return show_deployment(self.ctx, deployment_id)

    def current(self, product: str | None) -> Matrix:
        from shipmate.services.queries import current_matrix

        return current_matrix(self.ctx, product=product)

    def version_state(self, dep: DeploymentRecord) -> VersionState | None:
        from shipmate.services.draining.states import list_version_states

        states = list_version_states(self.ctx, dep.product, dep.environment)
        return next((s for s in states if s.full_version == dep.full_version), None)

    def stats(self, f: HistoryFilter) -> Stats:
        from shipmate.services.queries import stats

        return stats(self.ctx, f)

    def gate_rules(self) -> list[dict[str, Any]]:
        from shipmate.services.gates.rules import list_rules

        return [r.to_dict() for r in list_rules(self.ctx)]

    def add_gate_rule(self, definition: dict[str, Any]) -> dict[str, Any]:
        from shipmate.services.gates.rules import add_rule
        from shipmate.services.records.deployments import default_actor

        return add_rule(self.ctx, definition, actor=default_actor()).to_dict()

    def set_gate_rule_mode(self, name: str, mode: str) -> dict[str, Any]:
        from shipmate.services.gates.rules import set_rule_mode
        from shipmate.services.records.deployments import default_actor

        return set_rule_mode(self.ctx, name, mode, actor=default_actor()).to_dict()

    def remove_gate_rule(self, name: str) -> dict[str, Any]:
        from shipmate.services.gates.rules import remove_rule
        from shipmate.services.records.deployments import default_actor

        return {**remove_rule(self.ctx, name, actor=default_actor()).to_dict(), "removed": True}

    def check_gates(
        self, product: str, version: str, environment: str, deployer: str | None
    ) -> dict[str, Any]:
        from shipmate.cli.identity import local_identity
        from shipmate.services.gates.verdicts import dry_run

        who = deployer if deployer is not None else local_identity()
        return dry_run(self.ctx, product, version, environment, who).to_dict()

    def approve(
        self, product: str, version: str, environment: str, *, comment: str | None
    ) -> dict[str, Any]:
        from shipmate.cli.identity import local_identity
        from shipmate.services.gates.approvals import approve

        return approve(
            self.ctx, product, version, environment, approver=local_identity(), comment=comment
        ).to_dict()

    def unlock(self, **target: Unpack[UnlockTarget]) -> DeploymentRecord:
        from shipmate.services.gates.unlock import unlock
        from shipmate.services.records.deployments import default_actor

        return unlock(self.ctx, **target, actor=default_actor())

    def create_key(
        self, name: str, scope: str, products: tuple[str, ...], host: str | None = None
    ) -> dict[str, Any]:
        from shipmate.services.auth.keys import create_key
        from shipmate.services.records.deployments import default_actor

        created = create_key(self.ctx, name, scope, products, created_by=default_actor(), host=host)
        return created.to_dict()

    def list_keys(self) -> list[dict[str, Any]]:
        from shipmate.services.auth.keys import list_keys

        return [k.to_dict() for k in list_keys(self.ctx)]

    def revoke_key(self, name: str) -> dict[str, Any]:
        from shipmate.services.auth.keys import revoke_key
        from shipmate.services.records.deployments import default_actor

        return revoke_key(self.ctx, name, actor=default_actor()).to_dict()

    def create_new_names(self) -> None:
        from shipmate.services.catalog.changes import creating_names

        # Kept until close(): a dropped generator would reset the permission.
        self._creating = creating_names()
        self._creating.__enter__()

    def catalog(self, kind: str) -> list[dict[str, Any]]:
        from shipmate.services.catalog.listing import list_environments, list_products

        found = list_products(self.ctx) if kind == "product" else list_environments(self.ctx)
        return [item.to_dict() for item in found]

    def change_catalog(
        self, kind: str, action: str, name: str, other: str | None = None
    ) -> dict[str, Any]:
        from shipmate.services.catalog.changes import apply_change
        from shipmate.services.records.deployments import default_actor

        change = apply_change(self.ctx, kind, action, name, other, actor=default_actor())
        return change.to_dict()

    def dora(self, **query: Unpack[DoraQuery]) -> dict[str, Any]:
        from shipmate.services.dora import dora_report

        return dora_report(self.ctx, **query).to_dict()

    def changelog(self, **query: Unpack[ChangelogQuery]) -> dict[str, Any]:
        from shipmate.services.changelog.assembly import changelog

        return changelog(self.ctx, **query).to_dict()

    def close(self) -> None:
        self.ctx.close()
        self._collecting.__exit__(None, None, None)
        if self._creating is not None:
            self._creating.__exit__(None, None, None)
        for warning in self._warnings:
            print(f"shipmate: warning: {warning}", file=sys.stderr)

"""The version matrix: which version of each product runs in each environment.

``to_dict`` gives the JSON shape of the API and ``--json`` output, as the records of
:mod:`shipmate.domain.records` do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from shipmate.domain.drift import WARNING_DIRECTIONS
from shipmate.domain.inputs.fields import format_time

__all__ = ["Matrix", "MatrixCell"]


@dataclass(frozen=True)
class MatrixCell:
    """One product's current deployment in one environment."""

    product: str
    environment: str
    deployment_id: int
    version: str
    full_version: str
    status: str
    since: datetime
    age_seconds: float
    deployed_by: str | None
    commit_sha: str | None
    #: The version differs from the product's most-promoted environment.
    drift: bool
    #: Which way (:class:`shipmate.domain.drift.DriftDirection` value): ``ahead``,
    #: ``behind`` or ``skipped``; None when it agrees with every later environment.
    drift_direction: str | None = None
    #: The environment the direction compares with.
    drift_against: str | None = None
    #: Served by several hosts: what they serve (``2.0.0 on 2 of 3 hosts; 1.0.0 on web-3``).
    hosts: str | None = None

    @property
    def drift_warning(self) -> bool:
        """Behind a later environment, or never in the one before: worth a warning."""
        return self.drift_direction in WARNING_DIRECTIONS

    def to_dict(self) -> dict[str, Any]:
        # Written out (not fields_dict): the matrix formats 2,400 of these per request.
        return {
            "product": self.product,
            "environment": self.environment,
            "deployment_id": str(self.deployment_id),
            "version": self.version,
            "full_version": self.full_version,
            "status": self.status,
            "since": format_time(self.since),
            "age_seconds": round(self.age_seconds, 3),
            "deployed_by": self.deployed_by,
            "commit_sha": self.commit_sha,
            "drift": self.drift,
            "drift_direction": self.drift_direction,
            "drift_against": self.drift_against,
            "hosts": self.hosts,
        }


@dataclass(frozen=True)
class Matrix:
    """Every product's current version in every environment, in promotion order."""

    products: tuple[str, ...]
    environments: tuple[tuple[str, str], ...]  # (name, kind), in promotion order
    cells: tuple[MatrixCell, ...]

    @cached_property
    def _by_pair(self) -> dict[tuple[str, str], MatrixCell]:
        # Built once: the dashboard asks for every cell.
        return {(c.product, c.environment): c for c in self.cells}

    def cell(self, product: str, environment: str) -> MatrixCell | None:
        return self._by_pair.get((product, environment))

    def to_dict(self) -> dict[str, Any]:
        return {
            "products": list(self.products),
            "environments": [{"name": n, "kind": k} for n, k in self.environments],
            "cells": [c.to_dict() for c in self.cells],
        }

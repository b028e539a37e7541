"""Indexes for reading a large history: each names the query shape it serves.

The tables' own modules declare the indexes that came with them; these were added
by migration 0009 once a generated history of a million deployments showed which
hot queries read more than they return (``docs/scale.md`` has the measurements,
``tests/test_explain.py`` checks the plans on both backends).

- ``ix_deployments_status_at`` (status, deployed_at, id): history filtered by
  status, newest first, with or without a time range (``--status failed --since``).
- ``ix_deployments_product_version`` (product_id, version, status, environment_id,
  id): history of one version of a product (the few rows of the version, then
  sorted), and ``stats`` per version, read from the index alone (covering, the
  environment filter included).
- ``ix_deployments_product_status`` (product_id, status, finished_at, id):
  ``stats`` totals by status from the index alone, and the latest completed
  deployment of a product as one index seek.
- ``ix_deployments_version_at`` (version, deployed_at, id): history of a version
  string across every product, newest first.

Every index on ``deployments`` costs each write one more B-tree insert; the
benchmark "record rate at 1M rows" keeps that cost in view.
"""

from __future__ import annotations

from sqlalchemy import Index

from shipmate.store.schema import deployments

__all__ = ["QUERY_INDEXES"]

QUERY_INDEXES = (
    Index(
        "ix_deployments_status_at",
        deployments.c.status,
        deployments.c.deployed_at,
        deployments.c.id,
    ),
    Index(
        "ix_deployments_product_version",
        deployments.c.product_id,
        deployments.c.version,
        deployments.c.status,
        deployments.c.environment_id,
        deployments.c.id,
    ),
    Index(
        "ix_deployments_product_status",
        deployments.c.product_id,
        deployments.c.status,
        deployments.c.finished_at,
        deployments.c.id,
    ),
    Index(
        "ix_deployments_version_at",
        deployments.c.version,
        deployments.c.deployed_at,
        deployments.c.id,
    ),
)

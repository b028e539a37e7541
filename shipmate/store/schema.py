"""Every table shipmate keeps, on one MetaData with a naming convention.

Ids are integers in the database and strings at the edges.  Nothing is ever
deleted: deployments are appended and advanced, ``events`` is append-only, and
``current_state`` is a cache of "latest completed, not rolled back" per
(product, environment), written in the same transaction as the deployment.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

from shipmate.store.columns import (
    Id,
    ci_columns,
    finish_columns,
    id_column,
    reference,
    written_columns,
)
from shipmate.store.types import UTCDateTime

__all__ = [
    "api_keys",
    "build_counters",
    "builds",
    "current_state",
    "deployments",
    "environments",
    "events",
    "idempotency_keys",
    "metadata",
    "products",
    "versions",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

products = Table(
    "products",
    metadata,
    id_column(),
    Column("name", String(255), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    # Set by ``shipmate products archive`` (or a merge): out of the matrix, still queryable.
    Column("archived_at", UTCDateTime(), nullable=True),
)

environments = Table(
    "environments",
    metadata,
    id_column(),
    Column("name", String(100), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("kind_inferred", Boolean(), nullable=False, default=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("archived_at", UTCDateTime(), nullable=True),
)

versions = Table(
    "versions",
    metadata,
    id_column(),
    reference("product_id", "products"),
    Column("version", String(100), nullable=False),
    Column("is_semver", Boolean(), nullable=False),
    # The commit of a version reported without a build number (Versioner style,
    # where the version string is the artifact).  Builds carry their own commit.
    Column("commit_sha", String(64), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("product_id", "version"),
)

build_counters = Table(
    "build_counters",
    metadata,
    reference("version_id", "versions", primary_key=True),
    Column("last_build_number", Integer(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

builds = Table(
    "builds",
    metadata,
    id_column(),
    reference("product_id", "products"),
    reference("version_id", "versions"),
    Column("build_number", Integer(), nullable=False),
    Column("full_version", String(150), nullable=False),
    Column("status", String(20), nullable=False),
    Column("commit_sha", String(64), nullable=True),
    Column("branch", String(255), nullable=True),
    Column("repository", String(500), nullable=True),
    Column("built_by", String(255), nullable=True),
    *ci_columns(),
    Column("extra", JSON(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=True),
    Column("completed_at", UTCDateTime(), nullable=True),
    # The build's last change (server clock): how recent a repeated finish must be.
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("version_id", "build_number"),
)

deployments = Table(
    "deployments",
    metadata,
    id_column(),
    reference("product_id", "products"),
    reference("environment_id", "environments"),
    reference("version_id", "versions"),
    Column("version", String(100), nullable=False),
    Column("build_number", Integer(), nullable=True),
    Column("full_version", String(150), nullable=False),
    Column("status", String(20), nullable=False),
    Column("kind", String(20), nullable=False),
    reference("reverts_id", "deployments", nullable=True),
    Column("commit_sha", String(64), nullable=True),
    Column("commit_time", UTCDateTime(), nullable=True),
    Column("branch", String(255), nullable=True),
    Column("repository", String(500), nullable=True),
    Column("deployed_by", String(255), nullable=True),
    *ci_columns(),
    Column("extra", JSON(), nullable=False),
    # deployed_at orders history: the start time when known, else when recorded.
    Column("deployed_at", UTCDateTime(), nullable=False),
    *written_columns(),
    Column("started_at", UTCDateTime(), nullable=True),
    *finish_columns(),
    Index("ix_deployments_product_env_at", "product_id", "environment_id", "deployed_at", "id"),
    Index("ix_deployments_product_at", "product_id", "deployed_at", "id"),
    Index("ix_deployments_at", "deployed_at", "id"),
    Index("ix_deployments_version_id", "version_id"),
    Index("ix_deployments_status", "product_id", "environment_id", "status", "finished_at"),
)

current_state = Table(
    "current_state",
    metadata,
    reference("product_id", "products", primary_key=True),
    reference("environment_id", "environments", primary_key=True),
    reference("deployment_id", "deployments"),
    Column("since", UTCDateTime(), nullable=False),
)

events = Table(
    "events",
    metadata,
    id_column(),
    Column("type", String(50), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(255), nullable=True),
    Column("key_name", String(100), nullable=True),
    reference("product_id", "products", nullable=True),
    reference("environment_id", "environments", nullable=True),
    reference("deployment_id", "deployments", nullable=True),
    Column("from_status", String(20), nullable=True),
    Column("to_status", String(20), nullable=True),
    Column("data", JSON(), nullable=False),
    Index("ix_events_deployment_id", "deployment_id", "id"),
    Index("ix_events_type", "type", "id"),
)


api_keys = Table(
    "api_keys",
    metadata,
    id_column(),
    Column("name", String(100), nullable=False, unique=True),
    # The public part of the key, used to find the row; the secret is only hashed.
    Column("prefix", String(16), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False),
    Column("scope", String(10), nullable=False),
    Column("products", JSON(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(255), nullable=True),
    Column("last_used_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    # The one host an ``agent`` key may act for (NULL for every other scope).
    Column("host", String(255), nullable=True),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("operation", String(50), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("result_id", Id, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)


# Feature tables live in their own modules, on the same MetaData.
from shipmate.store import (  # noqa: E402, F401
    schema_agents,
    schema_gates,
    schema_indexes,
    schema_notify,
    schema_releases,
    schema_runs,
    schema_sessions,
    schema_version_states,
)

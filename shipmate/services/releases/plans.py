"""The plan for moving an environment to a version: which actions would run, in what order.

:func:`plan_for` reads what a plan needs (the lineage, the stored actions, the
application version and the schema position) and leaves the planning itself to
:func:`shipmate.domain.releases.planning.plan`.  Nothing changes.
"""

from __future__ import annotations

from shipmate.domain.inputs.fields import validate_name
from shipmate.domain.releases.lineage import Lineage, VersionNode
from shipmate.domain.releases.planning import Plan, plan
from shipmate.domain.versions import parse_full_version, validate_version
from shipmate.errors import InvalidInputError
from shipmate.services.context import Context
from shipmate.services.releases.actions import load_stored
from shipmate.services.releases.lineage import lineage_nodes
from shipmate.services.releases.lookups import product_name, require_product
from shipmate.services.releases.positions import current_version, position_row
from shipmate.services.releases.settings import lineage_is_strict
from shipmate.store.catalog import find_environment_id

__all__ = ["plan_for"]


def plan_for(
    ctx: Context,
    product: str,
    environment: str,
    target: str,
    *,
    strict: bool | None = None,
    assume_new_target: bool = False,
) -> Plan:
    """The plan for moving ``environment`` to ``target``; nothing changes.

    The application version comes from the current state (none: a fresh
    environment, starting from the base), the schema position from
    :func:`~shipmate.services.releases.positions.get_position`.  Lineage problems raise before anything runs.  With
    ``assume_new_target`` a target that is not a version of the product yet is
    planned as its newest version (where recording it will put it: a deploy run
    plans before it records the version); otherwise it is a NotFoundError.
    """
    product = product_name(product)
    environment = validate_name(environment, field="environment")
    if not isinstance(target, str):
        raise InvalidInputError("target must be a version", field="target")
    # A full version (1.4.0+build.7) names its version: builds share its actions.
    target = validate_version(parse_full_version(target).version, field="target")
    strict_mode = lineage_is_strict(ctx.settings, product, strict)
    with ctx.read() as conn:
        product_id = require_product(conn, product)
        environment_id = find_environment_id(conn, environment)
        nodes = lineage_nodes(conn, product_id)
        if assume_new_target and all(n.version != target for n in nodes):
            last = max((n.ordinal for n in nodes), default=0)
            nodes.append(VersionNode(target, last + 1))
        stored = load_stored(conn, product_id, product)
        current = current_version(conn, product_id, environment_id)
        position = None
        if environment_id is not None:
            row = position_row(conn, product_id, environment_id)
            position = None if row is None else row.version
    lineage = Lineage.build(nodes, strict=strict_mode)
    return plan(lineage, current, target, [s.action for s in stored], position=position)

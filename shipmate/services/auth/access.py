"""What a key may see and change beyond its scope: the product limits on shared things.

Deployments, builds and runs belong to one product, and
:meth:`~shipmate.services.auth.keys.Principal.require_product` guards them.  Gate rules
and notification rules instead name products by patterns (none: every product),
and release actions hold scripts.  The rules here:

* A key limited to products **sees** a rule when the rule applies to one of its
  products (a rule for every product applies to all of them); the rule's
  ``products`` then list only the patterns that match its products, so a shared
  rule does not tell it which other products exist.  Other rules do not exist
  for it (404).
* It **changes** (or tests) a rule only when every product the rule names is one of
  its own, by exact name: a rule for every product, or with a pattern, needs an
  admin key that is not limited to products (403).
* Release-action **bodies** and their **output** need write scope: a read key sees
  that an action exists, its name, kind, checksum and status, but not the script
  nor what it printed (``body``, ``output`` and the error line quoting the output
  are ``null``, and ``redacted`` is ``true``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from fnmatch import fnmatchcase
from typing import Any

from shipmate.domain.gates.rules import Rule
from shipmate.services.auth.keys import Principal, Scope, refuse_beyond_products
from shipmate.services.releases.hooks import RELEASE_ACTION_STEP

__all__ = [
    "can_see",
    "redact_actions",
    "redact_executions",
    "redact_plan",
    "redact_run",
    "require_manage",
    "rule_guard",
    "visible_products",
    "with_visible_products",
]


def _matching(patterns: Sequence[str], products: Iterable[str]) -> list[str]:
    names = tuple(products)
    return [p for p in patterns if any(fnmatchcase(n, p) for n in names)]


def can_see(principal: Principal, patterns: Sequence[str]) -> bool:
    """Whether a rule scoped to ``patterns`` (empty: every product) is visible."""
    return principal.unrestricted or not patterns or bool(_matching(patterns, principal.products))


def visible_products(principal: Principal, patterns: Sequence[str]) -> list[str]:
    """The rule's product patterns as this principal may see them."""
    if principal.unrestricted:
        return list(patterns)
    return _matching(patterns, principal.products)


def with_visible_products(principal: Principal, item: dict[str, Any]) -> dict[str, Any]:
    """A rule's ``to_dict()`` with ``products`` trimmed for ``principal``."""
    if principal.unrestricted:
        return item
    return {**item, "products": visible_products(principal, item.get("products") or ())}


def require_manage(principal: Principal, patterns: Sequence[str], what: str) -> None:
    """Refuse (403) changing a rule that reaches products outside the principal's."""
    principal.require(Scope.ADMIN)
    if principal.unrestricted:
        return
    limited = f"key {principal.name!r} is limited to {', '.join(principal.products)}"
    refuse_beyond_products(
        principal.products,
        patterns,
        every=f"{what} applies to every product; {limited}: only an admin key not limited "
        "to products may change it (name your products in the rule's products)",
        beyond=lambda pattern: f"{what} covers {pattern!r}; {limited}",
    )


def rule_guard(principal: Principal) -> Callable[[Rule], None] | None:
    """The check the gate-rule services run on every rule they are about to change
    (inside their transaction); ``None`` for an unrestricted admin."""
    if principal.unrestricted:
        return None

    def guard(rule: Rule) -> None:
        require_manage(principal, rule.products, f"gate rule {rule.name!r}")

    return guard


# -- release actions: bodies and output need write scope -------------------------------


def _reads_only(principal: Principal) -> bool:
    return principal.scope.rank < Scope.WRITE.rank


def _without(item: dict[str, Any], *keys: str) -> dict[str, Any]:
    hidden = {k: None for k in keys if k in item}
    return {**item, **hidden, "redacted": True} if hidden else item


def redact_actions(principal: Principal, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Release actions (``to_dict()``) without their bodies for a read key."""
    if not _reads_only(principal):
        return items
    return [_without(a, "body") for a in items]


def redact_executions(principal: Principal, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Action executions without their output (nor the error line quoting it) for a
    read key."""
    if not _reads_only(principal):
        return items
    return [_without(e, "output", "error") for e in items]


def redact_plan(principal: Principal, plan: dict[str, Any]) -> dict[str, Any]:
    """A plan's ``to_dict()`` with every step's action bodies hidden for a read key."""
    if not _reads_only(principal):
        return plan
    steps = [
        {**s, "actions": redact_actions(principal, list(s.get("actions") or ()))}
        if isinstance(s, dict)
        else s
        for s in plan.get("steps") or ()
    ]
    return {**plan, "steps": steps}


def redact_run(principal: Principal, run: dict[str, Any]) -> dict[str, Any]:
    """A run's ``to_dict(with_steps=True)`` for a read key: action bodies in step
    arguments hidden, and release-action steps without output, error and result;
    the run's own error too when such a step failed (it quotes the output)."""
    if not _reads_only(principal) or "steps" not in run:
        return run
    steps = []
    failed_action = False
    for step in run["steps"]:
        args = step.get("args")
        if isinstance(args, dict) and isinstance(args.get("actions"), list):
            step = {**step, "args": {**args, "actions": redact_actions(principal, args["actions"])}}
        if step.get("name") == RELEASE_ACTION_STEP:
            failed_action = failed_action or step.get("status") == "failed"
            step = _without(step, "output", "error", "result")
        steps.append(step)
    redacted = {**run, "steps": steps}
    return _without(redacted, "error") if failed_action else redacted

"""What a release action runs with: its environment variables, layer by layer.

Every action runs with :func:`action_env`: the inherited environment without
shipmate's own ``SHIPMATE_*`` settings, the app's configured variables
(:func:`app_env_for`: the ``env`` table of the product's ``[deploy.target]``, when
there is one), then ``SHIPMATE_PRODUCT``, ``SHIPMATE_ENVIRONMENT``,
``SHIPMATE_PHASE``, ``SHIPMATE_ACTION`` and the step's flags and versions
(:meth:`~shipmate.domain.releases.planning.PlanStep.env`: ``SHIPMATE_DEP_FIRST`` ...
``SHIPMATE_TO_VERSION``).
"""

from __future__ import annotations

from collections.abc import Mapping

from shipmate.config import Settings
from shipmate.domain.releases.planning import PlanStep, ReleaseAction
from shipmate.engine.release import inherited_env

__all__ = ["action_env", "app_env_for"]


def app_env_for(settings: Settings, product: str) -> dict[str, str]:
    """The ``env`` table of the product's deploy target, or {} without a deploy config."""
    if not _has_deploy_config(settings, product):
        return {}
    from shipmate.services.deploys.config import load_product_deploy

    config = load_product_deploy(settings, product).config
    env = getattr(config.target, "env", None) or {}
    return {str(k): str(v) for k, v in dict(env).items()}


def _has_deploy_config(settings: Settings, product: str) -> bool:
    products_table = settings.sections.get("products")
    if isinstance(products_table, Mapping):
        entry = products_table.get(product)
        if isinstance(entry, Mapping) and "deploy" in entry:
            return True
    top = settings.sections.get("deploy")
    if isinstance(top, Mapping):
        owner = top.get("product") or settings.product
        return bool(owner == product)
    return False


def action_env(
    step: PlanStep,
    action: ReleaseAction | None,
    *,
    product: str,
    environment: str,
    app_env: Mapping[str, str] | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Everything an action runs with (see the module docstring for the layers)."""
    env = inherited_env(base)
    env.update({k: v for k, v in (app_env or {}).items() if not k.startswith("SHIPMATE_")})
    env["SHIPMATE_PRODUCT"] = product
    env["SHIPMATE_ENVIRONMENT"] = environment
    env["SHIPMATE_PHASE"] = "" if step.phase is None else str(step.phase)
    env["SHIPMATE_ACTION"] = "" if action is None else action.name
    env.update(step.env())
    return env

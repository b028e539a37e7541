"""Metadata keys a client may not send: shipmate derives or writes them itself.

A deployment's metadata is the client's, except for these keys.  Some are
derived from the event's own fields (Versioner's ``deployed_by_email``, bloqr's
``workflow_run_id``, ...), the rest are shipmate's record of what it decided
(gate results, overrides, unlocks, release actions).  A client value would
overwrite them, or forge a gate override, so a write that carries one is
refused (``invalid_input`` naming the key) on every path, before anything is
written.  shipmate's own services pass these keys separately
(``RecordRequest.own_metadata``).

A build's metadata has its own, shorter list (:data:`RESERVED_BUILD_METADATA_KEYS`):
the keys derived from a Versioner build event's fields.  The deployment list's
other keys mean nothing on a build: gates, overrides, unlocks, runs and release
actions act on deployments only, bloqr's keys come from its deployment records,
and a deployment does not take its build's metadata; so a build's metadata may
hold them as the client's own (``BuildRequest.own_metadata`` carries the derived
ones).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipmate.errors import InvalidInputError

__all__ = ["RESERVED_BUILD_METADATA_KEYS", "RESERVED_METADATA_KEYS", "check_client_metadata"]

#: Each reserved key, and who writes it.
RESERVED_METADATA_KEYS: dict[str, str] = {
    "preflight_status": "the gates' report-only results",
    "gate_override": "the record of a gate override",
    "unlocked": "the record of an unlock",
    "release_actions": "the release actions a run applied",
    "aborted_run": "the run whose abort ended the deployment",
    "client_build_number": "the Versioner event's build_number",
    "deployed_by_email": "the Versioner event's deployed_by_email",
    "deployed_by_name": "the Versioner event's deployed_by_name",
    "ci_platform": "the deployment's ci_platform (bloqr's metadata)",
    "workflow_run_id": "the deployment's CI run id (bloqr's metadata)",
    "workflow_run_url": "the deployment's CI run URL (bloqr's metadata)",
}


#: Each key reserved in a build's metadata, and who writes it.
RESERVED_BUILD_METADATA_KEYS: dict[str, str] = {
    "client_build_number": "the Versioner event's build_number",
    "built_by_email": "the Versioner event's built_by_email",
    "built_by_name": "the Versioner event's built_by_name",
}


def check_client_metadata(
    data: Mapping[str, Any],
    *,
    field: str = "metadata",
    reserved: Mapping[str, str] = RESERVED_METADATA_KEYS,
) -> None:
    """Refuse a client's metadata that holds a key of ``reserved`` (a deployment's
    by default); the error names it."""
    for key in data:
        why = reserved.get(str(key))
        if why is not None:
            raise InvalidInputError(
                f"{field} key {key!r} is reserved: shipmate writes it itself ({why}); "
                "use another name",
                field=f"{field}.{key}",
                key=str(key),
            )

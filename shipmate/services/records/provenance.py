"""The free-text provenance a build or a deployment carries, checked on the way in.

Both record the commit, branch and repository they came from, who made them
(``built_by`` or ``deployed_by``) and which CI platform, run and system reported
them: the same fields, named the same and held to the same lengths.
"""

from __future__ import annotations

from shipmate.domain.inputs.fields import validate_text
from shipmate.domain.requests import BuildRequest, RecordRequest

__all__ = ["clean_provenance"]


def clean_provenance(req: BuildRequest | RecordRequest, *, actor: str) -> dict[str, str | None]:
    """Each provenance field of ``req``, trimmed (None when blank), under its column's
    name, in column order; ``actor`` names the request's actor field (``built_by``,
    ``deployed_by``)."""
    fields = (  # (request attribute and column, field named in errors, longest length)
        ("commit_sha", "commit", 64),
        ("branch", "branch", 255),
        ("repository", "repository", 500),
        (actor, actor, 255),
        ("ci_platform", "ci_platform", 50),
        ("ci_run_id", "ci_run_id", 255),
        ("ci_run_url", "ci_run_url", 500),
        ("source_system", "source_system", 50),
    )
    return {
        name: validate_text(getattr(req, name), field=field, max_length=n)
        for name, field, n in fields
    }

"""Property-based run of the app's own OpenAPI: no 5xx, responses match the schema."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.config import Settings
from shipmate.domain.requests import RecordRequest
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context, open_context
from shipmate.services.records.deployments import record_deployment

_STATE: dict[str, object] = {}


def _app() -> object:
    import tempfile

    folder = tempfile.mkdtemp(prefix="shipmate-schemathesis-")
    ctx: Context = open_context(Settings(database_url=f"sqlite:///{folder}/s.db"))
    token = create_key(ctx, "fuzz", "admin").token
    record_deployment(
        ctx,
        RecordRequest(product="api", environment="production", version="1.0.0", status="completed"),
    )
    _STATE["token"] = token
    return create_app(ctx.settings, ctx=ctx, server=ServerSettings(default_product="api"))


_APP = _app()
# The document follows anonymous_read like every read: it needs the key too.
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", _APP, headers={"Authorization": f"Bearer {_STATE['token']}"}
)


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_never_5xx_and_conforms(case) -> None:  # type: ignore[no-untyped-def]
    case.call_and_validate(
        headers={"Authorization": f"Bearer {_STATE['token']}"},
        checks=[
            checks.not_a_server_error,
            checks.status_code_conformance,
            checks.content_type_conformance,
            checks.response_schema_conformance,
            checks.response_headers_conformance,
        ],
    )

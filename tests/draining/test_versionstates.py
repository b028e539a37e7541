"""Version states: transitions, reconciliation with the records, and where they are shown
(``shipmate versions``, ``shipmate show``, the API, the dashboard hook, drain progress)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.cli import main
from shipmate.cli.draining.handlers import DrainProgress, describe_state, render_states
from shipmate.domain.requests import RecordRequest
from shipmate.errors import IllegalTransitionError, InvalidInputError
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from shipmate.services.draining.states import VersionKey, list_version_states, transition
from shipmate.services.records.deployments import record_deployment
from shipmate.store.schema import events
from shipmate.web.pages import version_states

V1 = VersionKey("api", "production", "1.0.0", "1.0.0+build.1")


def record(ctx: Context, version: str) -> int:
    dep = record_deployment(
        ctx,
        RecordRequest(environment="production", status="completed", product="api", version=version),
    )
    return dep.id


def test_transitions_and_the_drained_event_once(ctx: Context) -> None:
    record(ctx, "1.0.0+build.1")
    active = transition(ctx, V1, "active", slot="blue")
    assert (active.state, active.slot) == ("active", "blue")
    draining = transition(ctx, V1, "draining", pending=3, drain_check="grace")
    started = draining.drain_started_at
    assert started is not None and draining.pending == 3
    again = transition(ctx, V1, "draining", pending=2)
    assert again.drain_started_at == started  # a resumed drain keeps its start
    for _ in range(2):
        drained = transition(ctx, V1, "drained", event="version.drained")
    assert drained.pending == 0 and drained.drain_seconds is not None
    with ctx.read() as conn:
        rows = conn.execute(select(events.c.data).where(events.c.type == "version.drained")).all()
    assert len(rows) == 1 and rows[0].data["full_version"] == "1.0.0+build.1"
    with pytest.raises(IllegalTransitionError, match="is drained; it cannot become draining"):
        transition(ctx, V1, "draining")
    retired = transition(ctx, V1, "retired", forced=True, forced_pending=2)
    assert (retired.state, retired.forced, retired.forced_pending) == ("retired", True, 2)
    back = transition(ctx, V1, "active", slot="green")
    assert (back.state, back.forced, back.drain_started_at) == ("active", False, None)
    with pytest.raises(InvalidInputError) as bad:
        transition(ctx, V1, "sleeping")
    assert bad.value.field == "state"


def test_list_reconciles_with_the_current_deployment(ctx: Context) -> None:
    record(ctx, "1.0.0+build.1")
    transition(ctx, V1, "active", slot="blue")
    transition(ctx, V1, "draining", pending=5)
    # the records say 1.0.0+build.1 is current (a rollback switched back): shown active
    [state] = list_version_states(ctx, "api")
    assert (state.state, state.pending, state.note) == ("active", None, "current deployment")
    record(ctx, "2.0.0+build.1")
    found = {s.full_version: s.state for s in list_version_states(ctx, "api", "production")}
    assert found == {"2.0.0+build.1": "active", "1.0.0+build.1": "draining"}
    only = list_version_states(ctx, "api", states=("draining",))
    assert [s.full_version for s in only] == ["1.0.0+build.1"]
    with pytest.raises(InvalidInputError) as bad:
        list_version_states(ctx, "api", states=("gone",))
    assert bad.value.field == "state"
    with pytest.raises(InvalidInputError) as bad:
        list_version_states(ctx, "bad name!")
    assert bad.value.field == "product"
    # the dashboard hook and the text renderings
    items = version_states(ctx, "api")
    assert items is not None
    assert {(i["version"], i["state"], i["pending"]) for i in items} == {
        ("2.0.0+build.1", "active", None),
        ("1.0.0+build.1", "draining", 5),
    }
    assert version_states(ctx, "nothing") is None
    table = render_states(list_version_states(ctx, "api"))
    assert "draining" in table and "1.0.0+build.1" in table
    draining = next(s for s in list_version_states(ctx, "api") if s.state == "draining")
    assert "5 pending (draining since" in describe_state(draining)


def test_cli_versions_and_show(
    ctx: Context, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPMATE_DATABASE_URL", ctx.settings.database_url)
    dep = record(ctx, "1.0.0+build.1")
    transition(ctx, V1, "active", slot="blue")
    record(ctx, "2.0.0+build.1")
    transition(ctx, V1, "draining", pending=4)
    assert main(["versions", "--product", "api", "--env", "production"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "1.0.0+build.1" in x)
    assert "draining" in line and "blue" in line and " 4 " in line
    assert main(["versions", "--product", "api", "--json"]) == 0
    import json

    body = json.loads(capsys.readouterr().out)
    assert [(i["full_version"], i["state"]) for i in body["items"]] == [
        ("2.0.0+build.1", "active"),
        ("1.0.0+build.1", "draining"),
    ]
    assert main(["show", str(dep)]) == 0
    assert "Version state: draining in slot blue, 4 pending" in capsys.readouterr().out
    assert main(["show", str(dep), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["version_state"]["state"] == "draining"
    assert main(["versions", "--product", "nope"]) == 1
    assert "product 'nope' does not exist" in capsys.readouterr().err
    assert main(["versions", "--product", "api", "--state", "gone"]) == 2
    assert "[state]" in capsys.readouterr().err
    assert main(["drain", "check", "--product", "api"]) == 1  # nothing to check it with
    assert "error" in capsys.readouterr().out


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    app = create_app(ctx.settings, ctx=ctx, server=ServerSettings())
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_api_lists_version_states(ctx: Context, client: TestClient) -> None:
    record(ctx, "1.0.0+build.1")
    transition(ctx, V1, "active", slot="blue")
    record(ctx, "2.0.0+build.1")
    transition(ctx, V1, "draining", pending=2)
    token = create_key(ctx, "reader", "read").token
    other = create_key(ctx, "web-only", "read", ["web"]).token
    headers = {"Authorization": f"Bearer {token}"}
    got = client.get("/api/v1/version-states", params={"product": "api"}, headers=headers)
    assert got.status_code == 200
    assert [(i["full_version"], i["state"], i["pending"]) for i in got.json()["items"]] == [
        ("2.0.0+build.1", "active", None),
        ("1.0.0+build.1", "draining", 2),
    ]
    only = client.get("/api/v1/version-states", params={"state": "draining"}, headers=headers)
    assert [i["full_version"] for i in only.json()["items"]] == ["1.0.0+build.1"]
    bad = client.get("/api/v1/version-states", params={"state": "x"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "state"
    limited = {"Authorization": f"Bearer {other}"}
    assert client.get("/api/v1/version-states", headers=limited).json()["items"] == []
    assert client.get("/api/v1/version-states").status_code == 401
    assert client.post("/api/v1/drain/check", headers=headers).status_code == 403
    page = client.get("/products/api", headers=headers)
    assert page.status_code == 200 and "1.0.0+build.1" in page.text and "draining" in page.text


def test_drain_progress_rewrites_on_a_terminal_and_prints_lines_elsewhere() -> None:
    tty = io.StringIO()
    live = DrainProgress(tty, interactive=True)
    for n in (3, 2, 1):
        live("1.0.0", f"{n} pending")
    live.end_line()
    assert tty.getvalue().count("\r\033[K") == 4 and "\n" not in tty.getvalue()
    assert tty.getvalue().endswith("\r\033[K")
    plain = io.StringIO()
    lines = DrainProgress(plain, interactive=False)
    for n in (3, 2, 1):
        lines("1.0.0", f"{n} pending")
    assert plain.getvalue() == "  1.0.0: 3 pending\n"  # at most one line per PLAIN_EVERY
    lines.last["1.0.0"] -= 10
    lines("1.0.0", "0 pending")
    assert plain.getvalue().splitlines() == ["  1.0.0: 3 pending", "  1.0.0: 0 pending"]

"""Hostile values are refused at the edge; rows that older versions stored never break reads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.domain.inputs.fields import parse_metadata, parse_time
from shipmate.domain.inputs.jsonlimits import readable
from shipmate.errors import InvalidInputError
from shipmate.services.context import Context
from shipmate.store.schema import builds, deployments, products
from tests.api.conftest import auth


def nested(depth: int) -> dict[str, Any]:
    doc: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        doc = {"a": doc}
    return doc


def raw_nested(depth: int) -> str:
    """The JSON text of an object ``depth`` levels deep, written without recursion."""
    return '{"a":' * (depth - 1) + '{"leaf":1}' + "}" * (depth - 1)


# (name, metadata as the client sends it: raw JSON text spliced into the body)
HOSTILE_METADATA = [
    ("deep", raw_nested(255)),
    ("very-deep", raw_nested(50_000)),
    ("nan", '{"x": NaN}'),
    ("infinity", '{"x": [1, Infinity]}'),
    ("minus-infinity", '{"x": {"y": -Infinity}}'),
    ("huge-integer", '{"x": 18446744073709551616}'),
    ("thousands-of-digits", '{"x": ' + "9" * 5000 + "}"),
    ("long-key", json.dumps({"k" * 300: 1})),
    ("many-keys", json.dumps({f"k{i}": i for i in range(1001)})),
]

HOSTILE_TIMES = ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00", "10000-01-01T00:00:00Z"]
HUGE_BUILDS = [2**31, 2**63, 2**64]


def _counts(ctx: Context) -> tuple[int, int, int]:
    with ctx.read() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (deployments, builds, products)
        )


def _post_raw(
    client: TestClient, path: str, body: dict[str, Any], metadata: str, token: str
) -> Any:
    key = "extra_metadata" if path.startswith("/versioner") else "metadata"
    payload = json.dumps(body)[:-1] + f', "{key}": {metadata}}}'
    return client.post(
        path,
        content=payload.encode(),
        headers={**auth(token), "Content-Type": "application/json"},
    )


def _reads_answer(client: TestClient, token: str) -> None:
    read = auth(token)
    for path in (
        "/api/v1/deployments",
        "/api/v1/current",
        "/api/v1/stats",
        "/api/deployments?product=api",
        "/api/version?product=api",
    ):
        got = client.get(path, headers=read)
        assert got.status_code in (200, 404), (path, got.status_code, got.text[:300])


V1 = {"product": "api", "environment": "production", "version": "1.0.0", "status": "completed"}
VERSIONER = {
    "product_name": "api",
    "environment_name": "production",
    "version": "1.0.0",
    "status": "completed",
}


@pytest.mark.parametrize(
    ("name", "metadata"), HOSTILE_METADATA, ids=[h[0] for h in HOSTILE_METADATA]
)
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/deployments", V1),
        ("/api/v1/builds", {"product": "api", "version": "1.0.0"}),
        ("/versioner/deployment-events/", VERSIONER),
        (
            "/versioner/build-events/",
            {k: v for k, v in VERSIONER.items() if k != "environment_name"},
        ),
    ],
    ids=["v1-deployments", "v1-builds", "versioner-deployments", "versioner-builds"],
)
def test_hostile_metadata_is_refused_and_reads_keep_working(
    client: TestClient,
    tokens: dict[str, str],
    ctx: Context,
    path: str,
    body: dict[str, Any],
    name: str,
    metadata: str,
) -> None:
    r = _post_raw(client, path, body, metadata, tokens["admin"])
    assert r.status_code in (413, 422), (name, r.status_code, r.text[:300])
    shown = r.json()
    # A body nested past the parser's reach, or with an integer of thousands of
    # digits, does not parse at all: a 422 about the body, before any field is read.
    unparsed = name in ("very-deep", "thousands-of-digits")
    if path.startswith("/versioner"):
        where = ["body"] if unparsed else ["body", "extra_metadata"]
        assert shown["detail"][0]["loc"][: len(where)] == where, shown
    else:
        assert shown["error"]["field"] == ("body" if unparsed else "metadata"), shown
    assert _counts(ctx) == (0, 0, 0)
    _reads_answer(client, tokens["read"])


@pytest.mark.parametrize("when", HOSTILE_TIMES)
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/deployments", V1, "completed_at"),
        ("/api/v1/deployments", V1, "started_at"),
        ("/versioner/deployment-events/", VERSIONER, "completed_at"),
    ],
)
def test_times_outside_the_years_are_refused(
    client: TestClient,
    tokens: dict[str, str],
    ctx: Context,
    path: str,
    body: dict[str, Any],
    field: str,
    when: str,
) -> None:
    r = client.post(path, json={**body, field: when}, headers=auth(tokens["admin"]))
    assert r.status_code == 422, r.text
    if path.startswith("/versioner"):
        assert r.json()["detail"][0]["loc"] == ["body", field]
    else:
        assert r.json()["error"]["field"] == field
    assert _counts(ctx) == (0, 0, 0)
    _reads_answer(client, tokens["read"])


@pytest.mark.parametrize("build", HUGE_BUILDS)
def test_build_numbers_over_the_columns_range_are_refused(
    client: TestClient, tokens: dict[str, str], ctx: Context, build: int
) -> None:
    admin = auth(tokens["admin"])
    as_version = client.post(
        "/api/v1/deployments", json={**V1, "version": f"1.0.0+build.{build}"}, headers=admin
    )
    assert (as_version.status_code, as_version.json()["error"]["field"]) == (422, "version")
    as_field = client.post("/api/v1/deployments", json={**V1, "build_number": build}, headers=admin)
    assert as_field.status_code == 422
    versioner = client.post(
        "/versioner/deployment-events/",
        json={**VERSIONER, "version": f"1.0.0+build.{build}"},
        headers=admin,
    )
    assert versioner.status_code == 422, versioner.text
    assert versioner.json()["detail"][0]["loc"] == ["body", "version"]
    assert _counts(ctx) == (0, 0, 0)
    _reads_answer(client, tokens["read"])


# -- rows older versions stored --------------------------------------------------------


def _store_raw(ctx: Context, client: TestClient, token: str, extra_text: str) -> str:
    """A deployment recorded normally whose metadata is then overwritten by raw SQL."""
    made = client.post("/api/v1/deployments", json=V1, headers=auth(token))
    assert made.status_code == 201, made.text
    dep_id = made.json()["id"]
    cast = "CAST(:extra AS json)" if ctx.engine.dialect.name == "postgresql" else ":extra"
    with ctx.write() as conn:
        conn.execute(
            text(f"UPDATE deployments SET extra = {cast} WHERE id = :id"),
            {"extra": extra_text, "id": int(dep_id)},
        )
    return str(dep_id)


# What older versions could store on both databases, and what only SQLite's text
# column could hold (PostgreSQL's json type never accepted NaN or broken JSON).
STORED = [
    ("deep", raw_nested(255)),
    ("very-deep", raw_nested(5000)),
    ("array", "[1, 2]"),
]
STORED_SQLITE_ONLY = [
    ("nan", '{"x": NaN, "y": [Infinity, -Infinity]}'),
    ("not-json", "{this is not json"),
]


@pytest.fixture
def open_web(ctx: Context) -> Iterator[TestClient]:
    app = create_app(ctx.settings, ctx=ctx, server=ServerSettings(anonymous_read=True))
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as web:
        yield web


@pytest.mark.parametrize(("name", "extra"), STORED, ids=[s[0] for s in STORED])
def test_reads_survive_metadata_older_versions_stored(
    client: TestClient,
    open_web: TestClient,
    tokens: dict[str, str],
    ctx: Context,
    name: str,
    extra: str,
) -> None:
    _reads_survive(client, open_web, tokens, ctx, extra)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("name", "extra"), STORED_SQLITE_ONLY, ids=[s[0] for s in STORED_SQLITE_ONLY]
)
def test_reads_survive_text_only_sqlite_could_store(
    client: TestClient,
    open_web: TestClient,
    tokens: dict[str, str],
    ctx: Context,
    name: str,
    extra: str,
) -> None:
    _reads_survive(client, open_web, tokens, ctx, extra)


def _reads_survive(
    client: TestClient, open_web: TestClient, tokens: dict[str, str], ctx: Context, extra: str
) -> None:
    dep_id = _store_raw(ctx, client, tokens["write"], extra)
    read = auth(tokens["read"])
    for path in (
        "/api/v1/deployments",
        f"/api/v1/deployments/{dep_id}",
        "/api/v1/current",
        "/api/deployments?product=api",
        "/api/version?product=api",
    ):
        got = client.get(path, headers=read)
        assert got.status_code == 200, (path, got.status_code, got.text[:300])
    one = client.get(f"/api/v1/deployments/{dep_id}", headers=read).json()
    assert isinstance(one["metadata"], dict)
    for page in ("/", "/history", f"/deployments/{dep_id}", "/products/api"):
        got = open_web.get(page)
        assert got.status_code == 200, (page, got.status_code)
    # The deployment can still be advanced: the old metadata does not block a write.
    mark = client.post(
        f"/api/v1/deployments/{dep_id}/events",
        json={"status": "rolled_back", "metadata": {"why": "bad"}},
        headers=auth(tokens["write"]),
    )
    assert mark.status_code in (200, 409), mark.text


# -- the pure checks -------------------------------------------------------------------


def test_parse_metadata_names_the_path() -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_metadata({"a": {"b": [1, float("nan")]}})
    assert caught.value.field == "metadata"
    assert caught.value.message.startswith("metadata.a.b[1] is nan")
    with pytest.raises(InvalidInputError) as deep:
        parse_metadata(nested(33))
    assert "more than 32 levels" in deep.value.message
    assert parse_metadata(nested(32)) == nested(32)


def test_parse_time_keeps_the_utc_value_in_range() -> None:
    for bad in HOSTILE_TIMES:
        with pytest.raises(InvalidInputError) as caught:
            parse_time(bad, field="completed_at")
        assert caught.value.field == "completed_at"
    assert parse_time("9999-12-31T00:00:00+23:59", field="t").year == 9999


def test_readable_replaces_only_what_a_reader_cannot_render() -> None:
    plain = {"a": [1, 2.5, "x"], "b": None}
    assert readable(plain) is plain
    assert readable({"x": float("nan"), "y": [float("inf"), float("-inf")]}) == {
        "x": "NaN",
        "y": ["Infinity", "-Infinity"],
    }
    deep = readable(nested(40))
    json.dumps(deep, allow_nan=False)
    level = deep
    for _ in range(32):
        level = level["a"]
    assert isinstance(level, str) and level.startswith('{"a":')

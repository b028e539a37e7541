"""The server takes versions as clients send them: no prefix comes off, and a build of
a version that already names a build is refused (422) on both protocols."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import auth


def test_a_build_of_a_full_version_is_refused(client: TestClient, tokens: dict[str, str]) -> None:
    w = auth(tokens["write"])
    body = {"product": "api", "version": "1.4.0+build.3"}
    refused = client.post("/api/v1/builds", json=body, headers=w)
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "version"
    assert "give the base version 1.4.0" in refused.json()["error"]["message"]
    versioner = client.post(
        "/versioner/build-events/",
        json={"product_name": "api", "version": "1.4.0+build.3", "status": "started"},
        headers=w,
    )
    assert versioner.status_code == 422
    fine = client.post("/api/v1/builds", json={"product": "api", "version": "1.4.0"}, headers=w)
    assert fine.json()["build_number"] == 1, "the refusals allocated nothing"


def test_the_server_keeps_a_v_prefix(client: TestClient, tokens: dict[str, str]) -> None:
    w = auth(tokens["write"])
    made = client.post("/api/v1/builds", json={"product": "api", "version": "v1.4.0"}, headers=w)
    assert made.status_code == 201, made.text
    assert made.json()["full_version"] == "v1.4.0+build.1"

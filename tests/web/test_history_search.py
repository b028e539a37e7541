"""History: a date range, free-text search, numbered pages over keyset pages, every
filter in the URL (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from shipmate.api.app import create_app
from shipmate.api.settings import ServerSettings
from shipmate.demo.clock import FakeClock
from shipmate.domain.requests import HistoryFilter, RecordRequest
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from shipmate.services.historypages import count_pages, page_cursor
from shipmate.services.queries import history
from shipmate.services.records.deployments import record_deployment

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def seed(ctx: Context, clock: FakeClock, n: int = 23) -> None:
    """``n`` deployments of ``app``, one a day from T0; a few with telling values."""
    for i in range(n):
        clock.set(T0 + timedelta(days=i))
        special: dict[str, Any] = {}
        if i == 3:
            special = {"metadata": {"ticket": "OPS-1234", "note": "Hotfix for 50%_off"}}
        if i == 5:
            special = {"commit_sha": "deadbeefcafe" + "0" * 28}
        if i == 7:
            special = {"deployed_by": "Zoë Carter"}
        record_deployment(
            ctx,
            RecordRequest(
                product="app",
                environment="production",
                version=f"1.{i}.0",
                status="completed",
                **special,
            ),
        )
    clock.set(T0 + timedelta(days=n + 1))


@pytest.fixture
def client(ctx: Context, clock: FakeClock) -> Any:
    seed(ctx, clock)
    token = create_key(ctx, "reader", "read").token
    app = create_app(ctx.settings, ctx=ctx, server=ServerSettings())
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as c:
        yield c


def versions(client: TestClient, query: str) -> list[str]:
    answer = client.get("/history?" + query)
    assert answer.status_code == 200, answer.text
    page = BeautifulSoup(answer.text, "html.parser")
    return [
        row.select("td")[4].a.get_text(strip=True) for row in page.select("table.history tbody tr")
    ]


def test_search_finds_version_commit_actor_and_metadata_values(client: TestClient) -> None:
    assert versions(client, "q=1.12.0") == ["1.12.0"]
    assert versions(client, "q=DEADBEEF") == ["1.5.0"]  # case does not matter
    assert versions(client, "q=zoë carter") == ["1.7.0"]
    assert versions(client, "q=ops-1234") == ["1.3.0"]  # a metadata value
    assert versions(client, "q=ticket") == []  # a metadata key is not a value
    assert versions(client, "q=nothing-like-this") == []


def test_search_wildcards_and_quotes_are_literal(client: TestClient) -> None:
    assert versions(client, "q=50%25_off") == ["1.3.0"]
    assert versions(client, "q=%25") == ["1.3.0"]  # only the value holding a real %
    assert versions(client, "q=_") == ["1.3.0"]
    assert versions(client, "q=1_1") == []  # _ is not "any character"
    assert versions(client, "q=%27%3B+drop+table+deployments%3B--") == []
    assert versions(client, "q=1.1") == ["1.19.0", "1.18.0", "1.17.0", "1.16.0", "1.15.0",
                                        "1.14.0", "1.13.0", "1.12.0", "1.11.0", "1.10.0",
                                        "1.1.0"]  # fmt: skip


def test_date_range_takes_days_until_inclusive(client: TestClient) -> None:
    assert versions(client, "from=2026-10-03&until=2026-10-05") == ["1.4.0", "1.3.0", "1.2.0"]
    assert versions(client, "from=2026-10-22T00:00:00Z") == ["1.22.0", "1.21.0"]
    for bad in ("from=2026-13-01", "until=yesterday", "from=2026-10-05&until=2026-10-04"):
        answer = client.get("/history?" + bad)
        assert answer.status_code == 422, bad
        assert "field" in answer.text


def test_a_search_without_a_start_looks_back_ninety_days(
    ctx: Context, clock: FakeClock, client: TestClient
) -> None:
    clock.set(T0 + timedelta(days=200))
    assert versions(client, "q=1.12.0") == []
    page = BeautifulSoup(client.get("/history?q=1.12.0").text, "html.parser")
    start = (T0 + timedelta(days=110)).date().isoformat()
    assert page.select_one('input[name="from"]')["value"] == start
    assert versions(client, "q=1.12.0&from=2026-01-01") == ["1.12.0"]


def pager_links(html: str) -> dict[str, dict[str, list[str]]]:
    page = BeautifulSoup(html, "html.parser")
    return {
        a.get_text(strip=True): parse_qs(urlsplit(a["href"]).query)
        for a in page.select("nav.pager a")
    }


def test_numbered_pages_jump_and_keep_every_filter(client: TestClient) -> None:
    query = "product=app&environment=production&limit=5&q=1.&from=2026-10-01"
    first = client.get("/history?" + query).text
    assert "page 1 of 5" in first
    links = pager_links(first)
    assert set(links) >= {"2", "3", "Older ›", "Last »"}
    for target in links.values():  # every filter stays in every link
        assert target["q"] == ["1."] and target["from"] == ["2026-10-01"]
        assert target["limit"] == ["5"] and target["environment"] == ["production"]
    # a jump to page 3 is a keyset seek: the same rows as walking there by cursor
    jumped = versions(client, query + "&page=3")
    walked = client.get("/history?" + query).text
    for _ in range(2):
        older = pager_links(walked)["Older ›"]
        walked = client.get("/history", params={k: v[0] for k, v in older.items()}).text
    assert "page 3 of 5" in walked
    rows = BeautifulSoup(walked, "html.parser").select("table.history tbody tr")
    assert jumped == [r.select("td")[4].a.get_text(strip=True) for r in rows]
    assert jumped == ["1.12.0", "1.11.0", "1.10.0", "1.9.0", "1.8.0"]
    last = client.get("/history?" + query + "&page=5").text
    assert "page 5 of 5" in last and "Older ›" not in pager_links(last)
    assert versions(client, query + "&page=5") == ["1.2.0", "1.1.0", "1.0.0"]
    # past the end: the last page; out of range: the field named
    assert "page 5 of 5" in client.get("/history?" + query + "&page=9").text
    assert client.get("/history?page=0").status_code == 422
    # the jump form is a GET form carrying the filters
    form = BeautifulSoup(first, "html.parser").select_one("form.jump")
    assert form["method"] == "get"
    hidden = {i["name"]: i["value"] for i in form.select("input[type=hidden]")}
    assert hidden["q"] == "1." and hidden["limit"] == "5"


def test_page_seeks_match_keyset_pages(ctx: Context, clock: FakeClock) -> None:
    seed(ctx, clock, n=12)
    f = HistoryFilter(product="app")
    assert count_pages(ctx, f, limit=5).pages == 3
    walked = history(ctx, f, limit=5)
    second = history(ctx, f, limit=5, cursor=walked.next_cursor)
    assert page_cursor(ctx, f, limit=5, page=2) == walked.next_cursor
    third = history(ctx, f, limit=5, cursor=page_cursor(ctx, f, limit=5, page=3))
    assert third.items[0].id < second.items[-1].id
    assert page_cursor(ctx, f, limit=5, page=9) is None

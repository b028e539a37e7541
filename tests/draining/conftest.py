"""Fixtures for the draining tests: a ctx whose settings carry the deploy table, and an
in-flight counter served over real loopback HTTP (what an ``http`` drain check reads)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from shipmate.services.context import Context, utcnow
from shipmate.services.deploys.deploy import DeployRequest, RunOutcome, deploy
from tests.runs.conftest import Fakes, fake_table, make_fakes


@dataclass
class Counter:
    """``GET /inflight/<version>`` answers ``{"pending": N}``; N from ``counts[version]``.

    A list plays back one value per request, then repeats its last one.
    """

    counts: dict[str, list[int]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)
    port: int = 0

    def set(self, version: str, *values: int) -> None:
        self.counts[version] = list(values)

    def read(self, version: str) -> int:
        self.asked.append(version)
        values = self.counts.get(version) or [0]
        return values.pop(0) if len(values) > 1 else values[0]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/inflight/{{version}}"


@pytest.fixture
def counter() -> Iterator[Counter]:
    state = Counter()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            version = unquote(self.path.removeprefix("/inflight/"))
            body = json.dumps({"pending": state.read(version)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class DrainSetup:
    ctx: Context
    fakes: Fakes
    env: str = "production"

    def deploy(self, version: str, **kwargs: Any) -> RunOutcome:
        return deploy(
            self.ctx,
            self.fakes.deploy,
            DeployRequest("api", self.env, version, actor="tester"),
            parts_factory=self.fakes.parts,
            **kwargs,
        )


def setup_with(ctx: Context, tmp_path: Path, drain: Mapping[str, Any] | None) -> DrainSetup:
    """Fakes for target and switch, and the deploy table (with ``drain``) in ctx.settings."""
    table = fake_table()
    if drain is not None:
        table["drain"] = dict(drain)
    fakes = make_fakes(tmp_path, table=table)
    ctx.settings = replace(ctx.settings, sections={"products": {"api": {"deploy": table}}})
    ctx.clock = utcnow
    return DrainSetup(ctx, fakes)

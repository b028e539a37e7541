"""The outage log's transitions: one line when an outage begins, one when it ends."""

from __future__ import annotations

import logging

import pytest

from shipmate.store.outage import OutageLog


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "shipmate.store"]


def test_only_a_connection_opened_after_the_outage_began_ends_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outage = OutageLog()
    with caplog.at_level(logging.WARNING, logger="shipmate.store"):
        outage.succeeded(write=False, opened_in=outage.epoch)  # reached once
        outage.failed("terminating connection due to administrator command")
        # a transaction on an older connection finishing while the server shuts down
        outage.succeeded(write=True, opened_in=0)
        outage.failed("connection refused")
        outage.succeeded(write=False, opened_in=outage.epoch)  # a new connection: back
    assert lines(caplog) == [
        "database unreachable: terminating connection due to administrator command",
        "database reachable again",
    ]


def test_a_held_write_lock_ends_with_a_write_and_never_reached_logs_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outage = OutageLog()
    with caplog.at_level(logging.WARNING, logger="shipmate.store"):
        outage.failed("unable to open database file")  # never reached: the error says it
        outage.succeeded(write=False, opened_in=outage.epoch)
        outage.failed("database is locked", writes_only=True)
        outage.succeeded(write=False, opened_in=outage.epoch)  # reads go on: not over
        outage.succeeded(write=True, opened_in=0)
    assert lines(caplog) == ["database unreachable: database is locked", "database reachable again"]

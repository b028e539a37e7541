"""The in-memory progress lines and wake-ups of a server process."""

from __future__ import annotations

import threading

from shipmate.services.runs.live import KEEP_LINES, LiveRuns


def test_progress_lines_are_numbered_and_read_after_a_number() -> None:
    live = LiveRuns()
    live.publish(7, 3, "attempt 1/5: connection refused")
    live.publish(7, 3, "attempt 2/5: ok")
    live.publish(8, 1, "other run")
    assert [(line.number, line.message) for line in live.progress(7)] == [
        (1, "attempt 1/5: connection refused"),
        (2, "attempt 2/5: ok"),
    ]
    assert [line.number for line in live.progress(7, after=1)] == [2]
    assert live.progress(9) == []


def test_only_the_last_lines_are_kept() -> None:
    live = LiveRuns()
    for n in range(KEEP_LINES + 5):
        live.publish(1, 1, f"line {n}")
    lines = live.progress(1)
    assert len(lines) == KEEP_LINES
    assert lines[0].number == 6


def test_a_change_wakes_a_waiting_follower_at_once() -> None:
    live = LiveRuns()
    mark = live.run_mark(5)
    started = threading.Event()
    woke: list[int] = []

    def follower() -> None:
        started.set()
        woke.append(live.wait_run(5, mark, timeout=30))

    thread = threading.Thread(target=follower)
    thread.start()
    started.wait()
    live.changed(5)
    thread.join(timeout=30)
    assert woke and woke[0] > mark


def test_host_work_wakes_only_a_change_of_that_host() -> None:
    live = LiveRuns()
    mark = live.host_mark("web-1")
    live.host_work("web-2")
    assert live.wait_host("web-1", mark, timeout=0) == mark
    live.host_work("web-1")
    assert live.wait_host("web-1", mark, timeout=0) == mark + 1

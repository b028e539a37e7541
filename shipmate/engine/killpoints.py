"""Named points where a test can make shipmate kill itself with SIGKILL.

``SHIPMATE_TEST_KILL_AT=<point>`` in shipmate's environment makes
:func:`kill_point` SIGKILL this process when it reaches that point, so a test can
prove that a process killed there leaves nothing the next run cannot find.  Only
tests set it; shipmate never passes it on to the apps it starts (it strips its own
``SHIPMATE_*`` variables).  The points:

* ``process.start``: the process target is about to start a release in a slot;
* ``process.intent``: it wrote ``start.json`` (the intent) and is about to spawn;
* ``process.spawned``: the app runs, ``pid.json`` is not written yet;
* ``process.recorded``: ``pid.json`` is written, ``start.json`` not removed yet;
* ``process.adopted``: it adopted an app an earlier, killed start had spawned;
* ``process.signalled``: it sent SIGTERM to a slot's processes, before they exited;
* ``process.stopped``: they exited, ``pid.json`` is not removed yet;
* ``nginx.written``: the nginx switch replaced the upstream file, before ``nginx -t``;
* ``nginx.tested``: ``nginx -t`` passed, before the reload.
"""

from __future__ import annotations

import os
import signal

__all__ = ["KILL_AT_VARIABLE", "POINTS", "kill_point"]

KILL_AT_VARIABLE = "SHIPMATE_TEST_KILL_AT"

POINTS = (
    "process.start",
    "process.intent",
    "process.spawned",
    "process.recorded",
    "process.adopted",
    "process.signalled",
    "process.stopped",
    "nginx.written",
    "nginx.tested",
)


def kill_point(name: str) -> None:
    """SIGKILL this process if the test asked to be killed at ``name``."""
    if os.environ.get(KILL_AT_VARIABLE) == name:
        os.kill(os.getpid(), signal.SIGKILL)

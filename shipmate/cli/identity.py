"""Who runs the CLI when it works on the database directly (local mode, no key).

Local mode has no authentication: whoever can open the database can change it.
Its identity is what the machine says, the same for every command that needs
one, so that ``shipmate approve`` and ``shipmate record`` agree: the CI
platform's actor (``GITHUB_ACTOR``, ``GITLAB_USER_LOGIN``, ...) when a CI
platform is detected, else the login name (as ``getpass.getuser()`` finds it: ``LOGNAME``,
``USER``, ``LNAME``, ``USERNAME``, then the password database).  A flag never
chooses it; in remote mode the identity is the key's name, decided by the server.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["local_identity", "login_name"]


def local_identity(environ: Mapping[str, str] | None = None) -> str | None:
    from shipmate.domain.ci import detect_ci

    env = os.environ if environ is None else environ
    actor = detect_ci(env).actor
    if actor and actor.strip():
        return actor.strip()
    return login_name(env)


def login_name(environ: Mapping[str, str] | None = None) -> str | None:
    """The login name, as ``getpass.getuser()`` finds it; None when there is none."""
    env = os.environ if environ is None else environ
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):  # getpass.getuser()'s order
        if env.get(name, "").strip():
            return env[name].strip()
    # The password database, as getpass.getuser() reads it, without importing getpass
    # (and termios with it) for one call.
    import pwd  # here: the variables above name the user almost everywhere

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except (KeyError, OSError):
        return None

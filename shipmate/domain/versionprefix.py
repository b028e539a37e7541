"""The prefix a version may be written with (``v1.4.0``), and taking it off.

Apart from :mod:`shipmate.domain.versions` (which re-exports both names) so that a
command that only strips the prefix off its flags, such as ``shipmate record`` in
remote mode, compiles none of the version patterns.
"""

from __future__ import annotations

__all__ = ["DEFAULT_VERSION_PREFIX", "strip_version_prefix"]

#: What ``version_prefix`` is when the settings do not say: tags such as ``v1.4.0``.
DEFAULT_VERSION_PREFIX = "v"
_DIGITS = frozenset("0123456789")


def strip_version_prefix(text: str, prefix: str = DEFAULT_VERSION_PREFIX) -> str:
    """``text`` without ``prefix`` when a digit follows it: ``v1.4.0`` gives ``1.4.0``.

    Anything else is kept as it is (``vnext``, ``1.4.0``, ``v.1``); an empty prefix
    strips nothing.  Every version a user hands the CLI, and every git tag, goes
    through here, with the ``version_prefix`` setting.
    """
    if prefix and text.startswith(prefix) and text[len(prefix) : len(prefix) + 1] in _DIGITS:
        return text[len(prefix) :]
    return text

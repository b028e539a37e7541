"""The fleet tests' fixtures: ``fleet`` (three hosts) from :mod:`tests.support.fleet`."""

from tests.support.fleet import fleet

__all__ = ["fleet"]

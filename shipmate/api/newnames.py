"""A write that may create names: ``?create=true``, and the ``Shipmate-Warning`` header.

With ``[catalog] unknown = "warn"`` a write that creates a product or environment
answers as usual, with one ``Shipmate-Warning`` header naming what it created.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import Response

from shipmate.services.catalog.changes import collecting_warnings, creating_names

__all__ = ["WARNING_HEADER", "new_names"]

WARNING_HEADER = "Shipmate-Warning"


@contextmanager
def new_names(response: Response, create: bool = False) -> Iterator[None]:
    """Writes inside may create names if ``create``; their warnings become a header."""
    with creating_names(create), collecting_warnings() as warnings:
        yield
    if warnings:
        response.headers[WARNING_HEADER] = "; ".join(warnings)

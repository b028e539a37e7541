"""The answer of a hot route: its body, already JSON-native, serialized once.

A route that returns a dict has FastAPI walk it with ``jsonable_encoder`` (every key
and value of a 50-row history page, of a 2,400-cell matrix) before ``json.dumps``
runs.  The records' ``to_dict`` already produce only JSON types (strings for times
and ids), so the hot routes hand FastAPI a finished :class:`JSONResponse` instead:
the same bytes FastAPI would send, without the walk.
"""

from __future__ import annotations

from typing import Any

from fastapi import Response
from fastapi.responses import JSONResponse

__all__ = ["hot_json"]


def hot_json(
    body: dict[str, Any], response: Response | None = None, *, status_code: int = 200
) -> JSONResponse:
    """``body`` as the JSON answer; headers already set on the route's ``response``
    (by a dependency or the route) are kept."""
    answer = JSONResponse(body, status_code=status_code)
    if response is not None:
        for name, value in response.headers.items():
            if name.lower() not in ("content-length", "content-type"):
                answer.headers.append(name, value)
    return answer

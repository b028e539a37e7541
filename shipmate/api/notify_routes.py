"""API routes of the notify feature (registered by shipmate.api.app)."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter()

"""API routes of the insights feature (registered by shipmate.api.app)."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter()

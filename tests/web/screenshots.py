"""Screenshots the browser tests take: always into ``test-artifacts/``; into
``docs/images/`` (what the docs show) only when ``SHIPMATE_UPDATE_DOCS_IMAGES=1``, so
an ordinary test run leaves the checkout unchanged."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def artifact(name: str) -> Path:
    """Where a screenshot named ``name`` is saved for this run."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


def publish(shot: Path, name: str | None = None) -> None:
    """Copy ``shot`` to ``docs/images/`` when asked to refresh the docs' images."""
    if os.environ.get("SHIPMATE_UPDATE_DOCS_IMAGES") != "1":
        return
    images = ROOT / "docs" / "images"
    images.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, images / (name or shot.name))

"""The layers hold: every import inside shipmate points the way docs/development.md says.

Read from the source with ``ast`` (nothing is imported), so a new module is covered
the moment it exists.  Imports under ``if TYPE_CHECKING:`` count too: a type is a
dependency a reader has to follow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "shipmate"

#: Which top-level parts of shipmate each part may import ("root" is shipmate/__init__).
ALLOWED: dict[str, set[str]] = {
    "root": set(),
    "errors": set(),
    "domain": {"errors"},
    "config": {"errors", "domain"},
    "store": {"errors", "domain"},
    "engine": {"errors", "domain"},
    "services": {"root", "errors", "domain", "config", "store", "engine"},
    "api": {"root", "errors", "domain", "config", "services", "web"},
    "web": {"root", "errors", "domain", "config", "services", "api"},
    "cli": {"root", "errors", "domain", "config", "services", "api", "demo"},
    "demo": {"root", "errors", "domain", "config", "services", "cli"},
    "__main__": {"cli"},
}

#: What pure code never imports: I/O, processes, the network, the database, the clock.
IMPURE = {
    "os", "sys", "subprocess", "socket", "pathlib", "shutil", "io", "time", "threading",
    "asyncio", "logging", "http", "urllib.request", "sqlalchemy", "alembic", "fastapi",
    "starlette", "httpx", "requests", "apprise", "psycopg", "sqlite3", "signal",
}  # fmt: skip


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "root"


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        if ".store.migrations." not in name + ".":
            found.append((name, path))
    return found


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


MODULES = _modules()


def test_every_part_has_a_rule() -> None:
    assert {_part(name) for name, _ in MODULES} <= set(ALLOWED)


@pytest.mark.parametrize(("name", "path"), MODULES, ids=[m[0] for m in MODULES])
def test_imports_follow_the_layers(name: str, path: Path) -> None:
    part = _part(name)
    wrong = [
        f"{path.name}:{line} imports {target} ({part} may not import {_part(target)})"
        for line, target in _imports(path)
        if target.split(".")[0] == "shipmate"
        and _part(target) != part
        and _part(target) not in ALLOWED[part]
    ]
    if part == "domain":
        wrong += [
            f"{path.name}:{line} imports {target} (domain is pure: no I/O)"
            for line, target in _imports(path)
            if target in IMPURE or target.split(".")[0] in IMPURE
        ]
    assert not wrong, "\n".join(wrong)


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from shipmate.services.context import Context\nimport sqlalchemy\n")
    targets = [t for _, t in _imports(bad)]
    assert "shipmate.services.context" in targets and "sqlalchemy" in targets
    assert "services" not in ALLOWED["domain"] and "sqlalchemy" in IMPURE

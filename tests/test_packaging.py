"""What a package index and a fresh install see: the licence, the links, the pins, the
sdist and wheel contents, and the error a missing optional driver gives."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.conftest import require_real_part

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_the_licence_file_is_the_licence_the_metadata_names() -> None:
    assert PROJECT["license"] == "Apache-2.0"
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License")
    assert "Version 2.0, January 2004" in text


def test_readme_links_to_docs_work_on_a_package_index_page() -> None:
    """Relative links break on a package index page; each docs link is absolute, under
    the Documentation URL, and names a page that exists."""
    base = PROJECT["urls"]["Documentation"].rstrip("/") + "/"
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", readme)
    docs_links = [t for t in targets if "docs/" in t]
    assert docs_links, "the README links to no docs page"
    for target in targets:
        assert re.match(r"https?://|#", target), f"relative link in README: {target}"
    for link in docs_links:
        assert link.startswith(base), f"{link} is not under {base}"
        page = link[len(base) :].split("#", 1)[0]
        assert (ROOT / "docs" / page).is_file(), f"README links to a missing page: {link}"


def _requirements() -> list[str]:
    extras = PROJECT["optional-dependencies"]
    return [*PROJECT["dependencies"], *extras["server"], *extras["postgres"]]


def test_no_runtime_dependency_is_pinned_exactly() -> None:
    pinned = [r for r in _requirements() if "==" in r]
    assert pinned == []


def test_postgres_driver_is_an_extra_and_not_a_core_dependency() -> None:
    assert not any(r.startswith("psycopg") for r in PROJECT["dependencies"])
    assert any(r.startswith("psycopg") for r in PROJECT["optional-dependencies"]["postgres"])


def test_a_postgresql_url_without_the_driver_names_the_extra(tmp_path: Path) -> None:
    # sys.modules[name] = None makes both find_spec and import see no psycopg.
    script = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from shipmate.cli import main\n"
        "sys.exit(main(['--database-url', 'postgresql://u@127.0.0.1:9/x', 'current']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "pip install 'shipmate[postgres]'" in done.stderr
    assert "Traceback" not in done.stderr


def _tracked(folder: str) -> set[str]:
    listed = subprocess.run(
        ["git", "ls-files", folder], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return {name for name in listed if (ROOT / name).is_file()}


@pytest.mark.slow
def test_the_sdist_holds_the_whole_suite_and_the_wheel_only_the_package(tmp_path: Path) -> None:
    if not (ROOT / ".git").exists():
        require_real_part("the git checkout", "it says which files of tests/ are tracked")
    built = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "-o", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (sdist,) = tmp_path.glob("*.tar.gz")
    (wheel,) = tmp_path.glob("*.whl")
    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    missing = sorted(_tracked("tests") - in_sdist)
    assert missing == [], f"the sdist leaves out part of the suite: {missing[:10]}"
    assert "LICENSE" in in_sdist
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = archive.namelist()
    assert not [n for n in in_wheel if n.startswith("tests/")]
    assert not [n for n in in_wheel if n.startswith("shipmate/testing/")]
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in in_wheel)

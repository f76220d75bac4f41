"""constraints.txt, the tested set the README's install honours, stays complete and true to
pyproject.toml: every dependency pinned, every pin within its range, SQLAlchemy below 2.1."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def declared() -> list[Requirement]:
    """Runtime and every optional (dev) dependency of pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        lines += extra
    return [Requirement(line) for line in lines]


def pins() -> dict[str, Version]:
    """``name==version`` lines of constraints.txt, by canonical name; anything else refused."""
    found: dict[str, Version] = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep and name.strip() and version.strip(), f"not an exact pin: {line!r}"
        found[canonicalize_name(name)] = Version(version.strip())
    return found


def test_every_dependency_is_pinned_within_its_range() -> None:
    pinned = pins()
    missing = [str(r) for r in declared() if canonicalize_name(r.name) not in pinned]
    assert not missing, f"not in constraints.txt: {missing}"
    outside = {
        str(r): str(pinned[canonicalize_name(r.name)])
        for r in declared()
        if not r.specifier.contains(pinned[canonicalize_name(r.name)], prereleases=True)
    }
    assert not outside, f"pins outside pyproject.toml's ranges: {outside}"


def test_the_pins_hold_what_prefects_scheduler_needs() -> None:
    pinned = pins()
    assert Version("2.0.30") <= pinned["sqlalchemy"] < Version("2.1"), pinned["sqlalchemy"]
    assert pinned["prefect"].release[:2] == (3, 8)
    assert "homeward" not in pinned, "the project itself is installed editable, not pinned"

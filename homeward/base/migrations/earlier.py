"""An earlier migration's module, to take its SQL from: a migration that changes a function
another one made builds its new body from that one's source, and its downgrade gives that one
back, so the text of each version lives in one file."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

VERSIONS = Path(__file__).parent / "versions"


def earlier(name: str) -> ModuleType:
    """The migration ``versions/<name>`` (its file name), loaded on its own (alembic's files
    are not a package)."""
    path = VERSIONS / name
    spec = importlib.util.spec_from_file_location(f"homeward_migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None  # noqa: S101 (our own file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

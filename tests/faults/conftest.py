"""The full chaos run is opt-in: tests marked ``slow`` here are skipped unless selected with
``-m slow`` (the small versions run with the default suite)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow (size: HOMEWARD_CHAOS_CASES)")
    for item in items:
        if "slow" in item.keywords and "tests/faults/" in item.nodeid:
            item.add_marker(skip)

"""Shared test setup. Lab tests (marker `lab`) need root; in CI they must run, never skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def own_state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own per-user state directory (locks, run index): tests never see the
    machine's, nor each other's (child processes inherit it through the environment)."""
    path = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("FAILOVER_HARNESS_STATE_DIR", str(path))
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    if os.environ.get("CI"):
        raise pytest.UsageError("lab tests need root and CI must run them: run the suite as root")
    skip = pytest.mark.skip(reason="lab test: needs root (network namespaces)")
    for item in items:
        if "lab" in item.keywords:
            item.add_marker(skip)

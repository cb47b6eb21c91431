"""Shared test setup. Lab tests (marker `lab`) need root; in CI they must run, never skip."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    if os.environ.get("CI"):
        raise pytest.UsageError("lab tests need root and CI must run them: run the suite as root")
    skip = pytest.mark.skip(reason="lab test: needs root (network namespaces)")
    for item in items:
        if "lab" in item.keywords:
            item.add_marker(skip)

"""pytest plugin (pytest11 entry point): the `failover` marker and its options."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "failover(playbook=None, **expectations): runs a failover playbook against a lab or "
        "a real network; slow, touches devices",
    )

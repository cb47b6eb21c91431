"""The README's pytest example, copied into a test file as a user would, passes against the
lab: a real game-day (Tunnel1 shut over SSH, real probes, the Azure SDK against the emulator)
and a real pre-check."""

from __future__ import annotations

from pathlib import Path

import pytest

from failover_harness.lab.state import LabState
from tests.unit.test_readme import readme_project

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.lab


def test_readme_pytest_example_passes_against_the_lab(lab: LabState,
                                                      pytester: pytest.Pytester) -> None:
    readme_project(pytester)
    # --opt=PATH: a separate path argument would make pytest pick / as the inner rootdir
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider",
                                           f"--failover-inventory={lab.inventory}", timeout=600)
    result.assert_outcomes(passed=2)
    runs = sorted(Path(pytester.path, "reports").rglob("timeline.jsonl"))
    assert len(runs) == 2, runs  # both examples ran a game-day of their own

"""The run's exit status tells CI an inconclusive verdict (4) from a failed one (1)."""

from __future__ import annotations

from pathlib import Path

from failover_harness.errors import EXIT_EXPECTATION_FAILED, EXIT_INCONCLUSIVE
from tests.unit.orchestrator_fakes import EVERY_KIND, World, playbook, run

SHUT_AND_BACK = EVERY_KIND[:6]


def test_no_data_to_decide_is_exit_4_not_1(tmp_path: Path) -> None:
    # The fake poller writes no Azure events: Azure's detection cannot be decided.
    pb = playbook(SHUT_AND_BACK, expectations=[{"metric": "azure_detection_s", "max": 10}])
    result = run(World(), pb, tmp_path)
    assert result.exit_code == EXIT_INCONCLUSIVE, result.message
    assert "inconclusive" in result.message


def test_a_failed_verdict_wins_over_an_inconclusive_one(tmp_path: Path) -> None:
    pb = playbook(SHUT_AND_BACK, expectations=[{"metric": "azure_detection_s", "max": 10},
                                               {"metric": "onprem_detection_s", "max": 0.0}])
    result = run(World(), pb, tmp_path)
    assert result.exit_code == EXIT_EXPECTATION_FAILED, result.message

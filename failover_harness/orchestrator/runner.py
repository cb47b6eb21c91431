"""Old import path of the game-day entry points; the code lives in gameday.py,
playbook_run.py, session.py, changes.py and recovery.py. Import from those."""

from failover_harness.orchestrator.gameday import (
    CheckResult,
    GameDayResult,
    check_steady_state,
    new_run_id,
    run_gameday,
)
from failover_harness.orchestrator.parts import Parts
from failover_harness.orchestrator.playbook_run import PlaybookOutcome
from failover_harness.orchestrator.recovery import recover
from failover_harness.orchestrator.session import RunOptions, Session

__all__ = ["CheckResult", "GameDayResult", "Parts", "PlaybookOutcome", "RunOptions", "Session",
           "check_steady_state", "new_run_id", "recover", "run_gameday"]

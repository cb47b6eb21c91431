"""A playbook's iterations, one after another, on the game-day's session and timeline.

Each iteration is a `PlaybookRun` of its own (its own section of the timeline, its own gate,
guard, rollbacks and settle); from the second on, its gate waits for the steady state to
return. The first iteration that does not complete ends the repeat: the rest are not run
(an interrupt propagates at once, after that iteration restored what it changed).
"""

from __future__ import annotations

from failover_harness.orchestrator.playbook_run import PlaybookOutcome, PlaybookRun
from failover_harness.orchestrator.session import Session
from failover_harness.playbook import Playbook, iterations


def run_iterations(session: Session, pb: Playbook, run_id: str, index: int,
                   runs: list[PlaybookRun], outcomes: list[PlaybookOutcome]) -> None:
    """Run every iteration of `pb` (RunOptions.repeat/alternate win over its `repeat:`),
    appending each run to `runs` and each outcome to `outcomes` as it ends (so that an
    interrupted game-day still knows the ones before)."""
    options = session.options
    planned = iterations(pb, session.inventory, options.repeat, options.alternate)
    for it in planned:
        if it.count > 1:
            session.say(f"{pb.name}: iteration {it.number} of {it.count}"
                        + (f" ({it.tunnel})" if it.tunnel else ""))
        run = PlaybookRun(session, it.playbook, run_id, index, iteration=it)
        runs.append(run)
        outcome = run.run()
        outcomes.append(outcome)
        if outcome.status != "completed":
            if it.number < it.count:
                session.say(f"[bold red]{pb.name}: iteration {it.number} {outcome.status}; "
                            f"iterations {it.number + 1}-{it.count} not run[/]")
            return

"""The game-day orchestrator: runs playbooks against an inventory on one clock.

    components.py   inventory -> device connections, Azure settings, probe flows
    device_watch.py polls each device's BGP neighbors, writes device/bgp_state events
    probe_monitor.py probe results -> loss episodes and flow stats on the timeline
    conditions.py   steady-state checks, wait_until conditions and the guard (pure)
    parts.py        Parts: factories for devices, Azure poller, probe monitor, clock
    steps.py        each step's device change and its restore, in one table
    changes.py      DeviceChanger: the one place that changes devices (journal first)
    session.py      Session: what a run holds open and knows now (RunView), RunOptions
    playbook_run.py one playbook: gate, method, guard, rollbacks
    recovery.py     recover(): undo an unfinished run's journal through DeviceChanger
    gameday.py      run_gameday / check_steady_state (entry points, Parts injected)
    live.py         the rich live view
"""

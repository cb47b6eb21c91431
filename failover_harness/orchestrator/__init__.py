"""The game-day orchestrator: runs playbooks against an inventory on one clock.

    components.py   inventory -> device connections, Azure settings, probe flows
    device_watch.py polls each device's BGP neighbors, writes device/bgp_state events
    probe_monitor.py probe results -> loss episodes and flow stats on the timeline
    conditions.py   steady-state checks, wait_until conditions and the guard (pure)
    runner.py       the run: gate, method, guard, rollbacks, journal, reports, exit status
    live.py         the rich live view
"""

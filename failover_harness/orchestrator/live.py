"""The rich live view of a run: flows and their loss, BGP peers on both sides, the current
step, elapsed time. Reads the session; never blocks it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from failover_harness.orchestrator.session import Session


class LiveView:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.session: Session | None = None
        self.started = time.monotonic()

    def attach(self, session: Session) -> None:
        self.session = session

    def __rich__(self) -> Group:
        s = self.session
        elapsed = time.monotonic() - self.started
        head = Text(f"elapsed {elapsed:6.1f} s   step: {s.current_step if s else 'connecting'}",
                    style="bold")
        if s is None:
            return Group(head)
        flows = Table(title="probe flows", expand=False)
        for col in ("flow", "sent", "lost", "now"):
            flows.add_column(col)
        if s.monitor is not None:
            for fid, (sent, lost, losing) in sorted(s.monitor.summary().items()):
                flows.add_row(fid, str(sent), str(lost),
                              Text("LOSS", style="bold red") if losing else Text("ok", style="green"))
        peers = Table(title="BGP peers")
        for col in ("side", "peer", "state"):
            peers.add_column(col)
        for name, watcher in s.watchers.items():
            for addr, n in sorted(watcher.neighbors().items()):
                peers.add_row(f"on-prem {name}", addr,
                              Text(n.state, style="green" if n.established else "red"))
        snap = s.azure()
        if snap is not None:
            for instance, by_peer in sorted(snap.peers.items()):
                for peer, state in sorted(by_peer.items()):
                    peers.add_row(f"azure {instance}", peer,
                                  Text(str(state), style="green" if state == "Connected" else "red"))
        return Group(head, flows, peers)


@contextmanager
def live_view(console: Console, enabled: bool) -> Iterator[LiveView]:
    view = LiveView(console)
    if not enabled:
        yield view
        return
    with Live(view, console=console, refresh_per_second=4, transient=False):
        yield view

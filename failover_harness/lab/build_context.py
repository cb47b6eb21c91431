"""What every bring-up step reads and writes: the lab's state (saved as it grows), its
options and topology, and where its files go."""

from __future__ import annotations

from pathlib import Path

from failover_harness.lab.host import netns_name
from failover_harness.lab.state import LabState
from failover_harness.lab.topology import LabOptions, Topology


class BuildContext:
    def __init__(self, state: LabState, options: LabOptions, tunnel_kind: str,
                 root: Path) -> None:
        self.state, self.options, self.tunnel_kind, self.root = state, options, tunnel_kind, root
        self.run_dir = Path(state.run_dir)
        self.prefix = state.prefix
        self.topology: Topology | None = None

    def ns(self, node: str) -> str:
        return netns_name(self.prefix, node)

    @property
    def topo(self) -> Topology:
        assert self.topology is not None
        return self.topology

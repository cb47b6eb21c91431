"""The lab's public API, gathered from the modules that hold each part (import it as
`from failover_harness.lab import lab`):

lifecycle.py  up, down, is_present, load_state, exec_in
preflight.py  root, packages and kernel checks before anything is built
network.py    namespaces, links, tunnels, loss, the ECMP hash seed
daemons.py    charon, FRR, sshd, the VM's services, the Azure emulator
frr_queries.py  vtysh and what the routers say (BGP peers, next hops, established)
host.py       running commands in namespaces; render.py the configs; procs.py the processes
"""

from __future__ import annotations

from failover_harness.lab.daemons import (
    DEFAULT_EMULATOR_PORTS,
    DEFAULT_PREFIX,
    EMULATOR_MODULE,
    REFLECTOR_MODULE,
    SSH_UID,
    SSH_USER,
)
from failover_harness.lab.frr_queries import (
    bgp_peer_states,
    bgp_peers,
    vnet_next_hops,
    vtysh,
    vtysh_argv,
    vtysh_json,
    wait_established,
)
from failover_harness.lab.host import CHARON, FRR_BIN, as_host, netns_name, system_python3
from failover_harness.lab.lifecycle import ESTABLISH_TIMEOUT_S, down, exec_in, is_present, load_state, up
from failover_harness.lab.preflight import preflight, required_binaries

__all__ = [
    "CHARON",
    "DEFAULT_EMULATOR_PORTS",
    "DEFAULT_PREFIX",
    "EMULATOR_MODULE",
    "ESTABLISH_TIMEOUT_S",
    "FRR_BIN",
    "REFLECTOR_MODULE",
    "SSH_UID",
    "SSH_USER",
    "as_host",
    "bgp_peer_states",
    "bgp_peers",
    "down",
    "exec_in",
    "is_present",
    "load_state",
    "netns_name",
    "preflight",
    "required_binaries",
    "system_python3",
    "up",
    "vnet_next_hops",
    "vtysh",
    "vtysh_argv",
    "vtysh_json",
    "wait_established",
]

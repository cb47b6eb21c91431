"""Lab namespaces as vantage hosts reached over SSH: a management /30 from the root
namespace (chosen like the routers', never overlapping a host route) and a key-only sshd on
its far end. Both are recorded in the lab's state, so `lab down` removes them."""

from __future__ import annotations

import subprocess
from pathlib import Path

from failover_harness.errors import LabError
from failover_harness.lab import procs
from failover_harness.lab.host_sshd import HostSshd, SshLogin
from failover_harness.lab.mgmt_subnet import allocation_lock, choose_subnets, host_routes
from failover_harness.lab.state import LabState
from failover_harness.lab.topology import mgmt_pair

MGMT_IF = "vmgmt0"  # the namespace's end of its management link


def _ip(netns: str | None, *args: str) -> None:
    argv = ["ip", *args] if netns is None else ["ip", "-n", netns, *args]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LabError(f"{' '.join(argv)}: {done.stderr.strip()}")


def attach_ssh_vantage(state: LabState, netns: str, name: str) -> SshLogin:
    """Make `netns` reachable over SSH as vantage host `name` (root login, the lab's key)."""
    root_if = f"{state.prefix}-v{len([r for r in state.root_links if '-v' in r]) + 1}"
    with allocation_lock(Path(state.run_dir).parent):
        taken = host_routes()
        try:
            (subnet,) = choose_subnets(f"{state.prefix}-{name}", 1, taken)
        except LookupError as exc:
            raise LabError(f"{exc}: bring other labs down first") from exc
        root_addr, host_addr = mgmt_pair(str(subnet))
        _ip(None, "link", "add", root_if, "type", "veth", "peer", "name", MGMT_IF,
            "netns", netns)
        state.root_links.append(root_if)
        state.save()
        _ip(None, "addr", "add", root_addr, "dev", root_if)
        _ip(None, "link", "set", root_if, "up")
        _ip(netns, "addr", "add", host_addr, "dev", MGMT_IF)
        _ip(netns, "link", "set", MGMT_IF, "up")
    address = host_addr.split("/")[0]

    def spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        return procs.spawn(state, f"{name}/sshd", argv, log, netns=netns)

    sshd = HostSshd(Path(state.run_dir) / "ssh" / f"vantage-{name}", address, netns=netns,
                    spawn=spawn)
    return sshd.start()

"""What a running lab is: written by `lab up` to <run_dir>/lab.json, read by `lab down`,
`lab status`, the Azure emulator and tests. Written progressively, so that `down` can undo
a half-built lab after its `up` crashed or was killed.

Owned by the lab; the Azure emulator reads it (routers' vty/vici sockets, tunnels,
connections) and must not need anything else to answer from the live lab.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

DEFAULT_RUN_ROOT = Path(os.environ.get("FAILOVER_HARNESS_LAB_ROOT", "/run/failover-harness"))


class ProcessRecord(BaseModel):
    """A process the lab started; `down` ends it by PID only if its start time still matches."""

    pid: int
    start_ticks: int  # field 22 of /proc/PID/stat, guards against PID reuse
    name: str  # e.g. "edge1/bgpd", "azure-emulator"
    netns: str | None = None


class RouterState(BaseModel):
    name: str  # edge1, edge2, gw0, gw1, vnet
    netns: str
    role: Literal["onprem_edge", "azure_instance", "vnet"]
    asn: int
    frr_dir: str  # vty sockets live here: vtysh --vty_socket FRR_DIR
    vici_socket: str | None = None  # strongSwan charon of this router, when IPsec is on
    router_id: str


class AzureInstanceState(BaseModel):
    index: int  # 0 or 1
    router: str  # gw0 / gw1
    public_ip: str  # the public IP it serves tunnels on (198.51.100.x; active-standby: the VIP)
    wan_ip: str | None = None  # its own underlay address (None: the public IP)
    bgp_ip: str  # APIPA BGP address: 169.254.21.1 / 169.254.21.5
    private_ip: str  # address in the GatewaySubnet (10.0.255.4 / .5); next hop of IBgp rows
    ip_configuration: str  # vnetGatewayConfig0 / vnetGatewayConfig1


class TunnelState(BaseModel):
    name: str  # Tunnel1..Tunnel4 as the on-prem router calls it
    onprem_router: str
    onprem_interface: str
    onprem_uplink: str = "wan0"  # its underlay interface on the on-prem router
    onprem_bgp_ip: str  # 169.254.21.2
    onprem_public_ip: str
    azure_instance: int
    azure_interface: str  # the tunnel's interface name on the gateway instance
    azure_bgp_ip: str  # 169.254.21.1
    azure_public_ip: str
    ipsec: bool
    ike_name: str | None = None  # swanctl connection name on both ends
    connection: str  # Azure connection resource name (virtualNetworkGatewayConnections)
    local_network_gateway: str


class AzureResources(BaseModel):
    subscription_id: str = "00000000-0000-0000-0000-00000000fa11"
    resource_group: str = "rg-failover-lab"
    location: str = "westeurope"
    gateway: str = "vpngw-lab"
    asn: int = 65515
    vnet_prefixes: list[str] = Field(default_factory=lambda: ["10.0.0.0/16"])
    instances: list[AzureInstanceState] = Field(default_factory=list)


class EmulatorState(BaseModel):
    """The lab's Azure Resource Manager emulator (HTTPS on loopback)."""

    base_url: str  # https://127.0.0.1:PORT
    ca_bundle: str  # PEM of the lab CA
    identity_endpoint: str  # App Service managed identity protocol
    identity_header_file: str  # file holding the X-IDENTITY-HEADER secret
    control_url: str  # fault injection / settings endpoint


class SshVantageState(BaseModel):
    """A lab namespace reached over SSH as a vantage host (lab/vantage_hosts.py)."""

    name: str  # site1, ..., vm
    netns: str
    host: str  # its management address
    user: str
    key_file: str
    known_hosts: str
    sources: list[str]  # its probe source addresses
    prefix: str | None = None  # a site's own on-prem prefix behind edge1


class LabState(BaseModel):
    schema_version: int = 1
    prefix: str
    run_dir: str
    options: dict[str, object] = Field(default_factory=dict)  # the topology options used
    namespaces: list[str] = Field(default_factory=list)
    root_links: list[str] = Field(default_factory=list)  # links the lab made in the root ns
    processes: list[ProcessRecord] = Field(default_factory=list)
    routers: dict[str, RouterState] = Field(default_factory=dict)
    tunnels: list[TunnelState] = Field(default_factory=list)
    azure: AzureResources = Field(default_factory=AzureResources)
    emulator: EmulatorState | None = None
    host_netns: str | None = None  # on-prem host: where probes start
    host_ips: list[str] = Field(default_factory=list)  # its source addresses, for many flows
    vm_netns: str | None = None
    vm_ip: str = "10.0.1.4"
    vm_tcp_ports: list[int] = Field(default_factory=list)
    vm_reflector_port: int | None = None  # UDP reflector on the VM, for udp probes
    mgmt: dict[str, str] = Field(default_factory=dict)  # router name -> SSH management address
    inventory: str | None = None  # the inventory file `lab up` wrote for this lab
    sites: list[SshVantageState] = Field(default_factory=list)  # `lab up --sites N`
    vm_ssh: SshVantageState | None = None  # the VM as an SSH vantage host (with --sites)
    complete: bool = False  # set once `up` finished

    @property
    def path(self) -> Path:
        return Path(self.run_dir) / "lab.json"

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=2))
        os.replace(tmp, self.path)

    @classmethod
    def load(cls, run_dir: Path) -> LabState:
        return cls.model_validate(json.loads((run_dir / "lab.json").read_text()))


def run_dir_for(prefix: str, root: Path = DEFAULT_RUN_ROOT) -> Path:
    return root / prefix

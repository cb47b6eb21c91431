"""What a running lab looks like now: BGP sessions, IKE/IPsec SAs, the VNet's ECMP next hops."""

from __future__ import annotations

import json
import socket
import subprocess
from typing import Any

import vici
from pydantic import BaseModel, Field

from failover_harness.errors import LabError
from failover_harness.lab.frr_queries import vnet_next_hops, vtysh_json
from failover_harness.lab.state import LabState


class BgpSession(BaseModel):
    router: str
    peer: str
    remote_as: int
    description: str | None = None
    state: str
    uptime_msec: int = 0
    prefixes_received: int = 0
    prefixes_sent: int = 0


class SaEnd(BaseModel):
    """One end of a tunnel's IKE SA and its IPsec (child) SA, as that router's charon sees it."""

    router: str
    ike_state: str = "NONE"  # ESTABLISHED, CONNECTING, ... or NONE when absent
    child_state: str = "NONE"  # INSTALLED, ...
    bytes_in: int = 0
    bytes_out: int = 0
    proposal: str | None = None


class TunnelStatus(BaseModel):
    name: str
    ike_name: str | None
    ipsec: bool
    onprem: SaEnd | None = None
    azure: SaEnd | None = None
    link_up: bool  # the on-prem tunnel interface's kernel state


class LabStatus(BaseModel):
    prefix: str
    complete: bool
    options: dict[str, object]
    sessions: list[BgpSession] = Field(default_factory=list)
    tunnels: list[TunnelStatus] = Field(default_factory=list)
    vnet_next_hops: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)  # parts that could not be read

    @property
    def all_established(self) -> bool:
        return bool(self.sessions) and all(s.state == "Established" for s in self.sessions)


def parse_bgp_summary(router: str, summary: dict[str, Any]) -> list[BgpSession]:
    peers = summary.get("ipv4Unicast", {}).get("peers", {})
    return [BgpSession(router=router, peer=addr, remote_as=int(p.get("remoteAs", 0)),
                       description=p.get("desc"), state=str(p.get("state")),
                       uptime_msec=int(p.get("peerUptimeMsec", 0)),
                       prefixes_received=int(p.get("pfxRcd", 0) or 0),
                       prefixes_sent=int(p.get("pfxSnt", 0) or 0))
            for addr, p in sorted(peers.items())]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_sas(router: str, sas: list[dict[str, Any]], ike_name: str) -> SaEnd:
    """The SA end named `ike_name` in vici `list-sas` output (NONE when it is not there)."""
    end = SaEnd(router=router)
    for entry in sas:
        ike = entry.get(ike_name)
        if ike is None:
            continue
        end.ike_state = _text(ike.get("state", "NONE"))
        for child in ike.get("child-sas", {}).values():
            end.child_state = _text(child.get("state", "NONE"))
            end.bytes_in = int(_text(child.get("bytes-in", 0)))
            end.bytes_out = int(_text(child.get("bytes-out", 0)))
            parts = [child.get(k) for k in ("protocol", "encr-alg", "encr-keysize")]
            end.proposal = "/".join(_text(p) for p in parts if p is not None)
        if end.ike_state == "ESTABLISHED":
            break  # a stale half-open duplicate must not hide the live SA
    return end


def list_sas(vici_socket: str) -> list[dict[str, Any]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(3)
    try:
        sock.connect(vici_socket)
        return list(vici.Session(sock).list_sas())
    finally:
        sock.close()


def link_is_up(netns: str, ifname: str) -> bool:
    """Whether the interface is administratively up in that namespace."""
    out = subprocess.run(["ip", "-n", netns, "-j", "link", "show", ifname],
                         capture_output=True, text=True).stdout
    links = json.loads(out or "[]")
    return bool(links) and "UP" in links[0].get("flags", [])


def collect_status(state: LabState) -> LabStatus:
    status = LabStatus(prefix=state.prefix, complete=state.complete, options=state.options)
    for name in state.routers:
        try:
            status.sessions += parse_bgp_summary(name, vtysh_json(state, name,
                                                                  "show bgp summary json"))
        except LabError as exc:
            status.errors.append(str(exc))
    sas: dict[str, list[dict[str, Any]]] = {}
    for name, router in state.routers.items():
        if router.vici_socket:
            try:
                sas[name] = list_sas(router.vici_socket)
            except (OSError, vici.exception.SessionException) as exc:
                status.errors.append(f"{name}: charon not answering on {router.vici_socket}: "
                                     f"{exc}")
    instance_router = {i.index: i.router for i in state.azure.instances}
    for t in state.tunnels:
        azure_router = instance_router.get(t.azure_instance, f"gw{t.azure_instance}")
        tunnel = TunnelStatus(name=t.name, ike_name=t.ike_name, ipsec=t.ipsec,
                              link_up=link_is_up(state.routers[t.onprem_router].netns,
                                               t.onprem_interface))
        if t.ipsec and t.ike_name:
            if t.onprem_router in sas:
                tunnel.onprem = parse_sas(t.onprem_router, sas[t.onprem_router], t.ike_name)
            # Active-standby: both instance routers carry the connection; show the one
            # that has it up (the active instance).
            candidates = [azure_router] + [i.router for i in state.azure.instances
                                           if i.router != azure_router
                                           and state.options.get("mode") == "active-standby"]
            ends = [parse_sas(r, sas[r], t.ike_name) for r in candidates if r in sas]
            tunnel.azure = next((e for e in ends if e.ike_state == "ESTABLISHED"),
                                ends[0] if ends else None)
        status.tunnels.append(tunnel)
    if "vnet" in state.routers:
        try:
            status.vnet_next_hops = vnet_next_hops(state)
        except LabError as exc:
            status.errors.append(str(exc))
    return status

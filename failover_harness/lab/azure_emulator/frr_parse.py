"""Pure parsers: FRR `... json`, `ip -j -s link` and strongSwan vici answers -> observations.

Kept apart from the I/O so they can be tested with captured outputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .observations import (
    ChildSaObservation,
    IkeSaObservation,
    InterfaceObservation,
    PeerObservation,
    RouteObservation,
)

JsonObject = Mapping[str, Any]


def _as_path(text: object) -> list[int]:
    # FRR prints "65010 65020" and AS sets as "{65001,65002}": keep the plain numbers in order.
    return [int(tok) for tok in str(text or "").replace("{", " ").replace("}", " ").replace(",", " ").split()
            if tok.isdigit()]


def parse_bgp_summary(summary: JsonObject, hidden: PeerFilter) -> list[PeerObservation]:
    """`show bgp summary json` -> peers (ipv4 unicast), without the lab's hidden neighbors."""
    afi = summary.get("ipv4Unicast") or {}
    peers: list[PeerObservation] = []
    for address, p in (afi.get("peers") or {}).items():
        if hidden.hides(address, p.get("hostname") or p.get("desc"), p.get("remoteAs")):
            continue
        raw_state = str(p.get("state", "Unknown"))
        admin = p.get("peerState") == "Admin" or "(Admin)" in raw_state
        state = raw_state.split(" ")[0]
        established = state == "Established"
        peers.append(PeerObservation(
            neighbor=address, asn=int(p.get("remoteAs", 0)), bgp_state=state, admin_shutdown=admin,
            uptime_ms=int(p.get("peerUptimeMsec", 0)) if established else None,
            prefixes_received=int(p.get("pfxRcd", 0) or 0) if established else 0,
            messages_sent=int(p.get("msgSent", 0) or 0), messages_received=int(p.get("msgRcvd", 0) or 0)))
    return sorted(peers, key=lambda p: p.neighbor)


class PeerFilter:
    """Neighbors the gateway must not show: the lab's VNet router stands in for Azure's own
    VNet plumbing, so its routes count as the gateway's own (Network) and it is no peer."""

    def __init__(self, hostnames: set[str] | None = None, asns: set[int] | None = None,
                 addresses: set[str] | None = None) -> None:
        self.hostnames, self.asns, self.addresses = hostnames or set(), asns or set(), addresses or set()

    def hides(self, address: str, hostname: object = None, asn: object = None) -> bool:
        return (address in self.addresses or (isinstance(hostname, str) and hostname in self.hostnames)
                or (isinstance(asn, int) and asn in self.asns))


def hidden_addresses(summary: JsonObject, hidden: PeerFilter) -> set[str]:
    """The addresses in a summary that `hidden` hides (so routes from them become Network rows)."""
    peers = (summary.get("ipv4Unicast") or {}).get("peers") or {}
    return {a for a, p in peers.items() if hidden.hides(a, p.get("hostname") or p.get("desc"), p.get("remoteAs"))}


def _bgp_origin(code: object) -> str:
    text = str(code or "IGP").lower()
    return {"i": "IGP", "igp": "IGP", "e": "EGP", "egp": "EGP"}.get(text, "incomplete")


def parse_bgp_table(table: JsonObject, own_sources: set[str]) -> list[RouteObservation]:
    """`show bgp ipv4 unicast json` -> every valid path. Locally originated paths and paths
    from `own_sources` (hidden VNet neighbors) are the gateway's own: origin Network."""
    rows: list[RouteObservation] = []
    for prefix, paths in (table.get("routes") or {}).items():
        for path in paths:
            if not path.get("valid", True):
                continue
            peer = path.get("peerId")
            hops = [h.get("ip") for h in path.get("nexthops") or [] if h.get("ip")]
            next_hop = hops[0] if hops else None
            local = peer in (None, "(unspec)", "0.0.0.0") or next_hop in (None, "0.0.0.0", "::")
            if local or peer in own_sources:
                rows.append(RouteObservation(network=prefix, next_hop=None, source_peer=None, origin="Network",
                                             as_path=[], bgp_origin=_bgp_origin(path.get("origin"))))
                continue
            origin = "IBgp" if path.get("pathFrom") == "internal" else "EBgp"
            rows.append(RouteObservation(network=prefix, next_hop=next_hop, source_peer=str(peer),
                                         origin=origin, as_path=_as_path(path.get("path")),
                                         bgp_origin=_bgp_origin(path.get("origin"))))
    # One Network row per prefix even when several hidden neighbors announce it.
    seen: set[str] = set()
    unique: list[RouteObservation] = []
    for r in rows:
        if r.origin == "Network":
            if r.network in seen:
                continue
            seen.add(r.network)
        unique.append(r)
    return unique


def parse_advertised(adv: JsonObject) -> list[RouteObservation]:
    """`show bgp ipv4 unicast neighbors X advertised-routes json` -> what the peer is sent."""
    rows = []
    for prefix, r in (adv.get("advertisedRoutes") or {}).items():
        rows.append(RouteObservation(network=r.get("network") or prefix, next_hop=r.get("nextHop"),
                                     source_peer=None, origin="Network", as_path=_as_path(r.get("path")),
                                     bgp_origin=_bgp_origin(r.get("origin") or r.get("bgpOriginCode"))))
    return rows


def parse_links(links: list[JsonObject]) -> dict[str, InterfaceObservation]:
    """`ip -s -j link` -> interfaces by name."""
    out: dict[str, InterfaceObservation] = {}
    for link in links:
        flags = set(link.get("flags") or [])
        stats = link.get("stats64") or link.get("stats") or {}
        out[link["ifname"]] = InterfaceObservation(
            name=link["ifname"], admin_up="UP" in flags,
            oper_up="LOWER_UP" in flags and link.get("operstate") != "DOWN",
            rx_bytes=int((stats.get("rx") or {}).get("bytes", 0)),
            tx_bytes=int((stats.get("tx") or {}).get("bytes", 0)))
    return out


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return "" if value is None else str(value)


def _int(value: object, default: int = 0) -> int:
    text = _text(value)
    return int(text) if text.lstrip("-").isdigit() else default


def _alg(sa: JsonObject, name: str) -> str:
    alg = _text(sa.get(f"{name}-alg"))
    size = _text(sa.get(f"{name}-keysize"))
    return f"{alg.upper()}{size}" if alg else ""


def parse_vici_sa(name: str, sa: JsonObject) -> IkeSaObservation:
    """One entry of vici `list-sas` (bytes values) -> IkeSaObservation."""
    children = []
    for child in (sa.get("child-sas") or {}).values():
        children.append(ChildSaObservation(
            name=_text(child.get("name")), state=_text(child.get("state")),
            encryption=_alg(child, "encr"), integrity=_alg(child, "integ"), dh_group=_text(child.get("dh-group")),
            spi_in=_text(child.get("spi-in")), spi_out=_text(child.get("spi-out")),
            bytes_in=_int(child.get("bytes-in")), bytes_out=_int(child.get("bytes-out")),
            packets_in=_int(child.get("packets-in")), packets_out=_int(child.get("packets-out")),
            local_ts=[_text(t) for t in child.get("local-ts") or []],
            remote_ts=[_text(t) for t in child.get("remote-ts") or []],
            lifetime_s=_int(child.get("life-time")), installed_s=_int(child.get("install-time"))))
    established = _int(sa.get("established"), -1)
    return IkeSaObservation(
        name=name, state=_text(sa.get("state")), local_host=_text(sa.get("local-host")),
        remote_host=_text(sa.get("remote-host")), local_port=_int(sa.get("local-port"), 500),
        remote_port=_int(sa.get("remote-port"), 500), initiator=_text(sa.get("initiator")) == "yes",
        initiator_spi=_text(sa.get("initiator-spi")), responder_spi=_text(sa.get("responder-spi")),
        encryption=_alg(sa, "encr"), integrity=_alg(sa, "integ"), dh_group=_text(sa.get("dh-group")),
        established_s=established if established >= 0 else None, rekey_s=_int(sa.get("rekey-time")),
        children=children)

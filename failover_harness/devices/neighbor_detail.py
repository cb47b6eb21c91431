"""What bounds a BGP session's failure detection, per neighbor, from each platform's neighbor
detail output: negotiated hold time, the router's keepalive interval, BFD. Pure functions.

- FRR: `show bgp neighbors json` (bgpTimerHoldTimeMsecs, bgpTimerKeepAliveIntervalMsecs,
  peerBfdInfo) and `show bfd peers json` (bfdd's real intervals: bgpd's peerBfdInfo shows
  its own defaults when a BFD profile sets them).
- IOS, IOS-XE, ASA, FortiOS (`get router info bgp neighbors`), VyOS (FRR text): the same
  paragraph per neighbor, "BGP neighbor is A ...", "hold time is H, keepalive interval is K
  seconds", BFD lines when configured.
- Junos `show bgp neighbor`: "Peer: A+179 ...", "Active Holdtime: H", "Keepalive Interval:
  K", "BFD: enabled, up".
- PAN-OS: not read (its peer detail names peers, not addresses): timers stay unknown.
Only what the output says is returned: a field it does not print is None, never guessed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from failover_harness.devices.base import PlatformName
from failover_harness.errors import DeviceError

BfdState = Literal["up", "down", "off"]


class NeighborTimers(BaseModel):
    model_config = ConfigDict(frozen=True)

    address: str
    established: bool | None = None
    hold_s: float | None = None  # negotiated (what both ends use)
    keepalive_s: float | None = None  # this router's interval
    bfd: BfdState | None = None  # None: the output does not say
    bfd_detect_s: float | None = None  # the far end's detection time (its multiplier x interval)
    bfd_interval_s: float | None = None  # how often this router sends


NeighborParser = Callable[[str], dict[str, NeighborTimers]]


def _json(output: str, what: str) -> Any:
    start = min((i for i in (output.find("{"), output.find("[")) if i >= 0), default=-1)
    try:
        return json.loads(output[start:] if start >= 0 else output)
    except json.JSONDecodeError as exc:
        first = output.strip().splitlines()[0] if output.strip() else "(empty)"
        raise DeviceError(f"FRR did not answer JSON to {what}: {first[:200]}") from exc


def parse_frr_neighbors_json(output: str) -> dict[str, NeighborTimers]:
    doc = _json(output, "show bgp neighbors json")
    if not isinstance(doc, Mapping):
        raise DeviceError("FRR neighbors JSON is not an object")
    out: dict[str, NeighborTimers] = {}
    for address, row in doc.items():
        if not isinstance(row, Mapping) or not ("bgpState" in row
                                                 or "bgpTimerHoldTimeMsecs" in row):
            continue
        bfd_info = row.get("peerBfdInfo")
        bfd: BfdState = "off"
        if isinstance(bfd_info, Mapping):
            bfd = "up" if str(bfd_info.get("status", "")).lower() == "up" else "down"
        hold, keep = row.get("bgpTimerHoldTimeMsecs"), row.get("bgpTimerKeepAliveIntervalMsecs")
        out[address] = NeighborTimers(
            address=address, established=row["bgpState"] == "Established" if "bgpState" in row
            else None,
            hold_s=hold / 1000 if isinstance(hold, (int, float)) and hold > 0 else None,
            keepalive_s=keep / 1000 if isinstance(keep, (int, float)) and keep > 0 else None,
            bfd=bfd)
    return out


def frr_bfd_timers(output: str) -> dict[str, tuple[float, float, str]]:
    """`show bfd peers json` -> peer -> (far end's detection time, our send interval, status).

    The far end declares us down after its multiplier times the interval we send at, which
    is the slower of our transmit and its receive interval (RFC 5880 6.8.4)."""
    doc = _json(output, "show bfd peers json")
    rows = doc if isinstance(doc, list) else []
    out: dict[str, tuple[float, float, str]] = {}
    for row in rows:
        if not isinstance(row, Mapping) or "peer" not in row:
            continue
        tx = max(float(row.get("transmit-interval", 0) or 0),
                 float(row.get("remote-receive-interval", 0) or 0)) / 1000
        mult = float(row.get("remote-detect-multiplier") or row.get("detect-multiplier") or 0)
        if tx > 0 and mult > 0:
            out[str(row["peer"])] = (mult * tx, tx, str(row.get("status", "")).lower())
    return out


def with_frr_bfd(timers: dict[str, NeighborTimers], bfd_output: str) -> dict[str, NeighborTimers]:
    """The neighbors' BFD figures from bfdd (bgpd's own copy can be its defaults)."""
    bfd = frr_bfd_timers(bfd_output)
    out = {}
    for address, t in timers.items():
        if address in bfd:
            detect, tx, status = bfd[address]
            t = t.model_copy(update={"bfd": "up" if status == "up" else "down",
                                     "bfd_detect_s": detect, "bfd_interval_s": tx})
        out[address] = t
    return out


# --- the IOS-style paragraph (IOS, IOS-XE, ASA, FortiOS, VyOS/FRR text)

_IOS_NEIGHBOR = re.compile(r"^\s*BGP neighbor is ([0-9A-Fa-f:.]+)", re.M)
_IOS_STATE = re.compile(r"BGP state = (\w+)")
# The negotiated line; "Configured hold time is ..." (FortiOS, FRR) follows it and is skipped.
_IOS_TIMERS = re.compile(r"(?<!configured )hold time is (\d+)(?: seconds)?, keepalive interval "
                         r"is (\d+)", re.I)
_IOS_BFD = re.compile(r"BFD (?:is configured|is enabled)", re.I)
_IOS_BFD_PEER = re.compile(r"BFD peer is (\w+)", re.I)


def parse_ios_neighbors(output: str) -> dict[str, NeighborTimers]:
    """One paragraph per "BGP neighbor is A"; "Configured hold time" lines are skipped (the
    negotiated one comes first)."""
    out: dict[str, NeighborTimers] = {}
    starts = list(_IOS_NEIGHBOR.finditer(output))
    for i, m in enumerate(starts):
        block = output[m.start():starts[i + 1].start() if i + 1 < len(starts) else len(output)]
        state = _IOS_STATE.search(block)
        timers = _IOS_TIMERS.search(block)
        peer = _IOS_BFD_PEER.search(block)
        bfd: BfdState | None = None
        if _IOS_BFD.search(block):
            bfd = "up" if peer and peer.group(1).lower() == "up" else "down"
        address = m.group(1)
        out[address] = NeighborTimers(
            address=address, established=state.group(1) == "Established" if state else None,
            hold_s=float(timers.group(1)) if timers else None,
            keepalive_s=float(timers.group(2)) if timers else None, bfd=bfd)
    return out


# --- Junos `show bgp neighbor`

_JUNOS_PEER = re.compile(r"^Peer: ([0-9A-Fa-f:.]+?)(?:\+\d+)?\s", re.M)
_JUNOS_STATE = re.compile(r"State: (\w+)")
_JUNOS_HOLD = re.compile(r"Active Holdtime: (\d+)")
_JUNOS_KEEPALIVE = re.compile(r"Keepalive Interval: (\d+)")
_JUNOS_BFD = re.compile(r"BFD: (enabled|disabled), (\w+)")


def parse_junos_neighbors(output: str) -> dict[str, NeighborTimers]:
    out: dict[str, NeighborTimers] = {}
    starts = list(_JUNOS_PEER.finditer(output))
    for i, m in enumerate(starts):
        block = output[m.start():starts[i + 1].start() if i + 1 < len(starts) else len(output)]
        state, hold = _JUNOS_STATE.search(block), _JUNOS_HOLD.search(block)
        keep, bfd_m = _JUNOS_KEEPALIVE.search(block), _JUNOS_BFD.search(block)
        bfd: BfdState | None = None
        if bfd_m:
            bfd = "off" if bfd_m.group(1) == "disabled" else (
                "up" if bfd_m.group(2).lower() == "up" else "down")
        out[m.group(1)] = NeighborTimers(
            address=m.group(1), established=state.group(1) == "Established" if state else None,
            hold_s=float(hold.group(1)) if hold else None,
            keepalive_s=float(keep.group(1)) if keep else None, bfd=bfd)
    return out


# Platform -> (the neighbor detail command, its parser); FRR's BFD figures come from
# FRR_BFD_COMMAND as well. A platform not listed is not read.
NEIGHBOR_DETAIL: dict[PlatformName, tuple[str, NeighborParser]] = {
    "frr": ("show bgp neighbors json", parse_frr_neighbors_json),
    "cisco_ios": ("show ip bgp neighbors", parse_ios_neighbors),
    "cisco_xe": ("show ip bgp neighbors", parse_ios_neighbors),
    "cisco_asa": ("show bgp neighbors", parse_ios_neighbors),
    "fortinet": ("get router info bgp neighbors", parse_ios_neighbors),
    "vyos": ("show ip bgp neighbors", parse_ios_neighbors),
    "juniper_junos": ("show bgp neighbor", parse_junos_neighbors),
}
FRR_BFD_COMMAND = "show bfd peers json"
FRR_TABLE_COMMAND = "show bgp ipv4 unicast json"


def parse_frr_table_json(output: str) -> dict[str, list[str]]:
    """`show bgp ipv4 unicast json` -> prefix -> the neighbors of its valid paths."""
    doc = _json(output, FRR_TABLE_COMMAND)
    routes = doc.get("routes") if isinstance(doc, Mapping) else None
    out: dict[str, list[str]] = {}
    for prefix, paths in (routes or {}).items():
        peers = [str(p.get("peerId")) for p in paths if isinstance(p, Mapping)
                 and p.get("valid", True) and p.get("peerId") not in (None, "(unspec)", "0.0.0.0")]
        out[prefix] = sorted(set(peers))
    return out

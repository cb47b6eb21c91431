"""Turn BGP summary output of each platform into `BgpSummary`. Pure functions, no I/O.

TextFSM (ntc-templates) where its template captures what we need; small parsers of our own
where it does not:
- Junos: the template errors out on peers that are not Established (no RIB line follows).
- PAN-OS: the template does not capture the session state at all.
- FRR: TextFSM finds nothing in FRR's text, so we use its JSON.
For the IOS-style table (IOS, IOS-XE, ASA, FortiOS, VyOS) our own table parser guards
TextFSM: several templates accept only plain ASNs and silently drop a row in asdot notation
("65000.1"), and a dropped row would look like a vanished peer.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from ntc_templates.parse import parse_output

from failover_harness.devices.base import BgpNeighbor, BgpState, BgpSummary
from failover_harness.errors import DeviceError

log = logging.getLogger(__name__)

SummaryParser = Callable[[str], BgpSummary]

_UNIT_SECONDS = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_UNIT_TOKEN = re.compile(r"(\d+)([ywdhms])")
_CLOCK = re.compile(r"^\d+(:\d+){1,2}$")


def parse_uptime(text: str | None) -> float | None:
    """'1y10w', '3d02h', '09w3d01h', '5d13h10m', '00:12:33', '9w2d 5:23:37' -> seconds.

    'never' (and empty) -> None. Raises ValueError on anything else.
    """
    if text is None:
        return None
    text = text.strip()
    if not text or text.lower() == "never":
        return None
    total = 0.0
    for token in text.split():
        if _CLOCK.match(token):
            parts = [int(p) for p in token.split(":")]
            while len(parts) < 3:  # Junos prints m:ss for short times
                parts.insert(0, 0)
            total += parts[0] * 3600 + parts[1] * 60 + parts[2]
            continue
        matches = list(_UNIT_TOKEN.finditer(token))
        if not matches or "".join(m.group(0) for m in matches) != token:
            raise ValueError(f"unrecognised uptime {text!r}")
        total += sum(int(m.group(1)) * _UNIT_SECONDS[m.group(2)] for m in matches)
    return total


def parse_asn(text: str | int | None) -> int | None:
    """'65010' -> 65010; asdot '1.10' -> 65546 (RFC 5396); '' / None -> None."""
    if text is None:
        return None
    if isinstance(text, int):
        return text
    text = text.strip()
    if not text:
        return None
    if "." in text:
        high, low = text.split(".", 1)
        high_i, low_i = int(high), int(low)
        if not (0 <= high_i <= 0xFFFF and 0 <= low_i <= 0xFFFF):
            raise ValueError(f"asdot ASN out of range: {text!r}")
        return high_i * 65536 + low_i
    value = int(text)
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"ASN out of range: {text!r}")
    return value


_STATE_NAMES: dict[str, BgpState] = {
    "idle": "Idle", "connect": "Connect", "active": "Active", "opensent": "OpenSent",
    "openconfirm": "OpenConfirm", "established": "Established", "establ": "Established",
}


def normalize_state(raw: str) -> tuple[BgpState, bool, int | None]:
    """A State/PfxRcd cell -> (state, admin_down, prefixes_received).

    A number means Established with that many prefixes (IOS convention). 'Idle (Admin)' is
    Idle and shut on purpose; 'Idle (PfxCt)' is Idle after a prefix-limit overflow.
    FRR's 'NoNeg' (session up, address family not negotiated) is still Established.
    """
    cell = raw.strip()
    if cell.isdigit():
        return "Established", False, int(cell)
    m = re.match(r"^([A-Za-z]+)\s*(?:\((\w+)\))?$", cell)
    if not m:
        return "Unknown", False, None
    word, reason = m.group(1).lower(), (m.group(2) or "").lower()
    if word == "noneg":
        return "Established", False, None
    if word == "admin":  # some outputs say just "Admin" for a shut neighbor
        return "Idle", True, None
    state = _STATE_NAMES.get(word, "Unknown")
    return state, reason == "admin", None


def make_neighbor(address: str, remote_as: str | int | None, state_cell: str,
                  uptime: str | None, prefixes: int | None = None) -> BgpNeighbor:
    state, admin_down, pfx_from_cell = normalize_state(state_cell)
    return BgpNeighbor(
        address=str(ipaddress.ip_address(address.strip())),
        remote_as=parse_asn(remote_as),
        state=state,
        established=state == "Established",
        admin_down=admin_down,
        uptime_s=parse_uptime(uptime),
        prefixes_received=prefixes if prefixes is not None else pfx_from_cell,
        raw_state=state_cell.strip(),
    )


# --- the IOS-style table: Neighbor V AS MsgRcvd MsgSent TblVer InQ OutQ Up/Down State/PfxRcd

_LOCAL_AS = re.compile(r"local AS number (\d+(?:\.\d+)?)")
_ROUTER_ID = re.compile(r"BGP router identifier ([0-9A-Fa-f:.]+)")
_TABLE_ROW = re.compile(
    r"^(?P<addr>[0-9A-Fa-f:.]+)\s+(?:(?P<v>4)\s+)(?P<asn>\d+(?:\.\d+)?)"
    r"\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+\s+(?P<updown>\S+)\s+(?P<state>.+?)\s*$"
)
# FortiOS prints V/AS and the counters but some builds omit TblVer; tolerate 6 or 5 numbers.
_TABLE_ROW_SHORT = re.compile(
    r"^(?P<addr>[0-9A-Fa-f:.]+)\s+(?:(?P<v>4)\s+)(?P<asn>\d+(?:\.\d+)?)"
    r"\s+\d+\s+\d+\s+\d+\s+\d+\s+(?P<updown>\S+)\s+(?P<state>.+?)\s*$"
)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def parse_ios_style_table(output: str) -> BgpSummary:
    """Our own parser of the IOS-style summary table (IOS, IOS-XE, ASA, FortiOS, VyOS).

    Handles IPv6 neighbors that IOS wraps onto their own line, asdot ASNs, 'Idle (Admin)'.
    With several address families (`show ip bgp all summary`) a neighbor is kept once.
    """
    local_as: int | None = None
    router_id: str | None = None
    neighbors: dict[str, BgpNeighbor] = {}
    pending_addr: str | None = None
    for line in output.splitlines():
        stripped = line.strip()
        if local_as is None and (m := _LOCAL_AS.search(line)):
            local_as = parse_asn(m.group(1))
        if router_id is None and (m := _ROUTER_ID.search(line)):
            router_id = m.group(1)
        if pending_addr is not None:
            stripped = f"{pending_addr} {stripped}"
            pending_addr = None
        elif _is_ip(stripped) and ":" in stripped:
            pending_addr = stripped  # IOS wraps a long IPv6 neighbor onto its own line
            continue
        m = _TABLE_ROW.match(stripped) or _TABLE_ROW_SHORT.match(stripped)
        if not m or not _is_ip(m.group("addr")):
            continue
        nb = make_neighbor(m.group("addr"), m.group("asn"), m.group("state"), m.group("updown"))
        neighbors.setdefault(nb.address, nb)
    return BgpSummary(local_as=local_as, router_id=router_id, neighbors=list(neighbors.values()))


def textfsm_table_parser(ntc_platform: str, command: str, *, neighbor: str, asn: str,
                         state: str, uptime: str, local_as: str | None = None,
                         router_id: str | None = None) -> SummaryParser:
    """A parser that runs ntc-templates' template for (platform, command) and maps its fields.

    Guarded by `parse_ios_style_table`: if our table parser sees peers that TextFSM missed
    (asdot ASNs the template does not accept), its result is used instead.
    """

    def parse(output: str) -> BgpSummary:
        try:
            records: list[dict[str, Any]] = parse_output(
                platform=ntc_platform, command=command, data=output)
        except Exception as exc:  # textfsm raises its own error types on unexpected lines
            log.warning("TextFSM %s %r failed (%s); using the table parser", ntc_platform,
                        command, exc)
            return parse_ios_style_table(output)
        seen: dict[str, BgpNeighbor] = {}
        for rec in records:
            nb = make_neighbor(rec[neighbor], rec[asn], rec[state], rec[uptime])
            seen.setdefault(nb.address, nb)
        first = records[0] if records else {}
        summary = BgpSummary(
            local_as=parse_asn(first.get(local_as)) if local_as else None,
            router_id=(first.get(router_id) or None) if router_id else None,
            neighbors=list(seen.values()),
        )
        guard = parse_ios_style_table(output)
        if len(guard.neighbors) > len(summary.neighbors):
            missed = {n.address for n in guard.neighbors} - set(seen)
            log.warning("TextFSM %s %r missed neighbors %s; using the table parser",
                        ntc_platform, command, sorted(missed))
            return guard
        if summary.local_as is None:
            summary = summary.model_copy(update={"local_as": guard.local_as,
                                                 "router_id": summary.router_id or guard.router_id})
        return summary

    return parse


# --- Junos: `show bgp summary`

_JUNOS_ROW = re.compile(
    r"^(?P<addr>[0-9A-Fa-f:.]+)\s+(?P<asn>\d+(?:\.\d+)?)\s+\d+\s+\d+\s+\d+\s+\d+\s+(?P<rest>.+)$"
)
_JUNOS_RIB = re.compile(r"^\s+\S+:\s+(\d+)/(\d+)/(\d+)/(\d+)\s*$")
_JUNOS_STATES = {"Establ", "Idle", "Connect", "Active", "OpenSent", "OpenConfirm"}


def parse_junos_summary(output: str) -> BgpSummary:
    """Junos' table: the Last Up/Dwn column is 1-2 tokens ('9w2d 5:23:37', '1:02'); an
    Established peer's RIB lines follow ('  inet.0: active/received/accepted/damped').
    A peer that is not up has its state on its own row, e.g. 'Active' or 'Idle'.
    """
    rows: list[tuple[str, str, str, str]] = []  # addr, asn, updown, state
    received: dict[int, int] = {}
    for line in output.splitlines():
        if (rib := _JUNOS_RIB.match(line)) and rows:
            received[len(rows) - 1] = received.get(len(rows) - 1, 0) + int(rib.group(2))
            continue
        m = _JUNOS_ROW.match(line.strip())
        if not m or not _is_ip(m.group("addr")):
            continue
        tokens = m.group("rest").split()
        # The state is the first token after the time, which may be 1 or 2 tokens long.
        idx = next((i for i, t in enumerate(tokens) if t in _JUNOS_STATES or "/" in t), None)
        if idx is None:
            idx = len(tokens) - 1
        updown = " ".join(tokens[:idx])
        state = tokens[idx] if tokens[idx] in _JUNOS_STATES else "Establ"
        # With a single RIB, Junos prints its counts on the row instead of 'Establ'.
        counts = tokens[idx].split("/")
        if len(counts) == 4 and all(c.isdigit() for c in counts):
            received[len(rows)] = int(counts[1])
        rows.append((m.group("addr"), m.group("asn"), updown, state))
    neighbors = [
        make_neighbor(addr, asn, state, updown,
                      received.get(i) if state == "Establ" else None)
        for i, (addr, asn, updown, state) in enumerate(rows)
    ]
    return BgpSummary(neighbors=neighbors)


# --- PAN-OS: `show routing protocol bgp summary`

_PANOS_PEER = re.compile(
    r"^\s*peer\s+(?P<name>[^:]+):\s+AS\s+(?P<asn>\d+(?:\.\d+)?),\s+(?P<state>[^,]+),"
    r"\s+IP\s+(?P<addr>[0-9A-Fa-f:.]+)"
)
_PANOS_PFX = re.compile(r"Accepted pfx:\s+(\d+)")
_PANOS_LOCAL_AS = re.compile(r"^\s*Local AS:\s+(\d+(?:\.\d+)?)", re.M)
_PANOS_ROUTER_ID = re.compile(r"^\s*router id:\s+(\S+)", re.M)


def parse_panos_summary(output: str) -> BgpSummary:
    """PAN-OS lists each peer with its state and, when up, one 'Accepted pfx' line per AFI."""
    peers: list[tuple[str, str, str]] = []
    accepted: dict[int, int] = {}
    for line in output.splitlines():
        if m := _PANOS_PEER.match(line):
            peers.append((m.group("addr"), m.group("asn"), m.group("state")))
        elif (p := _PANOS_PFX.search(line)) and peers:
            accepted[len(peers) - 1] = accepted.get(len(peers) - 1, 0) + int(p.group(1))
    neighbors: dict[str, BgpNeighbor] = {}
    for i, (addr, asn, state) in enumerate(peers):
        nb = make_neighbor(addr, asn, state, None, accepted.get(i))
        neighbors.setdefault(nb.address, nb)
    local = _PANOS_LOCAL_AS.search(output)
    rid = _PANOS_ROUTER_ID.search(output)
    return BgpSummary(local_as=parse_asn(local.group(1)) if local else None,
                      router_id=rid.group(1) if rid else None,
                      neighbors=list(neighbors.values()))


# --- FRR: `show bgp summary json`


def parse_frr_summary_json(output: str) -> BgpSummary:
    """FRR's `show bgp summary json`: {afi: {as, routerId, peers: {ip: {...}}}}.

    A peer appears once per address family; the first one wins. Interface-named peers
    (unnumbered BGP) are skipped: the harness addresses neighbors by IP.
    """
    try:
        doc = json.loads(output)
    except json.JSONDecodeError as exc:
        first = output.strip().splitlines()[0] if output.strip() else "(empty)"
        raise DeviceError(f"FRR did not answer JSON to a BGP summary: {first[:200]}") from exc
    if not isinstance(doc, Mapping):
        raise DeviceError("FRR BGP summary JSON is not an object")
    local_as: int | None = None
    router_id: str | None = None
    neighbors: dict[str, BgpNeighbor] = {}
    families = [v for v in doc.values() if isinstance(v, Mapping) and "peers" in v]
    if not families and "peers" in doc:  # `show bgp ipv4 unicast summary json`
        families = [doc]
    for family in families:
        local_as = local_as if local_as is not None else family.get("as")
        router_id = router_id or family.get("routerId")
        for addr, peer in family["peers"].items():
            if addr in neighbors or not _is_ip(addr) or not isinstance(peer, Mapping):
                continue
            state_cell = str(peer.get("state", ""))
            if peer.get("peerState") == "Admin" and "(" not in state_cell:
                state_cell = f"{state_cell} (Admin)"
            uptime_ms = peer.get("peerUptimeMsec")
            never = peer.get("peerUptime") == "never"
            state, admin_down, _ = normalize_state(state_cell)
            pfx = peer.get("pfxRcd")
            neighbors[addr] = BgpNeighbor(
                address=str(ipaddress.ip_address(addr)),
                remote_as=parse_asn(peer.get("remoteAs")),
                state=state,
                established=state == "Established",
                admin_down=admin_down,
                uptime_s=None if never or uptime_ms is None else uptime_ms / 1000.0,
                prefixes_received=int(pfx) if isinstance(pfx, int) and state == "Established"
                else None,
                raw_state=state_cell,
            )
    return BgpSummary(local_as=parse_asn(local_as), router_id=router_id,
                      neighbors=list(neighbors.values()))

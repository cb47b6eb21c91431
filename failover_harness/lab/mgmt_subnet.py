"""Choosing the management /30s (root namespace <-> on-prem router) inside 198.18.0.0/15.

The choice is pure (`choose_subnets`); `host_routes` reads the root namespace's routes and
`allocation_lock` serialises labs coming up at once, so two never pick the same /30.
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import json
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

MGMT_POOL = ipaddress.IPv4Network("198.18.0.0/15")
# The default lab ("fh") gets 198.18.255.0/30, the address inventories/lab.yaml names.
DEFAULT_PREFIX_SUBNET = ipaddress.IPv4Network("198.18.255.0/30")

Network = ipaddress.IPv4Network


def overlaps_any(subnet: Network, taken: Iterable[Network]) -> Network | None:
    """The first of `taken` that overlaps `subnet`, or None. Default routes do not count."""
    for net in taken:
        if net.prefixlen > 0 and subnet.overlaps(net):
            return net
    return None


def choose_subnets(prefix: str, count: int, taken: Iterable[Network]) -> list[Network]:
    """`count` free /30s for lab `prefix`: fixed for "fh", else starting at a hash of it."""
    taken = list(taken)
    candidates = list(MGMT_POOL.subnets(new_prefix=30))
    if prefix == "fh":
        start = candidates.index(DEFAULT_PREFIX_SUBNET)
    else:
        digest = int.from_bytes(hashlib.sha256(prefix.encode()).digest()[:4], "big")
        start = digest % len(candidates)
    chosen: list[Network] = []
    for offset in range(len(candidates)):
        subnet = candidates[(start + offset) % len(candidates)]
        if overlaps_any(subnet, taken + chosen) is None:
            chosen.append(subnet)
            if len(chosen) == count:
                return chosen
    raise LookupError("no free /30 left in 198.18.0.0/15")


def parse_routes(ip_json: str) -> list[Network]:
    """Destinations of `ip -4 -j route show table all` (and `ip -4 -j addr`-style `dst`)."""
    nets = []
    for route in json.loads(ip_json or "[]"):
        dst = route.get("dst", "")
        if dst in ("default", "") or ":" in dst:
            continue
        try:
            nets.append(ipaddress.ip_network(dst, strict=False))
        except ValueError:
            continue
    return [n for n in nets if isinstance(n, ipaddress.IPv4Network)]


def host_routes() -> list[Network]:
    out = subprocess.run(["ip", "-4", "-j", "route", "show", "table", "all"],
                         capture_output=True, text=True, check=True).stdout
    return parse_routes(out)


@contextmanager
def allocation_lock(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".mgmt-alloc.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)

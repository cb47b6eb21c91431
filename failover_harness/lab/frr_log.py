"""The lab routers' own word on when a BGP session changed: FRR's log lines
(`%ADJCHANGE: neighbor 169.254.21.2(...) in vrf default Down Hold Timer Expired`), stamped
by bgpd on the wall clock to the millisecond (`log timestamp precision 3`, render.py).
Independent evidence for lab tests and benchmarks: the harness never reads it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

LOG_FILE = "frr.log"
_STAMP_CHARS = 23  # "2026/12/02 17:20:01.123"


def neighbor_changes(frr_dir: str | Path, neighbor: str, change: str = "Down") -> list[datetime]:
    """When bgpd logged the session to `neighbor` going `change` ("Down" or "Up"), oldest
    first (UTC; the log is in the machine's local time)."""
    log = Path(frr_dir) / LOG_FILE
    out = []
    for line in log.read_text(errors="replace").splitlines():
        if f"neighbor {neighbor}" not in line or f" {change} " not in f"{line} ":
            continue
        try:
            stamp = datetime.strptime(line[:_STAMP_CHARS], "%Y/%m/%d %H:%M:%S.%f")
        except ValueError:
            continue
        out.append(stamp.astimezone(UTC))
    return out


def first_change_after(frr_dir: str | Path, neighbor: str, after: datetime, change: str = "Down") -> datetime | None:
    return next((t for t in neighbor_changes(frr_dir, neighbor, change) if t >= after), None)

"""Lab fixtures for tests that need a running lab (marker `lab`, root).

- `lab` (session scope): brings one lab up with the default options (fast timers 1/3, ECMP,
  one on-prem router, IPsec on) under a unique prefix ("fht" + 3 digits of the pid), yields
  its `LabState` (failover_harness.lab.state), and always brings it down at the end.
  Everything about the lab (namespaces, router vty dirs, tunnels, management addresses,
  secret files, inventory path) is in that state.
- `lab_vtysh(lab, router, command) -> dict`: runs a vtysh `... json` command on one of the
  lab's routers (edge1, gw0, gw1, vnet; edge2 in the dual lab) and returns the parsed JSON.
  Import it: `from tests.lab.conftest import lab_vtysh`.
- `lab_prefix()`: the session's unique prefix, for tests that build their own lab variant
  (use `lab_prefix() + "x"`-style names only when the default lab is not enough).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from failover_harness.lab import lab as lab_api
from failover_harness.lab.state import LabState
from failover_harness.lab.topology import LabOptions


def lab_prefix() -> str:
    return f"fht{os.getpid() % 1000:03d}"


def lab_vtysh(lab: LabState, router: str, command: str) -> dict[str, object]:
    """Parsed JSON of a vtysh command on one lab router (e.g. 'show bgp summary json')."""
    return lab_api.vtysh_json(lab, router, command)


@pytest.fixture(scope="session")
def lab() -> Iterator[LabState]:
    prefix = lab_prefix()
    lab_api.down(prefix)  # a leftover of an earlier run with the same pid would block `up`
    try:
        state = lab_api.up(prefix, LabOptions())
        yield state
    finally:
        lab_api.down(prefix)

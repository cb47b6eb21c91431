"""inventories/lab.yaml describes the default lab: it matches what `lab up` writes, but for
the values that depend on the prefix (run dir, management address, emulator ports)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from failover_harness.lab.lab import DEFAULT_EMULATOR_PORTS, DEFAULT_PREFIX
from failover_harness.lab.state import LabState

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_lab_inventory_matches_the_one_lab_up_writes(lab: LabState) -> None:
    assert lab.inventory is not None and lab.emulator is not None
    text = Path(lab.inventory).read_text()
    arm_port = lab.emulator.base_url.rsplit(":", 1)[1]
    identity_port = lab.emulator.identity_endpoint.split(":")[2].split("/")[0]
    text = (text.replace(f"/run/failover-harness/{lab.prefix}/", f"/run/failover-harness/{DEFAULT_PREFIX}/")
            .replace(f"{lab.prefix}-host", f"{DEFAULT_PREFIX}-host")
            .replace(f"lab-{lab.prefix}", f"lab-{DEFAULT_PREFIX}")
            .replace(lab.mgmt["edge1"], "198.18.255.2")
            .replace(f"127.0.0.1:{arm_port}", f"127.0.0.1:{DEFAULT_EMULATOR_PORTS[0]}")
            .replace(f"127.0.0.1:{identity_port}", f"127.0.0.1:{DEFAULT_EMULATOR_PORTS[1]}"))
    yaml = YAML(typ="safe")
    written = yaml.load(text)
    shipped = yaml.load((ROOT / "inventories" / "lab.yaml").read_text())
    assert written == shipped

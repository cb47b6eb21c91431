"""The inventory `lab up` writes for its lab, in the shape of inventories/lab.yaml."""

from __future__ import annotations

import io
from pathlib import Path

from ruamel.yaml import YAML

from failover_harness.lab.state import LabState


def inventory_data(state: LabState) -> dict[str, object]:
    """Plain YAML-ready data (the YAML boundary); values come only from the lab state."""
    run_dir = Path(state.run_dir)
    devices: dict[str, object] = {}
    for name, router in state.routers.items():
        if router.role != "onprem_edge":
            continue
        tunnels = {t.name: {"neighbor": t.azure_bgp_ip, "local_address": t.onprem_bgp_ip,
                            "azure_instance": t.azure_instance,
                            "connection": t.connection}
                   for t in state.tunnels if t.onprem_router == name}
        devices[name] = {
            "platform": "frr", "bgp_asn": router.asn, "host": state.mgmt[name], "port": 22,
            "username": "netops",
            "password": {"file": str(run_dir / "secrets" / f"{name}.password")},
            "known_hosts": str(run_dir / "ssh" / "known_hosts"),
            "tunnels": tunnels,
        }
    azure: dict[str, object] = {
        "subscription_id": state.azure.subscription_id,
        "resource_group": state.azure.resource_group,
        "gateway": state.azure.gateway,
        "connections": [t.connection for t in state.tunnels],
        "credential": "default",
    }
    if state.emulator is not None:
        azure["base_url"] = state.emulator.base_url
        azure["ca_bundle"] = state.emulator.ca_bundle
        azure["environment"] = {
            "IDENTITY_ENDPOINT": state.emulator.identity_endpoint,
            "IDENTITY_HEADER": {"file": state.emulator.identity_header_file},
        }
    return {
        "name": f"lab-{state.prefix}",
        "devices": devices,
        "azure": azure,
        "vantage_points": {"onprem-host": {"netns": state.host_netns,
                                           "sources": list(state.host_ips)}},
        "targets": {"vm1": {"ip": state.vm_ip, "tcp_ports": list(state.vm_tcp_ports),
                            **({} if state.vm_reflector_port is None
                               else {"reflector_port": state.vm_reflector_port})}},
        "prefixes": {"onprem": ["192.168.10.0/24"], "azure": list(state.azure.vnet_prefixes)},
    }


def render_inventory(state: LabState) -> str:
    yaml = YAML()
    yaml.default_flow_style = False
    out = io.StringIO()
    out.write(f"# Written by `failover-harness lab up --prefix {state.prefix}` for this lab.\n")
    yaml.dump(inventory_data(state), out)
    return out.getvalue()

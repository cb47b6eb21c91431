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
                            "connection": t.connection,
                            "underlay_interface": t.onprem_uplink}
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
    vantage_points: dict[str, object] = {"onprem-host": {"netns": state.host_netns,
                                                         "sources": list(state.host_ips)}}
    targets: dict[str, object] = {"vm1": {
        "ip": state.vm_ip, "tcp_ports": list(state.vm_tcp_ports),
        **({} if state.vm_reflector_port is None
           else {"reflector_port": state.vm_reflector_port})}}
    onprem = ["192.168.10.0/24"]
    # `lab up --sites N`: each site host and the VM as SSH vantage points; site hosts are
    # targets of the VM side's probes.
    for vantage in [*state.sites, *([state.vm_ssh] if state.vm_ssh else [])]:
        name = vantage.name if vantage.prefix else f"{vantage.name}-ssh"
        vantage_points[name] = {
            "ssh": {"host": vantage.host, "user": vantage.user, "key_file": vantage.key_file,
                    "known_hosts": vantage.known_hosts},
            "sources": list(vantage.sources)}
        if vantage.prefix:
            targets[f"{vantage.name}-host"] = {"ip": vantage.sources[0]}
            onprem.append(vantage.prefix)
    return {
        "name": f"lab-{state.prefix}",
        "devices": devices,
        "azure": azure,
        "vantage_points": vantage_points,
        "targets": targets,
        "prefixes": {"onprem": onprem, "azure": list(state.azure.vnet_prefixes)},
    }


def render_inventory(state: LabState) -> str:
    yaml = YAML()
    yaml.default_flow_style = False
    out = io.StringIO()
    out.write(f"# Written by `failover-harness lab up --prefix {state.prefix}` for this lab.\n")
    yaml.dump(inventory_data(state), out)
    return out.getvalue()

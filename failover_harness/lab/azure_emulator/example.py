"""Print the lab gateway's BGP peers and learned routes through the real Azure SDK.

    python -m failover_harness.lab.azure_emulator.example --lab-dir /run/failover-harness/fh

Only the base URL, the CA bundle and the managed-identity environment come from the lab;
the code is what production runs (DefaultAzureCredential + NetworkManagementClient).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from azure.identity import DefaultAzureCredential
from azure.mgmt.network import NetworkManagementClient

from failover_harness.lab.state import LabState


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lab-dir", type=Path, default=Path("/run/failover-harness/fh"))
    args = parser.parse_args(argv)
    lab = LabState.load(args.lab_dir)
    if lab.emulator is None:
        print(f"{args.lab_dir}: the lab runs no Azure emulator", file=sys.stderr)
        return 2
    em, az = lab.emulator, lab.azure
    # What App Service sets for a managed identity; the SDK then needs nothing lab-specific.
    os.environ["IDENTITY_ENDPOINT"] = em.identity_endpoint
    os.environ["IDENTITY_HEADER"] = Path(em.identity_header_file).read_text().strip()
    with DefaultAzureCredential() as credential, NetworkManagementClient(
            credential, az.subscription_id, base_url=em.base_url, connection_verify=em.ca_bundle) as client:
        gateways = client.virtual_network_gateways
        peers = gateways.begin_get_bgp_peer_status(az.resource_group, az.gateway, polling_interval=1).result()
        print(f"{'local':<12} {'neighbor':<15} {'asn':>6} {'state':<11} {'connected':<20} routes")
        for p in peers.value or []:
            print(f"{p.local_address:<12} {p.neighbor:<15} {p.asn:>6} {getattr(p.state, 'value', p.state)!s:<11} "
                  f"{p.connected_duration or '-':<20} {p.routes_received}")
        routes = gateways.begin_get_learned_routes(az.resource_group, az.gateway, polling_interval=1).result()
        print(f"\n{'local':<12} {'network':<18} {'next hop':<15} {'origin':<8} {'as path':<12} weight")
        for r in routes.value or []:
            origin = getattr(r.origin, "value", r.origin)
            print(f"{r.local_address:<12} {r.network:<18} {r.next_hop or '-':<15} {origin!s:<8} "
                  f"{r.as_path or '-':<12} {r.weight}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

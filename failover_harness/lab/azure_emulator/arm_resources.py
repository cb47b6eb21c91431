"""Pure mapping: the lab's topology -> the ARM resources a user's script reads to find
things: the gateway (ipConfigurations, bgpSettings), its public IPs, the local network
gateways. Shapes follow the Microsoft.Network REST reference (learn.microsoft.com/rest/api/
network-gateway/virtual-network-gateways/get, .../local-network-gateways/get,
/rest/api/virtualnetwork/public-ip-addresses/get), field names as the SDK's models have them.

An active-standby gateway (activeActive false) has one ip configuration, one public IP and
one BGP peering address (vpn-gateway-highlyavailable.md); the lab keeps both instance
routers, so `instances` here is the served subset, chosen by the caller.
"""

from __future__ import annotations

from pydantic import BaseModel

from failover_harness.lab.state import AzureInstanceState, AzureResources, TunnelState

from .arm import etag, gateway_id, ip_configuration_id, local_network_gateway_id, provider_prefix


def public_ip_name(res: AzureResources, inst: AzureInstanceState) -> str:
    return f"{res.gateway}-pip{inst.index}"


def public_ip_id(res: AzureResources, inst: AzureInstanceState) -> str:
    return f"{provider_prefix(res)}/publicIPAddresses/{public_ip_name(res, inst)}"


def gateway_resource(res: AzureResources, instances: list[AzureInstanceState],
                     updating: bool = False) -> dict[str, object]:
    """GET virtualNetworkGateways/{gw}. `updating`: a reset is under way (ARM shows the
    resource as Updating while an operation on it runs)."""
    subnet_id = f"{provider_prefix(res)}/virtualNetworks/{res.gateway}-vnet/subnets/GatewaySubnet"
    active_active = len(instances) > 1
    ip_configs = [{
        "name": inst.ip_configuration,
        "id": ip_configuration_id(res, inst),
        "etag": etag(inst.ip_configuration),
        "properties": {
            "provisioningState": "Succeeded",
            "privateIPAllocationMethod": "Dynamic",
            "subnet": {"id": subnet_id},
            "publicIPAddress": {"id": public_ip_id(res, inst)},
        },
    } for inst in instances]
    peering = [{
        "ipconfigurationId": ip_configuration_id(res, inst),
        "defaultBgpIpAddresses": [inst.private_ip],
        "customBgpIpAddresses": [inst.bgp_ip],
        "tunnelIpAddresses": [inst.public_ip],
    } for inst in instances]
    return {
        "name": res.gateway, "id": gateway_id(res), "etag": etag(res.gateway),
        "type": "Microsoft.Network/virtualNetworkGateways", "location": res.location,
        "properties": {
            "provisioningState": "Updating" if updating else "Succeeded",
            "resourceGuid": "6f0c5e0a-0000-4000-8000-00000000fa11",
            "packetCaptureDiagnosticState": "None",
            "enablePrivateIpAddress": False,
            "ipConfigurations": ip_configs,
            "sku": {"name": "VpnGw2AZ", "tier": "VpnGw2AZ", "capacity": 2},
            "gatewayType": "Vpn", "vpnType": "RouteBased", "vpnGatewayGeneration": "Generation2",
            "enableBgp": True, "activeActive": active_active, "disableIPSecReplayProtection": False,
            "bgpSettings": {
                "asn": res.asn,
                # ARM joins the instances' default BGP addresses with "," (active-active).
                "bgpPeeringAddress": ",".join(i.private_ip for i in instances),
                "peerWeight": 0,
                "bgpPeeringAddresses": peering,
            },
            "vpnClientConfiguration": None,
            "enableBgpRouteTranslationForNat": False,
        },
    }


def public_ip_resource(res: AzureResources, inst: AzureInstanceState) -> dict[str, object]:
    """GET publicIPAddresses/{name}: Standard, static, zone-redundant, bound to the
    gateway's ip configuration of that instance."""
    name = public_ip_name(res, inst)
    return {
        "name": name, "id": public_ip_id(res, inst), "etag": etag(name),
        "type": "Microsoft.Network/publicIPAddresses", "location": res.location,
        "zones": ["1", "2", "3"],
        "sku": {"name": "Standard", "tier": "Regional"},
        "properties": {
            "provisioningState": "Succeeded",
            "resourceGuid": f"9a1b2c3d-0000-4000-8000-0000000fa1{inst.index:02d}",
            "ipAddress": inst.public_ip,
            "publicIPAddressVersion": "IPv4",
            "publicIPAllocationMethod": "Static",
            "idleTimeoutInMinutes": 4,
            "ipTags": [],
            "ipConfiguration": {"id": ip_configuration_id(res, inst)},
            "ddosSettings": {"protectionMode": "VirtualNetworkInherited"},
        },
    }


class LocalSite(BaseModel):
    """One local network gateway: an on-prem device end as Azure knows it."""

    name: str
    gateway_ip: str  # the on-prem router's public address
    asn: int
    bgp_peering_address: str  # the first tunnel's on-prem BGP address
    bgp_addresses: list[str]  # every on-prem BGP address behind this gateway (one per tunnel)


def local_sites(tunnels: list[TunnelState], onprem_asns: dict[str, int]) -> list[LocalSite]:
    """One local network gateway per name the lab's tunnels use, in tunnel order (the lab
    names one per on-prem router, so its tunnels to both instances share it)."""
    sites: dict[str, LocalSite] = {}
    for t in tunnels:
        site = sites.setdefault(t.local_network_gateway, LocalSite(
            name=t.local_network_gateway, gateway_ip=t.onprem_public_ip,
            asn=onprem_asns.get(t.onprem_router, 0), bgp_peering_address=t.onprem_bgp_ip, bgp_addresses=[]))
        site.bgp_addresses.append(t.onprem_bgp_ip)
    return list(sites.values())


def local_network_gateway_resource(res: AzureResources, site: LocalSite) -> dict[str, object]:
    """GET localNetworkGateways/{name}. With BGP the address space need only hold the BGP
    peers' /32s (vpn-gateway-bgp-resource-manager-ps.md); routes come over BGP."""
    return {
        "name": site.name, "id": local_network_gateway_id(res, site.name), "etag": etag(site.name),
        "type": "Microsoft.Network/localNetworkGateways", "location": res.location,
        "properties": {
            "provisioningState": "Succeeded",
            "resourceGuid": "4c5d6e7f-0000-4000-8000-00000000fa11",
            "gatewayIpAddress": site.gateway_ip,
            "localNetworkAddressSpace": {"addressPrefixes": [f"{a}/32" for a in site.bgp_addresses]},
            "bgpSettings": {"asn": site.asn, "bgpPeeringAddress": site.bgp_peering_address, "peerWeight": 0},
        },
    }

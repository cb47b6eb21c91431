"""Which Azure RBAC action each SDK call of the harness needs: the one table behind the
shipped custom roles (deploy/azure/*.json, generated from it by `role_definition`), the
403 message that names the missing action, and the test that no call goes unlisted.

Action names follow Azure's Microsoft.Network resource-provider operations; they were
checked against the lab's emulator, not against a real tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Role = Literal["reader", "fault"]

ROLE_NAMES: dict[Role, str] = {"reader": "failover-harness-reader", "fault": "failover-harness-fault"}
ROLE_DESCRIPTIONS: dict[Role, str] = {
    "reader": "failover-harness: read a VPN gateway, its connections, public IPs and local network "
              "gateways, and its BGP peer status and learned routes (check, run, inventory discover).",
    "fault": "failover-harness: reset one instance of a VPN gateway or one connection "
             "(the reset_azure_instance and reset_connection faults). Assign together with "
             "failover-harness-reader.",
}


@dataclass(frozen=True)
class ArmCall:
    group: str    # attribute of NetworkManagementClient, e.g. "virtual_network_gateways"
    method: str   # its method the harness calls
    action: str   # the RBAC action ARM checks
    role: Role
    used_for: str


ARM_CALLS: tuple[ArmCall, ...] = (
    ArmCall("virtual_network_gateways", "get", "Microsoft.Network/virtualNetworkGateways/read",
            "reader", "gateway ASN, active-active, BGP peering addresses"),
    ArmCall("virtual_network_gateways", "begin_get_bgp_peer_status",
            "Microsoft.Network/virtualNetworkGateways/getBgpPeerStatus/action", "reader", "BGP peer status"),
    ArmCall("virtual_network_gateways", "begin_get_learned_routes",
            "Microsoft.Network/virtualNetworkGateways/getLearnedRoutes/action", "reader", "learned routes"),
    ArmCall("virtual_network_gateways", "list_connections",
            "Microsoft.Network/virtualNetworkGateways/connections/read", "reader",
            "inventory discover: the gateway's connections"),
    ArmCall("virtual_network_gateway_connections", "get", "Microsoft.Network/connections/read",
            "reader", "connection status"),
    ArmCall("public_ip_addresses", "get", "Microsoft.Network/publicIPAddresses/read", "reader",
            "inventory discover: gateway instances' public IPs"),
    ArmCall("local_network_gateways", "get", "Microsoft.Network/localNetworkGateways/read", "reader",
            "inventory discover: on-prem BGP peering address and ASN"),
    ArmCall("virtual_network_gateways", "begin_reset", "Microsoft.Network/virtualNetworkGateways/reset/action",
            "fault", "reset_azure_instance (by the instance's gateway VIP)"),
    ArmCall("virtual_network_gateway_connections", "begin_reset_connection",
            "Microsoft.Network/connections/resetconnection/action", "fault",
            "reset_connection"),
)

# Reads ARM checks while the SDK polls a long-running operation (Azure-AsyncOperation and
# Location URLs under /providers/Microsoft.Network/locations/{region}/...).
LRO_ACTIONS: tuple[str, ...] = (
    "Microsoft.Network/locations/operations/read",
    "Microsoft.Network/locations/operationResults/read",
)


def actions_for(role: Role) -> list[str]:
    actions = {c.action for c in ARM_CALLS if c.role == role}
    if any(c.method.startswith("begin_") for c in ARM_CALLS if c.role == role):
        actions.update(LRO_ACTIONS)
    if role == "fault":
        actions -= set(actions_for("reader"))  # the fault role is always assigned beside the reader
    return sorted(actions)


def role_definition(role: Role, assignable_scopes: list[str]) -> dict[str, Any]:
    """The custom role as `az role definition create --role-definition @FILE` takes it."""
    return {
        "Name": ROLE_NAMES[role],
        "IsCustom": True,
        "Description": ROLE_DESCRIPTIONS[role],
        "Actions": actions_for(role),
        "NotActions": [],
        "DataActions": [],
        "NotDataActions": [],
        "AssignableScopes": assignable_scopes,
    }


def action_for(group: str, method: str) -> ArmCall | None:
    return next((c for c in ARM_CALLS if c.group == group and c.method == method), None)


def missing_permission_hint(action: str | None) -> str:
    """What to tell the operator when ARM answered 403 to a call needing `action`."""
    if action is None:
        return "the identity lacks an Azure RBAC permission (see deploy/azure/ and the README)"
    role: Role = next((c.role for c in ARM_CALLS if c.action == action), "reader")
    return (f"the identity lacks Azure permission '{action}': assign the custom role "
            f"'{ROLE_NAMES[role]}' (deploy/azure/{ROLE_NAMES[role]}.json) on the gateway's resource group")

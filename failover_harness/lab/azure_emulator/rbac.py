"""The RBAC action ARM checks for a request, derived from its method and path the way
Azure names resource-provider operations, and the 403 body ARM sends when it is missing
(fault kind `forbidden`).

    GET  .../providers/Microsoft.Network/virtualNetworkGateways/gw            -> .../virtualNetworkGateways/read
    GET  .../virtualNetworkGateways/gw/connections                            -> .../virtualNetworkGateways/connections/read
    POST .../virtualNetworkGateways/gw/getBgpPeerStatus                       -> .../virtualNetworkGateways/getBgpPeerStatus/action
    GET  /subscriptions/s/providers/Microsoft.Network/locations/x/operations/1 -> Microsoft.Network/locations/operations/read
"""

from __future__ import annotations

PROVIDER = "Microsoft.Network"


def action_for(method: str, path: str) -> str:
    parts = [p for p in path.split("/") if p]
    try:
        after = parts[parts.index(PROVIDER) + 1:]
    except ValueError:
        return f"{PROVIDER}/unknown/{method.lower()}"
    # Alternate type/name segments; a trailing odd segment is a child type (GET) or action (POST).
    types = after[0::2]
    if method.upper() == "POST":
        return "/".join([PROVIDER, *types, "action"])
    return "/".join([PROVIDER, *types, "read" if method.upper() == "GET" else "write"])


def authorization_failed_message(method: str, path: str) -> str:
    """ARM's AuthorizationFailed text (the client and object ids are the lab's own)."""
    return ("The client 'lab-identity' with object id '00000000-0000-0000-0000-000000000000' does not "
            f"have authorization to perform action '{action_for(method, path)}' over scope '{path}' "
            "or the scope is invalid. If access was recently granted, please refresh your credentials.")

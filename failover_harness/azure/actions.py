"""Azure's own faults through the SDK: an instance reset by its gateway VIP (what
`az network vnet-gateway reset --gateway-vip` does) and a connection reset.

The VIP is found as a user's script would find it: the gateway's bgpPeeringAddresses list
the instances in order, each naming its ipConfiguration; that ipConfiguration names its
publicIPAddress resource, whose ipAddress is the VIP.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from azure.core.exceptions import AzureError
from azure.core.polling import LROPoller
from pydantic import BaseModel

from failover_harness.azure.client import AzureConnection
from failover_harness.azure.settings import AzureSettings
from failover_harness.errors import InfrastructureError

ARM_PROVIDER = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network"


class AzureActionError(InfrastructureError):
    """An Azure fault could not be started (the gateway's resources or the call failed)."""


class InstanceVip(BaseModel):
    """One gateway instance as ARM describes it."""

    instance: int  # its position in bgpSettings.bgpPeeringAddresses
    ip_configuration_id: str
    public_ip_id: str
    vip: str
    bgp_addresses: list[str]  # its default and custom (APIPA) BGP addresses


def _rest(obj: Any) -> dict[str, Any]:
    """REST JSON (camelCase) of an SDK model (they are mappings of it), or plain JSON."""
    if isinstance(obj, Mapping):
        return dict(obj)
    serialize = getattr(obj, "serialize", None)  # older, msrest-style models
    body = serialize(keep_readonly=True) if callable(serialize) else None
    return body if isinstance(body, dict) else {}


def resource_group_and_name(resource_id: str) -> tuple[str, str]:
    """(resource group, last name) of an ARM id."""
    parts = resource_id.strip("/").split("/")
    lower = [p.lower() for p in parts]
    try:
        group = parts[lower.index("resourcegroups") + 1]
    except (ValueError, IndexError):
        raise AzureActionError(f"not an ARM resource id: {resource_id}") from None
    return group, parts[-1]


def instance_vips(gateway: Any, public_ip_of: Callable[[str], str | None]) -> list[InstanceVip]:
    """Every instance of the gateway with its VIP. `public_ip_of(id)`: that public IP
    resource's ipAddress (None: it has none)."""
    props = _rest(gateway).get("properties") or {}
    configs = {str(c.get("id", "")).lower(): c for c in props.get("ipConfigurations") or []}
    peering = (props.get("bgpSettings") or {}).get("bgpPeeringAddresses") or []
    out = []
    for index, row in enumerate(peering):
        config_id = str(row.get("ipconfigurationId") or "")
        config = configs.get(config_id.lower())
        if config is None:
            raise AzureActionError(f"instance {index}: ip configuration {config_id or '?'} "
                                   "is not among the gateway's ipConfigurations")
        pip_id = str(((config.get("properties") or {}).get("publicIPAddress") or {}).get("id") or "")
        if not pip_id:
            raise AzureActionError(f"instance {index}: ip configuration {config_id} has no "
                                   "public IP address")
        vip = public_ip_of(pip_id)
        if not vip:
            raise AzureActionError(f"instance {index}: public IP {pip_id} has no ipAddress")
        addresses = [*(row.get("defaultBgpIpAddresses") or []),
                     *(row.get("customBgpIpAddresses") or [])]
        out.append(InstanceVip(instance=index, ip_configuration_id=config_id,
                               public_ip_id=pip_id, vip=vip, bgp_addresses=addresses))
    return out


class AzureActions:
    """The fault calls, on a connection of their own (apart from the poller's budget)."""

    def __init__(self, settings: AzureSettings, connection: AzureConnection | None = None) -> None:
        self.settings = settings
        self._conn = connection
        self._started: list[LROPoller[Any]] = []

    @property
    def conn(self) -> AzureConnection:
        if self._conn is None:
            self._conn = AzureConnection(self.settings)
        return self._conn

    def vips(self) -> list[InstanceVip]:
        client, s = self.conn.client, self.settings
        try:
            gateway = client.virtual_network_gateways.get(s.resource_group, s.gateway)

            def public_ip_of(pip_id: str) -> str | None:
                group, name = resource_group_and_name(pip_id)
                pip = _rest(client.public_ip_addresses.get(group, name))
                address = (pip.get("properties") or {}).get("ipAddress")
                return str(address) if address else None
            return instance_vips(gateway, public_ip_of)
        except AzureError as exc:
            raise AzureActionError(f"reading gateway {s.gateway}'s instances: {exc}") from exc

    def begin_reset_instance(self, vip: str) -> LROPoller[Any]:
        """Start the reset (ARM accepted it when this returns); the LRO ends when the
        instance is back."""
        s = self.settings
        try:
            poller = self.conn.client.virtual_network_gateways.begin_reset(
                s.resource_group, s.gateway, gateway_vip=vip, polling=self.conn.polling())
        except AzureError as exc:
            raise AzureActionError(f"reset of {s.gateway} instance {vip}: {exc}") from exc
        self._started.append(poller)
        return poller

    def begin_reset_connection(self, name: str) -> LROPoller[Any]:
        s = self.settings
        try:
            poller = self.conn.client.virtual_network_gateway_connections.begin_reset_connection(
                s.resource_group, name, polling=self.conn.polling())
        except AzureError as exc:
            raise AzureActionError(f"reset of connection {name}: {exc}") from exc
        self._started.append(poller)
        return poller

    def close(self, wait_s: float = 5.0) -> list[str]:
        """Wait briefly for started operations, then stop polling them. Returns the errors
        of those that failed (the run verifies the peers itself: this is for the record)."""
        problems = []
        for poller in self._started:
            try:
                poller.result(timeout=wait_s)
            except AzureError as exc:
                problems.append(str(exc))
            if not poller.done():
                abandon = getattr(poller.polling_method(), "abandon", None)
                if callable(abandon):
                    abandon()
        self._started.clear()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        return problems


def planned_calls(settings: AzureSettings, *, instance: int | None = None,
                  vip: str | None = None, connection: str | None = None) -> list[str]:
    """The ARM calls one Azure fault makes, for `run --dry-run` (api-versions: the SDK's)."""
    base = ARM_PROVIDER.format(sub=settings.subscription_id, rg=settings.resource_group)
    gw = f"{base}/virtualNetworkGateways/{settings.gateway}"
    if connection is not None:
        return [f"POST {base}/connections/{connection}/resetconnection (long-running)"]
    return [f"GET  {gw} (bgpPeeringAddresses[{instance}] -> its ipConfiguration)",
            f"GET  {base}/publicIPAddresses/<that ipConfiguration's public IP> (its ipAddress)",
            f"POST {gw}/reset?gatewayVip={vip or '<VIP of instance ' + str(instance) + '>'} "
            "(long-running)"]

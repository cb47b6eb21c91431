"""Turn inventory and playbook models into what the components take (no I/O beyond
resolving secret references)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from failover_harness.azure.budget import BudgetSettings
from failover_harness.azure.settings import AzureSettings, PollSettings
from failover_harness.devices import DeviceConnection
from failover_harness.inventory import Inventory
from failover_harness.playbook import Playbook
from failover_harness.probes.flows import FlowSpec, FlowTarget, build_flows
from failover_harness.secrets import resolve, resolve_optional
from failover_harness.timeline import Timeline
from failover_harness.vocabulary import ProbeKind

if TYPE_CHECKING:
    from failover_harness.orchestrator.parts import Monitor, Parts


def device_connection(inventory: Inventory, name: str) -> DeviceConnection:
    device = inventory.devices[name]
    return DeviceConnection(
        name=name, platform=device.platform, host=device.host, port=device.port,
        username=device.username, password=resolve(device.password),
        known_hosts=Path(device.known_hosts) if device.known_hosts else None,
        bgp_asn=device.bgp_asn)


def azure_settings(inventory: Inventory) -> AzureSettings:
    azure = inventory.azure
    poll = PollSettings(sample_interval_s=azure.polling.interval_s,
                        call_timeout_s=azure.polling.request_timeout_s,
                        max_in_flight=azure.polling.max_in_flight,
                        budget=BudgetSettings(share=azure.polling.budget_share))
    return AzureSettings(
        subscription_id=azure.subscription_id, resource_group=azure.resource_group,
        gateway=azure.gateway, connections=list(azure.connections),
        credential=azure.credential, base_url=azure.base_url, ca_bundle=azure.ca_bundle,
        environment={k: SecretStr(resolve_optional(v)) for k, v in azure.environment.items()},
        poll=poll)


def probe_flows(inventory: Inventory, playbook: Playbook) -> tuple[list[FlowSpec], str | None]:
    """The playbook's flows and the network namespace to run them in (None: this host)."""
    probes = playbook.probes
    vantage = inventory.vantage_points[probes.from_]
    targets = [FlowTarget(name=name, ip=str(inventory.targets[name].ip),
                          tcp_ports=list(inventory.targets[name].tcp_ports),
                          reflector_port=inventory.targets[name].reflector_port)
               for name in probes.to]
    timeouts_s = {kind: ms / 1000.0 for kind, ms in probe_timeouts_ms(playbook).items()}
    flows = build_flows(targets, [str(s) for s in vantage.sources], probes.flows,
                        kinds=probes.kinds, interval_s=probes.interval_ms / 1000.0,
                        timeouts_s=timeouts_s)
    return flows, vantage.netns


def probe_sets(inventory: Inventory, playbook: Playbook) -> list[tuple[str, list[FlowSpec]]]:
    """(vantage point, its flows) of every vantage point the playbook probes from at once:
    `probes.from` first (flow ids as ever), then each of `probes.also` (ids '<vp>/...')."""
    flows, _netns = probe_flows(inventory, playbook)
    sets = [(playbook.probes.from_, flows)]
    probes = playbook.probes
    timeouts_s = {kind: ms / 1000.0 for kind, ms in probe_timeouts_ms(playbook).items()}
    for extra in probes.also:
        vantage = inventory.vantage_points[extra.from_]
        targets = [FlowTarget(name=name, ip=str(inventory.targets[name].ip),
                              tcp_ports=list(inventory.targets[name].tcp_ports),
                              reflector_port=inventory.targets[name].reflector_port)
                   for name in extra.to]
        built = build_flows(targets, [str(s) for s in vantage.sources],
                            extra.flows or probes.flows, kinds=extra.kinds or probes.kinds,
                            interval_s=probes.interval_ms / 1000.0, timeouts_s=timeouts_s)
        sets.append((extra.from_, [f.model_copy(update={"id": f"{extra.from_}/{f.id}"})
                                   for f in built]))
    return sets


def open_monitor(parts: Parts, inventory: Inventory, vantage_name: str,
                 flows: list[FlowSpec], timeline: Timeline) -> Monitor:
    """The probe monitor of a vantage point: local (or in its netns) or over SSH."""
    vantage = inventory.vantage_points[vantage_name]
    if vantage.ssh is not None:
        return parts.remote_monitor(flows, vantage_name, vantage, timeline)
    return parts.probe_monitor(flows, vantage.netns, timeline)


def probe_timeouts_ms(playbook: Playbook) -> dict[ProbeKind, int]:
    """The timeouts the playbook sets: per kind over all kinds; the kinds it leaves out take
    their defaults in build_flows."""
    probes = playbook.probes
    every = {} if probes.timeout_ms is None else {k: probes.timeout_ms for k in probes.kinds}
    return {**every, **probes.timeouts_ms}

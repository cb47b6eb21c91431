"""The thin readers behind the prediction: each on-prem router's neighbor detail (and, on FRR,
BFD and the routes it learns), and Azure's learned routes, peers and DPD timeouts, turned
into prediction.DesignFacts. Read-only; a read that fails is a note, never an error.

Azure's read runs in a thread of its own (`AzureDesignRead`), started when a playbook
starts, so that its long-running calls overlap the gate instead of delaying the fault.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from failover_harness.azure.design import AzureDesign
from failover_harness.devices import Device
from failover_harness.devices.neighbor_detail import (
    FRR_BFD_COMMAND,
    FRR_TABLE_COMMAND,
    NEIGHBOR_DETAIL,
    NeighborTimers,
    parse_frr_table_json,
    with_frr_bfd,
)
from failover_harness.errors import DeviceError
from failover_harness.inventory import Inventory
from failover_harness.orchestrator.conditions import azure_peer_of
from failover_harness.prediction import AzurePath, DesignFacts, FaultKind, Prediction, SessionFacts, predict

if TYPE_CHECKING:
    from failover_harness.orchestrator.session import Session

AZURE_READ_WAIT_S = 20.0  # how long a fault waits for Azure's design read to finish


class AzureDesignRead:
    """Azure's design, read in the background; `result` waits for it (bounded)."""

    def __init__(self, read: Callable[[], AzureDesign]) -> None:
        self._design: AzureDesign | None = None
        self._thread = threading.Thread(target=self._run, args=(read,), daemon=True,
                                        name="azure-design-read")
        self._thread.start()

    def _run(self, read: Callable[[], AzureDesign]) -> None:
        try:
            self._design = read()
        except Exception as exc:  # noqa: BLE001 - a failed read only narrows the prediction
            self._design = AzureDesign(notes=[f"Azure design not read: {exc!r}"[:300]])

    def result(self, wait_s: float = AZURE_READ_WAIT_S) -> AzureDesign:
        self._thread.join(wait_s)
        if self._design is None:
            return AzureDesign(notes=[f"Azure design not read within {wait_s:g} s"])
        return self._design


def read_device(device: Device, platform: str) -> tuple[dict[str, NeighborTimers],
                                                        dict[str, list[str]] | None, list[str]]:
    """(neighbor -> timers, Azure route prefix -> neighbors or None, notes) of one router."""
    notes: list[str] = []
    entry = NEIGHBOR_DETAIL.get(platform)  # type: ignore[call-overload]
    if entry is None:
        return {}, None, [f"{device.name}: {platform} neighbor detail is not read; "
                          "Azure's fixed timers assumed"]
    command, parse = entry
    try:
        timers = parse(device.send_show(command))
    except (DeviceError, ValueError) as exc:
        return {}, None, [f"{device.name}: `{command}` not read: {exc}"]
    table: dict[str, list[str]] | None = None
    if platform == "frr":
        try:
            timers = with_frr_bfd(timers, device.send_show(FRR_BFD_COMMAND))
        except (DeviceError, ValueError) as exc:
            if "bfdd is not running" not in str(exc):  # no BFD at all: nothing to say
                notes.append(f"{device.name}: `{FRR_BFD_COMMAND}` not read: {exc}")
        try:
            table = parse_frr_table_json(device.send_show(FRR_TABLE_COMMAND))
        except (DeviceError, ValueError) as exc:
            notes.append(f"{device.name}: `{FRR_TABLE_COMMAND}` not read: {exc}")
    else:
        notes.append(f"{device.name}: the routes it learns are read on FRR only")
    return timers, table, notes


def design_facts(inventory: Inventory, device: Callable[[str], Device],
                 azure: AzureDesign | None) -> DesignFacts:
    sessions: list[SessionFacts] = []
    tables: dict[str, dict[str, list[str]]] = {}
    notes: list[str] = []
    for name, dev in inventory.devices.items():
        try:
            timers, table, more = read_device(device(name), dev.platform)
        except DeviceError as exc:
            timers, table, more = {}, None, [f"{name}: not read: {exc}"]
        notes.extend(more)
        if table is not None:
            tables[name] = table
        for interface, tunnel in dev.tunnels.items():
            t = timers.get(str(tunnel.neighbor))
            sessions.append(SessionFacts(
                device=name, interface=interface, neighbor=str(tunnel.neighbor),
                azure_peer=azure_peer_of_tunnel(inventory, name, interface),
                azure_instance=tunnel.azure_instance, connection=tunnel.connection,
                established=t.established if t else None, hold_s=t.hold_s if t else None,
                keepalive_s=t.keepalive_s if t else None, bfd=t.bfd if t else None,
                bfd_detect_s=t.bfd_detect_s if t else None,
                bfd_interval_s=t.bfd_interval_s if t else None,
                source=f"{dev.platform}: {NEIGHBOR_DETAIL[dev.platform][0]}" if t else ""))
    if azure is not None:
        notes.extend(azure.notes)
    return DesignFacts(
        sessions=sessions, onprem_prefixes=[str(p) for p in inventory.prefixes.onprem],
        azure_prefixes=[str(p) for p in inventory.prefixes.azure],
        azure_peer_states=azure.peer_states if azure else None,
        azure_paths=[AzurePath(**p.model_dump()) for p in azure.paths]
        if azure and azure.paths is not None else None,
        dpd_timeout_s=dict(azure.dpd_timeout_s) if azure else {},
        onprem_paths=tables or None, notes=notes)


def azure_peer_of_tunnel(inventory: Inventory, device: str, interface: str) -> str:
    ref = next(r for r in inventory.tunnels() if r.device == device and r.interface == interface)
    return azure_peer_of(ref)


def read_prediction(inventory: Inventory, device: Callable[[str], Device],
                    azure: AzureDesign | None, fault: FaultKind = "link") -> Prediction:
    return predict(design_facts(inventory, device, azure), fault)


def emit_prediction(session: Session, run_id: str, fault: FaultKind,
                    azure_read: AzureDesignRead | None) -> Prediction | None:
    """Read the design (the routers now, Azure from its background read), put the prediction
    into the timeline and say it. Never stops the run: a failure is said and skipped."""
    try:
        azure = azure_read.result() if azure_read is not None else None
        prediction = read_prediction(session.inventory, session.changer.device, azure, fault)
        session.timeline.emit("run", "prediction", run_id, **prediction.model_dump())
    except Exception as exc:  # noqa: BLE001 - the prediction only explains; the fault goes on
        session.say(f"[yellow]prediction not made: {exc!r}[/]")
        return None
    for line in prediction.lines():
        session.say(line)
    return prediction

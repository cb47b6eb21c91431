"""The closed sets of names every layer shares: platforms, credentials, actions, probe kinds.

One definition each, imported by inventory, playbook, journal, devices, azure, the timeline's
events and the metrics (this module imports nothing of the project, so any layer may use it).
"""

from __future__ import annotations

from typing import Literal, get_args

Platform = Literal["cisco_ios", "cisco_xe", "frr", "cisco_asa", "juniper_junos", "fortinet",
                   "paloalto_panos", "vyos"]
CredentialKind = Literal["default", "managed_identity", "cli", "environment"]

# What a device change does (journal, devices, timeline action events).
ChangeAction = Literal["shut_interface", "no_shut_interface", "shut_neighbor", "no_shut_neighbor"]
# Every playbook step (`action:` in YAML).
StepAction = Literal["baseline", "hold", "shut_interface", "no_shut_interface", "link_down",
                     "link_up", "shut_neighbor",
                     "no_shut_neighbor", "wait_until", "reset_azure_instance",
                     "reset_connection"]
# Azure's own faults: carried out through ARM, undone by nothing (they end by themselves).
AzureAction = Literal["reset_azure_instance", "reset_connection"]
FaultAction = Literal["shut_interface", "shut_neighbor", "reset_azure_instance", "reset_connection"]
RestoreAction = Literal["no_shut_interface", "no_shut_neighbor"]

FAULT_ACTIONS: frozenset[str] = frozenset(get_args(FaultAction))
RESTORE_ACTIONS: frozenset[str] = frozenset(get_args(RestoreAction))
AZURE_ACTIONS: frozenset[str] = frozenset(get_args(AzureAction))
# The change that undoes each change.
UNDO: dict[ChangeAction, ChangeAction] = {
    "shut_interface": "no_shut_interface",
    "no_shut_interface": "shut_interface",
    "shut_neighbor": "no_shut_neighbor",
    "no_shut_neighbor": "shut_neighbor",
}

ProbeKind = Literal["icmp", "tcp", "udp"]
AzureOperation = Literal["bgp_peer_status", "learned_routes", "connections"]

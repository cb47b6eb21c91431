"""The playbook: probes, steady-state checks, the method (steps), rollbacks, expectations.

fields.py: the shared strict base and field types; steps.py: the step models (each fault
knows its inverse); model.py: probes, steady-state checks and the `Playbook`; checks.py:
cross checks against itself and the inventory; loading.py: `load_playbook`, `validate`.
Everything is re-exported here, so `from failover_harness.playbook import X` keeps working.
"""

from failover_harness.playbook.checks import check_against_inventory, check_playbook
from failover_harness.playbook.loading import (
    load_playbook,
    playbook_from_document,
    summarize_inventory,
    summarize_playbook,
    validate,
)
from failover_harness.playbook.model import (
    AzurePeersConnected,
    NoLoss,
    OnpremBgpEstablished,
    Playbook,
    Probes,
    RoutesOnAllPaths,
    SteadyStateCheck,
)
from failover_harness.playbook.repeat import Iteration, Repeat, iterations, repeat_problems
from failover_harness.playbook.steps import (
    AnyStep,
    AzureFaultStep,
    Baseline,
    Condition,
    FaultStep,
    Hold,
    LinkDown,
    LinkUp,
    NoShutInterface,
    NoShutNeighbor,
    ResetAzureInstance,
    ResetConnection,
    ShutInterface,
    ShutNeighbor,
    Step,
    WaitUntil,
    is_fault,
)
from failover_harness.vocabulary import FAULT_ACTIONS

__all__ = [
    "FAULT_ACTIONS",
    "AnyStep",
    "AzureFaultStep",
    "AzurePeersConnected",
    "Baseline",
    "Condition",
    "FaultStep",
    "Hold",
    "Iteration",
    "LinkDown",
    "LinkUp",
    "NoLoss",
    "NoShutInterface",
    "NoShutNeighbor",
    "OnpremBgpEstablished",
    "Playbook",
    "Probes",
    "Repeat",
    "ResetAzureInstance",
    "ResetConnection",
    "RoutesOnAllPaths",
    "ShutInterface",
    "ShutNeighbor",
    "SteadyStateCheck",
    "Step",
    "WaitUntil",
    "check_against_inventory",
    "check_playbook",
    "is_fault",
    "iterations",
    "load_playbook",
    "playbook_from_document",
    "repeat_problems",
    "summarize_inventory",
    "summarize_playbook",
    "validate",
]

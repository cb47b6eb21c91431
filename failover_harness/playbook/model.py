"""The playbook document: probes, steady-state checks, method, rollbacks, expectations.

`Playbook.restore_plan` puts back every fault, also those the playbook has no rollback for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import Field, IPvAnyAddress, IPvAnyNetwork

from failover_harness.expectations import Expectation
from failover_harness.history.policy import RegressionPolicy
from failover_harness.playbook.fields import Name, Seconds, Strict
from failover_harness.playbook.repeat import Repeat
from failover_harness.playbook.steps import (
    AnyStep,
    FaultStep,
    ResetAzureInstance,
    ResetConnection,
    ShutInterface,
    ShutNeighbor,
    Step,
    restore_key,
)
from failover_harness.vocabulary import ProbeKind
from failover_harness.yamlfile import LoadedFromFile

# ---------------------------------------------------------------- probes


class ProbeSet(Strict):
    """More probes of the same playbook, at the same time, from another vantage point (e.g.
    a branch site or the Azure side); kinds and flows default to the playbook's, interval
    and timeouts are the playbook's. Their flow ids start with '<vantage point>/'."""

    from_: Name = Field(alias="from")
    to: list[Name] = Field(min_length=1)
    kinds: list[ProbeKind] | None = Field(default=None, min_length=1)
    flows: int | None = Field(default=None, ge=1, le=4096)


class Probes(Strict):
    from_: Name = Field(alias="from")  # a vantage point
    to: list[Name] = Field(min_length=1)  # targets
    kinds: list[ProbeKind] = Field(default_factory=lambda: list[ProbeKind](["icmp"]), min_length=1)
    flows: int = Field(default=8, ge=1, le=4096)  # per kind and target
    interval_ms: int = Field(default=10, ge=1, le=60000)
    # A probe unanswered this long is lost: `timeout_ms` for every kind, `timeouts_ms` per
    # kind; a kind in neither takes its own default (probes.flows.DEFAULT_TIMEOUT_S).
    timeout_ms: int | None = Field(default=None, ge=1, le=60000)
    timeouts_ms: dict[ProbeKind, Annotated[int, Field(ge=1, le=60000)]] = Field(
        default_factory=dict)
    also: list[ProbeSet] = Field(default_factory=list)  # more vantage points at once


# ---------------------------------------------------------------- steady state


class OnpremBgpEstablished(Strict):
    check: Literal["onprem_bgp_established"]
    device: Name
    neighbors: list[IPvAnyAddress] | None = None  # None: every tunnel of the device


class AzurePeersConnected(Strict):
    check: Literal["azure_peers_connected"]
    peers: list[IPvAnyAddress] | None = None  # None: every tunnel in the inventory


class RoutesOnAllPaths(Strict):
    check: Literal["routes_on_all_paths"]
    prefix: IPvAnyNetwork


class NoLoss(Strict):
    check: Literal["no_loss"]
    seconds: Seconds = 3.0


SteadyStateCheck = Annotated[
    OnpremBgpEstablished | AzurePeersConnected | RoutesOnAllPaths | NoLoss,
    Field(discriminator="check"),
]


# ---------------------------------------------------------------- the playbook


class Playbook(Strict, LoadedFromFile):
    name: Name
    description: str | None = None
    probes: Probes
    steady_state: list[SteadyStateCheck] = Field(default_factory=list)
    method: list[Step] = Field(default_factory=list)
    rollbacks: list[Step] = Field(default_factory=list)
    expectations: list[Expectation] = Field(default_factory=list)
    # Lab only (refused elsewhere, like --unsafe-skip-gate): the method may cut every path.
    allow_total_outage: bool = False
    repeat: Repeat | None = None  # run the method N times (playbook/repeat.py)
    # Against the run history (history/regression.py); without it: flagged, never failing.
    regression: RegressionPolicy | None = None

    def faults(self) -> list[FaultStep]:
        return [s for s in self.method if isinstance(s, (ShutInterface, ShutNeighbor,
                                                           ResetAzureInstance, ResetConnection))]

    def restore_plan(self, executed: Sequence[AnyStep] | None = None) -> list[AnyStep]:
        """Steps that put everything back: the playbook's rollbacks, then the inverse of
        every fault (latest first) that no rollback already restores.

        executed: the method steps actually taken (default: all of them)."""
        steps = list(self.method if executed is None else executed)
        plan: list[AnyStep] = list(self.rollbacks)
        covered = {restore_key(s) for s in plan}
        for step in reversed(steps):
            if isinstance(step, (ShutInterface, ShutNeighbor, ResetAzureInstance, ResetConnection)):
                inverse = step.restore_step()
                key = restore_key(inverse)
                if key not in covered:
                    covered.add(key)
                    plan.append(inverse)
        return plan

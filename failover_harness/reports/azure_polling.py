"""How well the Azure poller kept its cadence and what it spent of ARM's budget, for the
report: the last azure / poll_summary of each operation and the last azure / budget event of a
section (both are cumulative since the poller started, so the last one is the section's
figure). Shown in report.json (`azure_polling`), the HTML and Markdown reports and the
terminal summary, so a degraded Azure view (gaps, a cap, a short budget) is never silent.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from failover_harness.events import AzureBudget, BudgetFields, Event, PollSummary, PollSummaryFields
from failover_harness.metrics import fmt

OPERATION_NAMES = {"bgp_peer_status": "peer status", "learned_routes": "learned routes",
                   "connections": "connections"}
BUDGET_KINDS = ("writes", "reads")


class AzurePolling(BaseModel):
    """Per operation: achieved sample interval (median spacing of answers) and longest gap
    against the target; the request budget used against its allowance."""

    operations: list[PollSummaryFields] = Field(default_factory=list)
    budget: BudgetFields | None = None

    def operation_line(self, op: PollSummaryFields) -> str:
        name = OPERATION_NAMES.get(op.operation, op.operation)
        if op.achieved_interval_s is None:
            return f"{name}: fewer than two good samples ({op.ok_samples} of {op.samples})"
        why = f"; short: {', '.join(op.reasons)}" if op.short else ""
        latency = f", call latency median {fmt(op.latency_median_s)} s" if op.latency_median_s is not None else ""
        return (f"{name}: a sample every {fmt(op.achieved_interval_s)} s (median), longest gap "
                f"{fmt(op.max_gap_s)} s, target {fmt(op.target_interval_s)} s; {op.ok_samples} of "
                f"{op.samples} samples good, up to {op.in_flight_max} calls in flight{latency}{why}")

    def budget_line(self) -> str | None:
        b = self.budget
        if b is None:
            return None
        used = ", ".join(f"{k} {fmt(b.rate_per_s.get(k, 0.0))}/s of {fmt(b.allowed_rate_per_s.get(k, 0.0))}/s"
                         for k in BUDGET_KINDS)
        return (f"ARM budget: {used} (our share {fmt(b.share)} of ARM's buckets); "
                f"{b.throttled} answered 429; {b.held_back} requests waited {fmt(b.waited_s)} s in all")

    def lines(self) -> list[str]:
        out = [self.operation_line(op) for op in self.operations]
        budget = self.budget_line()
        return [*out, budget] if budget else out


def azure_polling(events: Sequence[Event]) -> AzurePolling | None:
    """The section's last poll summary per operation and last budget event; None without any."""
    last: dict[str, PollSummaryFields] = {}
    budget: BudgetFields | None = None
    for event in sorted(events, key=lambda e: (e.t, e.seq)):
        if isinstance(event, PollSummary):
            last[event.data.operation] = event.data
        elif isinstance(event, AzureBudget):
            budget = event.data
    if not last and budget is None:
        return None
    order = list(OPERATION_NAMES)
    ops = sorted(last.values(), key=lambda o: order.index(o.operation) if o.operation in order else len(order))
    return AzurePolling(operations=ops, budget=budget)

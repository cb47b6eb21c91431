"""Expectations (SLOs): one metric compared with a bound. Shared by playbooks and metrics.

Metric names (seconds are measured from t0, the fault action's acknowledgement, unless said):
  onprem_detection_s      on-prem BGP session to the failed peer leaves Established
  azure_detection_s       Azure's BGP peer for the failed tunnel leaves Connected
  routes_withdrawn_s      Azure learned routes lose the failed next hop for every on-prem prefix
  connection_detection_s  the failed tunnel's Azure connection leaves Connected
  max_outage_s            full convergence: the longest flow outage after t0
  min_outage_s            first convergence: the shortest outage among flows that had one
  total_lost_probes       lost probes, all flows, whole run
  flows_with_loss         flows with at least one loss episode after t0
  flows_without_loss      flows that never lost a probe
  failback_lost_probes    probes lost after the restore action
  failback_onprem_s       restore -> on-prem session Established again
  failback_azure_s        restore -> every Azure peer Connected again
  failback_routes_s       restore -> learned routes on all paths again
  azure_data_gap_s        longest time without an Azure sample (throttling, errors)
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

MetricName = Literal[
    "onprem_detection_s", "azure_detection_s", "routes_withdrawn_s", "connection_detection_s",
    "max_outage_s", "min_outage_s", "total_lost_probes", "flows_with_loss", "flows_without_loss",
    "failback_lost_probes", "failback_onprem_s", "failback_azure_s", "failback_routes_s",
    "azure_data_gap_s",
]


class Expectation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: MetricName
    max: float | None = None
    min: float | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _has_bound(self) -> Expectation:
        if self.max is None and self.min is None:
            raise ValueError("an expectation needs 'max' or 'min'")
        return self

"""report.json: the versioned model other tools read, and its JSON Schema.

The schema file report.schema.json beside this module is generated from `Report`; a test
checks that it matches. After changing the model, regenerate it with
`python -m failover_harness.reports.schema` and bump SCHEMA_VERSION when a reader could break
(removed or renamed fields, changed meaning); adding optional fields keeps the major version.
"""

from __future__ import annotations

import json
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from failover_harness.metrics import DataGap, FaultTarget, FlowMetrics, MetricValue, Verdict
from failover_harness.metrics.directions import DirectionSummary
from failover_harness.prediction import Prediction
from failover_harness.reports.azure_polling import AzurePolling
from failover_harness.reports.findings import Finding
from failover_harness.reports.repeat_model import RepeatSummary
from failover_harness.reports.vantage import VantageGroup

SCHEMA_VERSION: Literal["2.1"] = "2.1"
# Versions this model reads: a minor version only adds optional fields.
SchemaVersion = Literal["2.0", "2.1"]
SCHEMA_FILE = "report.schema.json"

# 2.0: verdict/section status "no_data" became "inconclusive" (the data could not decide);
# azure_gaps became data_gaps (per Azure operation and device poller); metrics say which
# estimate they are (`estimate`) and name the data gap their evidence falls in.
# 2.1: loss by direction: flows[].episodes[] carry forward_lost/return_lost (null for kinds
# that cannot tell), a section its `directions` (null without UDP flows); a section its
# `azure_polling` (the poller's achieved interval and budget used; null without Azure polling).
# 2.1 also (optional, absent before): repeated playbooks: run.iteration/iterations/tunnel/
# playbook_index, the report's `repeats` (per-iteration values, statistics, verdicts on
# statistics), verdicts[].statistic.
# 2.1 also: a section's `prediction` (null without one) and `findings`; the report's `findings`.
# 2.1 also: a section's `vantage_points` (flows by vantage point and source prefix, remote
# vantage points' clock offset/drift/uncertainty; null without SSH vantage points).
SectionStatus = Literal["passed", "failed", "inconclusive", "incomplete", "no_expectations"]


class RunInfo(BaseModel):
    """What the run was, from run_start / run_end."""

    run_id: str
    playbook: str | None = None
    playbook_digest: str | None = None
    inventory: str | None = None
    inventory_digest: str | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    operator: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_s: float | None = None
    status: str | None = Field(default=None, description="run_end status: completed|aborted|failed")
    reason: str | None = None
    playbook_index: int | None = Field(default=None, description="the playbook's place in "
                                       "the game-day (0-based)")
    iteration: int | None = Field(default=None, description="a repeated playbook: this "
                                  "section's iteration, 1-based (repeats)")
    iterations: int | None = Field(default=None, description="iterations the run asked for")
    tunnel: str | None = Field(default=None, description="device/interface the iteration "
                               "faulted")


class ActionMark(BaseModel):
    t: float
    kind: str
    subject: str
    action: str | None = None
    error: str | None = None


class EventsSummary(BaseModel):
    total: int
    counts: dict[str, int] = Field(description="events per 'source/kind'")
    first_t: float | None = None
    last_t: float | None = None
    azure_samples: int = 0
    azure_samples_failed: int = 0
    guard: list[str] = Field(default_factory=list, description="gate_failed / guard_tripped reasons")
    actions: list[ActionMark] = Field(default_factory=list)


class SectionReport(BaseModel):
    """One playbook of the game-day."""

    index: int
    run: RunInfo
    status: SectionStatus
    summary: str
    t_start: float
    t_end: float
    t0: float | None = Field(default=None, description="the fault's acknowledgement")
    fault_start: float | None = Field(default=None, description="when the fault command was "
                                      "sent: delays are measured from here")
    restore_t: float | None = None
    restore_start: float | None = Field(default=None, description="when the restore command "
                                        "was sent: failback delays are measured from here")
    fault: FaultTarget | None = None
    metrics: dict[str, MetricValue]
    verdicts: list[Verdict]
    flows: list[FlowMetrics]
    data_gaps: list[DataGap]
    notes: list[str] = Field(default_factory=list)
    events: EventsSummary
    directions: DirectionSummary | None = Field(
        default=None, description="loss by direction of the UDP flows after the fault (null "
        "without UDP flows; absent before schema 2.1)")
    azure_polling: AzurePolling | None = Field(default=None, description="the Azure poller's achieved "
                                               "sample interval per operation and request budget used")
    prediction: Prediction | None = Field(default=None, description="what the design predicted "
                                          "before the fault (prediction.py)")
    findings: list[Finding] = Field(default_factory=list, description="what the numbers mean, "
                                    "in words (reports/findings.py)")
    vantage_points: list[VantageGroup] | None = Field(
        default=None, description="flows grouped by vantage point and source prefix, with "
        "each remote vantage point's clock estimate (null without SSH vantage points)")


class Report(BaseModel):
    model_config = ConfigDict(title="failover-harness report")

    schema_version: SchemaVersion = SCHEMA_VERSION
    generator: str
    source: str = Field(description="the timeline file the report was rendered from")
    status: SectionStatus
    summary: str
    sections: list[SectionReport]
    repeats: list[RepeatSummary] = Field(default_factory=list, description="each repeated "
                                         "playbook: per-iteration values and statistics")
    findings: list[Finding] = Field(default_factory=list, description="findings across "
                                    "sections: the same fault on different tunnels (asymmetry.py)")


def report_json_schema() -> dict[str, Any]:
    schema = Report.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"failover-harness/report/{SCHEMA_VERSION}"
    return schema


def shipped_schema() -> dict[str, Any]:
    text = resources.files("failover_harness.reports").joinpath(SCHEMA_FILE).read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def schema_text() -> str:
    return json.dumps(report_json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    Path(__file__).with_name(SCHEMA_FILE).write_text(schema_text(), encoding="utf-8")

"""A playbook's `regression:` field: how many earlier runs make the baseline, and whether a
regression fails the run (exit 1) or is only flagged in the report."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_BASELINE_RUNS = 5


class RegressionPolicy(BaseModel):
    """`regression: {baseline_runs: 5, fail: true}`. Without the field, regressions against
    the last 5 runs are flagged in the report and never change the exit status."""

    model_config = ConfigDict(extra="forbid")

    baseline_runs: int = Field(default=DEFAULT_BASELINE_RUNS, ge=1, le=1000,
                               description="earlier runs of the same playbook and inventory "
                               "that make the baseline")
    fail: bool = Field(default=False, description="a regression fails the run (exit 1)")

"""The marker's expectation overrides: `@pytest.mark.failover(playbook, max_outage_s=5, ...)`
turned into the playbook's adjusted expectations (the rules are in the package docstring)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import get_args

import pytest
from pydantic import ValidationError

from failover_harness.expectations import Expectation, MetricName
from failover_harness.playbook import Playbook

METRICS: tuple[str, ...] = get_args(MetricName)
# Metrics where more is better: a bare number sets a min when the playbook has none.
MIN_METRICS = frozenset({"flows_without_loss"})


class OverrideError(ValueError):
    pass


def apply_overrides(playbook: Playbook, overrides: Mapping[str, object]) -> Playbook:
    """The playbook with its expectations adjusted (see the module docstring)."""
    expectations = list(playbook.expectations)
    for metric, value in overrides.items():
        if metric not in METRICS:
            raise OverrideError(f"unknown expectation override {metric!r}: expected one of "
                                f"{', '.join(METRICS)}")
        existing = [e for e in expectations if e.metric == metric]
        rest = [e for e in expectations if e.metric != metric]
        description = existing[0].description if existing else None
        if value is None:
            expectations = rest
            continue
        if isinstance(value, Mapping):
            unknown = set(value) - {"min", "max"}
            if unknown:
                raise OverrideError(f"override {metric}: only 'min' and 'max' (got "
                                    f"{', '.join(sorted(map(str, unknown)))})")
            bounds = {k: _bound(metric, v) for k, v in value.items() if v is not None}
        else:
            number = _number(metric, value)
            have = {b for e in existing for b in ("min", "max") if getattr(e, b) is not None}
            if have == {"min", "max"}:
                raise OverrideError(f"override {metric}: the playbook sets both min and max; "
                                    f"give {{'min': ..., 'max': ...}}")
            bound = have.pop() if have else ("min" if metric in MIN_METRICS else "max")
            bounds = {bound: number}
        try:
            new = Expectation.model_validate({"metric": metric, "description": description,
                                              **bounds})
        except ValidationError as exc:
            raise OverrideError(f"override {metric}: {exc.errors()[0]['msg']}") from exc
        expectations = [*rest, new]
    return playbook.model_copy(update={"expectations": expectations})


def _bound(metric: str, value: object) -> float | dict[str, float]:
    """A number, or bounds on statistics ({'p95': 5}: checked by Expectation)."""
    if isinstance(value, Mapping):
        return {str(k): _number(metric, v) for k, v in value.items()}
    return _number(metric, value)


def _number(metric: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise OverrideError(f"override {metric}: expected a number, None or "
                            f"{{'min': ..., 'max': ...}}, got {value!r}")
    return float(value)


def marker_playbook(marker: pytest.Mark) -> tuple[str | Path | Playbook | None, dict[str, object]]:
    kwargs = dict(marker.kwargs)
    if len(marker.args) > 1:
        raise OverrideError("@pytest.mark.failover takes at most one positional argument "
                            "(the playbook)")
    playbook = kwargs.pop("playbook", marker.args[0] if marker.args else None)
    if playbook is not None and not isinstance(playbook, (str, Path, Playbook)):
        raise OverrideError(f"playbook must be a path or a Playbook, got {playbook!r}")
    return playbook, kwargs

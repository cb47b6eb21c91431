"""The matrix as a Markdown table (for the README) and as JSON."""

from __future__ import annotations

import json

from failover_harness.matrix.results import CellResult, Figure

HEADER = ("| cell | design (lab flags) | fault | claim | outage s [interval] (estimate) "
          "| on-prem detection s | Azure detection s | failback lost probes | verdict "
          "| measured |\n|---|---|---|---|---|---|---|---|---|---|")


def _flags(lab: dict[str, object]) -> str:
    if not lab:
        return "defaults"
    return " ".join(f"--{k.replace('_', '-')}" if v is True else f"--{k.replace('_', '-')} {v}"
                    for k, v in lab.items())


def _cell(figure: Figure | None, estimate: bool = False) -> str:
    if figure is None:
        return "n/a"
    if figure.value is None:
        return f"n/a ({figure.reason})" if figure.reason else "n/a"
    return figure.text() + (f" ({figure.estimate})" if estimate and figure.estimate else "")


def markdown(results: list[CellResult]) -> str:
    rows = [HEADER]
    for r in results:
        f = r.figures
        verdict = r.status if not r.why else f"{r.status}: {r.why}"
        rows.append(" | ".join([
            f"| {r.cell}", f"{r.design} (`{_flags(r.lab)}`)", r.fault, r.claim or "",
            _cell(f.get("max_outage_s"), estimate=True), _cell(f.get("onprem_detection_s")),
            _cell(f.get("azure_detection_s")), _cell(f.get("failback_lost_probes")),
            verdict, r.measured_at.replace("+00:00", "Z")]) + " |")
    return "\n".join(rows) + "\n"


def as_json(results: list[CellResult]) -> str:
    return json.dumps({"cells": [r.model_dump(mode="json") for r in results]}, indent=2) + "\n"

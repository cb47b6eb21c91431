"""The matrix file (validated like the others: file:line:field), a cell's figures read from
its report.json, and the Markdown/JSON tables."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from failover_harness.cli import app
from failover_harness.errors import InputError
from failover_harness.matrix.model import load_matrix
from failover_harness.matrix.results import cell_result
from failover_harness.matrix.table import as_json, markdown

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "matrices" / "lab-designs.yaml"
CELL = """name: m
cells:
  - name: one
    design: d
    fault: f
    lab: {timers: tuned}
    playbook: %s
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "matrix.yaml"
    path.write_text(text)
    return path


def test_the_shipped_matrices_validate() -> None:
    matrix = load_matrix(SHIPPED)
    names = [c.name for c in matrix.cells]
    assert {"aa-ecmp-azure-timers", "tuned-prepend", "bfd", "two-isps-link-down",
            "dual-router-down", "active-standby-reset"} <= set(names)
    assert matrix.cells[0].lab.timers == "azure-default"
    assert all(matrix.playbook_path(c).is_file() for c in matrix.cells)
    assert len(load_matrix(ROOT / "tests" / "data" / "matrices" / "quick.yaml").cells) == 2


def test_bad_lab_option_names_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, (CELL % (ROOT / "playbooks" / "tunnel1-failover.yaml"))
                 .replace("timers: tuned", "timers: slow"))
    result = CliRunner().invoke(app, ["matrix", str(path), "--validate"])
    assert result.exit_code == 2, result.output
    assert f"{path}:6" in result.output and "timers" in result.output, result.output


def test_missing_playbook_and_duplicate_cell(tmp_path: Path) -> None:
    text = CELL % "nowhere.yaml"
    path = write(tmp_path, text + text.split("cells:\n", 1)[1])
    with pytest.raises(InputError) as info:
        load_matrix(path)
    message = str(info.value)
    assert f"{path}:7" in message and "no playbook" in message, message
    assert "listed 2 times" in message, message


def test_a_bad_playbook_is_named_by_its_own_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "playbooks" / "tunnel1-failover.yaml").read_text()
                   .replace("action: hold", "action: nap", 1))
    with pytest.raises(InputError) as info:
        load_matrix(write(tmp_path, CELL % "bad.yaml"))
    line = next(i for i, t in enumerate(bad.read_text().splitlines(), 1) if "action: nap" in t)
    assert f"{bad}:{line}" in str(info.value) and "method[3].action" in str(info.value)


def test_only_names_unknown_cells() -> None:
    matrix = load_matrix(SHIPPED)
    assert [c.name for c in matrix.only(["bfd"])] == ["bfd"]
    with pytest.raises(InputError, match="no cell nope"):
        matrix.only(["nope"])


def metric(value: float, lo: float, hi: float, estimate: str) -> dict[str, object]:
    return {"available": True, "value": value, "lo": lo, "hi": hi, "estimate": estimate,
            "censored": False}


def test_cell_figures_come_from_the_report_with_interval_and_estimate(tmp_path: Path) -> None:
    matrix = load_matrix(SHIPPED)
    cell = matrix.only(["bfd"])[0]
    run = tmp_path / "run"
    run.mkdir()
    (run / "report.json").write_text(json.dumps({"status": "passed", "sections": [{"metrics": {
        "max_outage_s": metric(0.38, 0.37, 0.39, "loss_period"),
        "onprem_detection_s": metric(0.3, 0.2, 0.3, "upper_edge"),
        "azure_detection_s": {"available": False, "reason": "no Azure samples"},
    }}]}))
    when = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)
    result = cell_result(cell, when, 0, run)
    assert result.status == "passed" and result.lab == {"bfd": True}
    assert result.figures["max_outage_s"].text() == "0.38 [0.37, 0.39]"
    table = markdown([result])
    row = table.splitlines()[2]
    assert row.startswith("| bfd | active-active ECMP, BFD 100 ms x 3 (`--bfd`) |")
    assert "0.38 [0.37, 0.39] (loss_period)" in row
    assert "n/a (no Azure samples)" in row and "n/a (not in the report)" in row
    assert row.endswith("| passed | 2026-12-02T18:00:00Z |")
    assert json.loads(as_json([result]))["cells"][0]["figures"]["max_outage_s"]["hi"] == 0.39


def test_a_cell_without_a_report_says_why(tmp_path: Path) -> None:
    cell = load_matrix(SHIPPED).cells[0]
    result = cell_result(cell, datetime.now(UTC), 2, tmp_path / "run")
    assert result.status == "error" and "no report (exit 2" in (result.why or "")
    assert "error: no report" in markdown([result])
    assert "`--timers azure-default`" in markdown([result])

"""The playbook's `regression:` field: validated with file, line and field; carried into the
run's run_start so a re-render of the run applies the same policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from failover_harness.errors import InputError
from failover_harness.history.policy import RegressionPolicy
from failover_harness.inventory import load_inventory
from failover_harness.playbook import load_playbook
from failover_harness.yamlfile import InputErrors
from tests.unit.orchestrator_fakes import EVERY_KIND, World, playbook, run

ROOT = Path(__file__).resolve().parents[2]
T1_TEXT = (ROOT / "playbooks" / "tunnel1-failover.yaml").read_text()
LAB = load_inventory(ROOT / "inventories" / "lab.yaml")


def _with(tmp_path: Path, block: str) -> Path:
    path = tmp_path / "pb.yaml"
    path.write_text(T1_TEXT + block)
    return path


def test_regression_field_loads(tmp_path: Path) -> None:
    pb = load_playbook(_with(tmp_path, "regression:\n  baseline_runs: 3\n  fail: true\n"), LAB)
    assert pb.regression == RegressionPolicy(baseline_runs=3, fail=True)
    assert load_playbook(ROOT / "playbooks" / "tunnel1-failover.yaml", LAB).regression is None


@pytest.mark.parametrize(("block", "field", "words"), [
    ("regression:\n  baseline_runs: 0\n", "regression.baseline_runs", "greater than or equal to 1"),
    ("regression:\n  baseline: 5\n", "regression.baseline", "unknown field"),
    ("regression:\n  fail: maybe\n", "regression.fail", "boolean"),
])
def test_a_bad_regression_field_names_file_line_field(tmp_path: Path, block: str, field: str,
                                                      words: str) -> None:
    path = _with(tmp_path, block)
    with pytest.raises(InputError) as info:
        load_playbook(path, LAB)
    errors = info.value.errors if isinstance(info.value, InputErrors) else [info.value]
    [err] = [e for e in errors if e.field == field]
    line = len(T1_TEXT.splitlines()) + 2  # the line under `regression:`
    assert err.file == str(path) and err.line == line, str(err)
    assert words in str(err)


def test_the_run_records_the_policy_in_run_start(tmp_path: Path) -> None:
    pb = playbook(EVERY_KIND[:6], regression={"baseline_runs": 2, "fail": True})
    result = run(World(), pb, tmp_path)
    lines = (result.run_dir / "timeline.jsonl").read_text().splitlines()
    start = next(json.loads(line) for line in lines if '"run_start"' in line)
    assert start["data"]["regression"] == {"baseline_runs": 2, "fail": True}

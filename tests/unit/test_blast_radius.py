"""A playbook that would cut every path between its vantage point and its targets is refused
by `validate` and `run` (exit 2, file:line:field), unless it says allow_total_outage: true,
which only a lab inventory accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from failover_harness.cli import app
from failover_harness.errors import InputError
from failover_harness.orchestrator.gameday import run_gameday
from tests.unit.orchestrator_fakes import FAST, INVENTORY_PATH, playbook
from tests.unit.test_cli import UNTOUCHABLE

HEAD = """name: cut-everything
probes: {from: onprem-host, to: [vm1]}
method:
  - action: baseline
    seconds: 1
"""
SHUT_T1 = """  - action: shut_interface
    device: edge1
    interface: Tunnel1
"""
SHUT_T2 = """  - action: shut_interface
    device: edge1
    interface: Tunnel2
"""
SHUT_T2_BY_NEIGHBOR = """  - action: shut_neighbor
    device: edge1
    neighbor: 169.254.21.5
"""
RESTORE_T1 = """  - action: no_shut_interface
    device: edge1
    interface: Tunnel1
"""


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), obj=UNTOUCHABLE)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, " ".join(result.output.split())  # rich wraps long lines


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "playbook.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("second", [SHUT_T2, SHUT_T2_BY_NEIGHBOR], ids=["interface", "neighbor"])
def test_shutting_every_tunnel_is_refused_by_validate_and_run(tmp_path: Path,
                                                             second: str) -> None:
    path = write(tmp_path, HEAD + SHUT_T1 + second)
    line = len((HEAD + SHUT_T1).splitlines()) + 1  # the second shut's first line
    for command in (["validate", str(path), "-i", str(INVENTORY_PATH)],
                    ["run", str(path), "-i", str(INVENTORY_PATH), "--reports",
                     str(tmp_path / "reports"), "--no-live"]):
        code, output = invoke(*command)
        assert code == 2, output
        assert f"{path}:{line}" in output and "method[2]" in output
        assert "edge1 Tunnel1, edge1 Tunnel2 are every path" in output
        assert "allow_total_outage: true" in output
    assert not (tmp_path / "reports").exists()


def test_one_tunnel_at_a_time_is_fine(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + SHUT_T1 + RESTORE_T1 + SHUT_T2)
    code, output = invoke("validate", str(path), "-i", str(INVENTORY_PATH))
    assert code == 0, output


def test_allow_total_outage_only_against_a_lab(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + SHUT_T1 + SHUT_T2 + "allow_total_outage: true\n")
    code, output = invoke("validate", str(path), "-i", str(INVENTORY_PATH))
    assert code == 0, output
    production = tmp_path / "prod.yaml"
    production.write_text(INVENTORY_PATH.read_text().replace("https://127.0.0.1:18443",
                                                             "https://arm.example"))
    code, output = invoke("validate", str(path), "-i", str(production))
    assert code == 2 and "allow_total_outage" in output and "only against a lab" in output
    line = (HEAD + SHUT_T1 + SHUT_T2).count("\n") + 1
    assert f"{path}:{line}" in output


def test_a_playbook_built_in_memory_is_checked_by_run(tmp_path: Path) -> None:
    """The pytest plugin hands run_gameday models (overrides applied), not files."""
    pb = playbook([{"action": "shut_interface", "device": "edge1", "interface": "Tunnel1"},
                   {"action": "shut_neighbor", "device": "edge1", "neighbor": "169.254.21.5"}])
    with pytest.raises(InputError, match=r"method\[1\].*every path"):
        run_gameday(INVENTORY_PATH, [pb], FAST.model_copy(update={"reports_root": tmp_path}),
                    parts=UNTOUCHABLE)

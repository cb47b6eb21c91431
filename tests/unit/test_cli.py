"""The command line: bad input exits 2 with a message naming the file, never a traceback,
and no device or Azure API is touched; --dry-run prints the plan and touches nothing."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from failover_harness.cli import app
from failover_harness.errors import InputError
from failover_harness.inventory import load_inventory
from failover_harness.orchestrator.parts import Parts
from failover_harness.playbook import load_playbook

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "inventories" / "lab.yaml"
PLAYBOOK = ROOT / "playbooks" / "tunnel1-failover.yaml"
TOKENS = ["", "x", "- ", ": ", "Tunnel9", "edge9", "-1", "[]", "{}", "'", "\t", "shut_interface",
          "169.254.99.1", "null", "action: explode", "metric: outage", "*a", "&a"]


class Touched(Exception):
    pass


def touched(*_a: object, **_k: object) -> NoReturn:
    raise Touched("a device, Azure, the probes or the routing table was contacted")


# Any attempt to reach a device or Azure fails the test loudly.
UNTOUCHABLE = Parts(device=touched, azure_poller=touched, probe_monitor=touched,
                    route_source=touched, azure_design=touched)


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), obj=UNTOUCHABLE)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def mutate(text: str, line: int, token: str, drop: bool) -> str:
    lines = text.splitlines()
    line %= len(lines)
    if drop:
        del lines[line]
    else:
        cut = len(lines[line]) // 2
        lines[line] = lines[line][:cut] + token + lines[line][cut:]
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(which=st.sampled_from(["inventory", "playbook"]), line=st.integers(0, 200),
       token=st.sampled_from(TOKENS), drop=st.booleans())
def test_fuzzed_input_exits_2_with_a_message(tmp_path: Path, which: str, line: int, token: str,
                                             drop: bool) -> None:
    inventory, playbook = tmp_path / "inventory.yaml", tmp_path / "playbook.yaml"
    inv_text, pb_text = INVENTORY.read_text(), PLAYBOOK.read_text()
    if which == "inventory":
        inv_text = mutate(inv_text, line, token, drop)
    else:
        pb_text = mutate(pb_text, line, token, drop)
    inventory.write_text(inv_text)
    playbook.write_text(pb_text)
    try:  # only mutations that really break the files are of interest here
        load_playbook(playbook, load_inventory(inventory))
        assume(False)
    except InputError:
        pass
    code, output = invoke("run", str(playbook), "-i", str(inventory), "--reports",
                          str(tmp_path / "reports"), "--no-live")
    assert code == 2, output
    assert "Traceback" not in output
    assert "error:" in output and str(tmp_path) in output
    assert not (tmp_path / "reports").exists(), "a run directory was made for bad input"


# Playbooks for another lab design than the default one, with the inventory of that design.
OTHER_DESIGN = {"isp1-link-down.yaml": "lab-isps.yaml", "router-down.yaml": "lab-dual.yaml"}


def test_validate_the_shipped_files() -> None:
    playbooks = sorted(str(p) for p in (ROOT / "playbooks").glob("*.yaml")
                       if p.name not in OTHER_DESIGN)
    code, output = invoke("validate", *playbooks, "-i", str(INVENTORY))
    assert code == 0, output
    assert output.count(": ok") == len(playbooks) + 1
    for name, inventory in OTHER_DESIGN.items():
        code, output = invoke("validate", str(ROOT / "playbooks" / name),
                              "-i", str(ROOT / "inventories" / inventory))
        assert code == 0, output


def test_a_link_down_names_an_uplink_a_tunnel_leaves_by(tmp_path: Path) -> None:
    """link_down of an interface no tunnel leaves by: file:line:field, the uplinks it has."""
    path = tmp_path / "isp.yaml"
    path.write_text((ROOT / "playbooks" / "isp1-link-down.yaml").read_text()
                    .replace("interface: wan0", "interface: wan7"))
    code, output = invoke("validate", str(path), "-i", str(ROOT / "inventories" / "lab-isps.yaml"))
    assert code == 2, output
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1)
                if "interface: wan7" in text)
    assert f"{path}:{line}" in output and "underlay_interface" in output, output
    assert "wan0, wan1" in output or "wan0" in output, output


def test_cutting_every_tunnel_by_their_uplink_is_refused() -> None:
    """On the one-ISP lab wan0 carries both tunnels: link_down of it cuts every path."""
    code, output = invoke("validate", str(ROOT / "playbooks" / "isp1-link-down.yaml"),
                          "-i", str(INVENTORY))
    assert code == 2, output
    assert "leaves no tunnel up" in output, output


def test_validate_names_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(PLAYBOOK.read_text().replace("interface: Tunnel1\n", "interface: Tunnel9\n", 1))
    code, output = invoke("validate", str(bad), "-i", str(INVENTORY))
    assert code == 2
    line = next(i for i, text in enumerate(bad.read_text().splitlines(), 1) if "Tunnel9" in text)
    assert f"{bad}:{line}" in output and "interface" in output and "Tunnel9" in output


def test_dry_run_prints_every_command_and_call_and_touches_nothing(tmp_path: Path) -> None:
    code, output = invoke("run", str(PLAYBOOK), "-i", str(INVENTORY), "--dry-run",
                          "--reports", str(tmp_path / "reports"))
    assert code == 0, output
    assert "interface Tunnel1 / shutdown" in output
    assert "interface Tunnel1 / no shutdown" in output
    assert "getBgpPeerStatus" in output and "getLearnedRoutes" in output
    assert "connections/cn-edge1-t1" in output
    assert not (tmp_path / "reports").exists()


def test_skipping_the_gate_is_refused_outside_a_lab(tmp_path: Path) -> None:
    production = tmp_path / "prod.yaml"
    text = INVENTORY.read_text()
    kept = [line for line in text.splitlines()
            if not line.strip().startswith(("base_url", "ca_bundle"))]
    production.write_text("\n".join(kept) + "\n")
    code, output = invoke("run", str(PLAYBOOK), "-i", str(production), "--unsafe-skip-gate",
                          "--reports", str(tmp_path / "reports"), "--no-live")
    assert code == 2, output
    assert "only" in output and "lab" in output


def test_bench_refuses_an_unknown_engine_before_touching_anything() -> None:
    result = CliRunner().invoke(app, ["bench", "--kinds", "icmp,sctp"])
    assert result.exit_code == 2
    assert "unknown probe kind sctp" in result.output and "icmp, tcp, udp" in result.output


def test_reflect_refuses_a_port_it_cannot_have() -> None:
    result = CliRunner().invoke(app, ["reflect", "--port", "70000"])
    assert result.exit_code == 2 and "--port" in result.output and "65535" in result.output


def test_bench_calibration_without_a_lab_says_how_to_bring_one_up() -> None:
    code, output = invoke("bench", "--calibration", "--prefix", "fhnolab0")
    assert code != 0 and "Traceback" not in output
    assert "no lab 'fhnolab0' here" in output and "lab up --prefix fhnolab0" in output

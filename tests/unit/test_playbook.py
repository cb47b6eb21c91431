"""Playbook loading: shipped files validate; names are checked against the inventory; errors
name file, line and field; every fault has an inverse for automatic rollback."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from failover_harness.errors import EXIT_BAD_INPUT, InputError
from failover_harness.inventory import Inventory, load_inventory
from failover_harness.playbook import (
    NoShutInterface,
    NoShutNeighbor,
    Playbook,
    ResetAzureInstance,
    ShutInterface,
    ShutNeighbor,
    WaitUntil,
    load_playbook,
    validate,
)
from failover_harness.yamlfile import InputErrors

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "inventories" / "lab.yaml"
T1 = ROOT / "playbooks" / "tunnel1-failover.yaml"
T1_TEXT = T1.read_text()
PLAYBOOKS = sorted((ROOT / "playbooks").glob("*.yaml"))
INVENTORIES = sorted((ROOT / "inventories").glob("*.yaml"))


@pytest.fixture(scope="module")
def lab() -> Inventory:
    return load_inventory(LAB)


def line_of(text: str, needle: str, after: str | None = None) -> int:
    lines = text.splitlines()
    start = 0
    if after is not None:
        start = next(i for i, line in enumerate(lines) if after in line)
    for number in range(start, len(lines)):
        if needle in lines[number]:
            return number + 1
    raise AssertionError(f"{needle!r} not in text")


def errors_of(path: Path, inventory: Inventory | None) -> list[InputError]:
    with pytest.raises(InputError) as info:
        load_playbook(path, inventory)
    err = info.value
    assert err.exit_code == EXIT_BAD_INPUT
    return err.errors if isinstance(err, InputErrors) else [err]


def one_error(path: Path, inventory: Inventory | None, field: str) -> InputError:
    found = [e for e in errors_of(path, inventory) if e.field == field]
    assert found, f"no error at {field}: {errors_of(path, inventory)}"
    return found[0]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pb.yaml"
    path.write_text(text)
    return path


# Playbooks of one lab design only: an uplink down on the one-ISP lab cuts every path.
FOR_DESIGN = {"isp1-link-down.yaml": "lab-isps.yaml", "router-down.yaml": "lab-dual.yaml"}
PAIRS = [(inv, pb) for pb in PLAYBOOKS for inv in INVENTORIES
         if FOR_DESIGN.get(pb.name, inv.name) == inv.name]


@pytest.mark.parametrize(("inventory", "playbook"), PAIRS,
                         ids=lambda p: p.name if isinstance(p, Path) else str(p))
def test_shipped_playbooks_validate(inventory: Path, playbook: Path) -> None:
    inv = load_inventory(inventory)
    pb = load_playbook(playbook, inv)
    assert pb.digest == hashlib.sha256(playbook.read_bytes()).hexdigest()
    assert pb.steady_state and pb.expectations


def test_seed_playbooks_are_what_the_seeds_test(lab: Inventory) -> None:
    t1 = load_playbook(T1, lab)
    assert t1.probes.from_ == "onprem-host" and t1.probes.interval_ms == 10
    assert [f.model_dump() for f in t1.faults()] == [
        {"action": "shut_interface", "device": "edge1", "interface": "Tunnel1"}]
    t2 = load_playbook(ROOT / "playbooks" / "tunnel2-failover.yaml", lab)
    assert [getattr(f, "interface", None) for f in t2.faults()] == ["Tunnel2"]
    bfd = load_playbook(ROOT / "playbooks" / "tunnel1-failover-bfd.yaml", lab)
    bounds = {e.metric: e.max for e in bfd.expectations}
    plain = {e.metric: e.max for e in t1.expectations}
    assert bounds["max_outage_s"] is not None and plain["max_outage_s"] is not None
    assert bounds["max_outage_s"] < plain["max_outage_s"]
    pre = load_playbook(ROOT / "playbooks" / "precheck.yaml", lab)
    assert pre.faults() == [] and pre.restore_plan() == []


def test_unknown_interface_message(tmp_path: Path, lab: Inventory) -> None:
    text = T1_TEXT.replace("interface: Tunnel1", "interface: Tunnel9", 1)
    path = write(tmp_path, text)
    err = one_error(path, lab, "method[1].interface")
    line = line_of(text, "Tunnel9")
    assert str(err) == (f"{path}:{line}: field 'method[1].interface': unknown interface "
                        "'Tunnel9' on device edge1 (has Tunnel1, Tunnel2)")


def test_without_inventory_names_are_not_checked(tmp_path: Path) -> None:
    path = write(tmp_path, T1_TEXT.replace("interface: Tunnel1", "interface: Tunnel9", 1))
    assert load_playbook(path).method[1] == ShutInterface(action="shut_interface", device="edge1",
                                                          interface="Tunnel9")


@pytest.mark.parametrize(("old", "new", "field", "words"), [
    ("from: onprem-host", "from: dc-host", "probes.from", "unknown vantage point 'dc-host'"),
    ("to: [vm1]", "to: [vm2]", "probes.to[0]", "unknown target 'vm2' (has vm1)"),
    ("    device: edge1\n    interface: Tunnel1", "    device: edge9\n    interface: Tunnel1",
     "method[1].device", "unknown device 'edge9' (has edge1)"),
    ("  - check: onprem_bgp_established\n    device: edge1",
     "  - check: onprem_bgp_established\n    device: edge7", "steady_state[0].device",
     "unknown device 'edge7'"),
    ("    peer: 169.254.21.2", "    peer: 169.254.21.99", "method[2].peer",
     "169.254.21.99 is not an address of any tunnel's BGP session"),
    ("    prefix: 192.168.10.0/24", "    prefix: 192.168.99.0/24", "steady_state[2].prefix",
     "not in the inventory's prefixes"),
])
def test_names_checked_against_inventory(tmp_path: Path, lab: Inventory, old: str, new: str,
                                         field: str, words: str) -> None:
    assert old in T1_TEXT
    text = T1_TEXT.replace(old, new, 1)
    path = write(tmp_path, text)
    err = one_error(path, lab, field)
    assert words in str(err)
    changed = next(n for n, o in zip(new.splitlines(), old.splitlines()) if n != o)
    assert err.line == line_of(text, changed.strip())


def test_tcp_probes_need_tcp_ports(tmp_path: Path) -> None:
    inv_text = LAB.read_text().replace("tcp_ports: [443]", "tcp_ports: []")
    (tmp_path / "inv.yaml").write_text(inv_text)
    inv = load_inventory(tmp_path / "inv.yaml")
    err = one_error(T1, inv, "probes.to[0]")
    assert "no tcp_ports" in str(err)


def test_udp_probes_need_a_reflector(tmp_path: Path) -> None:
    inv_text = LAB.read_text().replace("    reflector_port: 8620\n", "")
    (tmp_path / "inv.yaml").write_text(inv_text)
    inv = load_inventory(tmp_path / "inv.yaml")
    err = one_error(T1, inv, "probes.to[0]")
    assert "no reflector_port" in str(err) and "failover-harness reflect" in str(err)


def test_probe_timeouts_per_kind_reach_the_flows(tmp_path: Path, lab: Inventory) -> None:
    """The playbook's timeouts, else each kind's own default (none is overridden by another
    kind's): what flows.py documents is what the worker gets."""
    from failover_harness.orchestrator.components import probe_flows
    from failover_harness.probes.flows import DEFAULT_TIMEOUT_S

    def timeouts(extra: str) -> dict[str, float]:
        text = T1.read_text().replace("  interval_ms: 10\n", "  interval_ms: 10\n" + extra)
        flows, _netns = probe_flows(lab, load_playbook(write(tmp_path, text), lab))
        return {f.kind: f.timeout_s for f in flows}

    assert timeouts("") == DEFAULT_TIMEOUT_S
    assert len(set(DEFAULT_TIMEOUT_S.values())) > 1  # else the line above shows nothing
    assert timeouts("  timeout_ms: 700\n") == {"icmp": 0.7, "tcp": 0.7, "udp": 0.7}
    assert timeouts("  timeouts_ms: {tcp: 300}\n") == {**DEFAULT_TIMEOUT_S, "tcp": 0.3}
    assert timeouts("  timeout_ms: 700\n  timeouts_ms: {udp: 200}\n") == {
        "icmp": 0.7, "tcp": 0.7, "udp": 0.2}


@pytest.mark.parametrize(("old", "new", "field", "words"), [
    ("action: hold", "action: sleep", "method[3].action", "'action' must be one of"),
    ("check: no_loss", "check: no_losses", "steady_state[3].check", "no_losses"),
    ("metric: max_outage_s", "metric: max_outage", "expectations[3].metric", "max_outage"),
    ("kinds: [icmp, tcp, udp]", "kinds: [icmp, sctp]", "probes.kinds[1]", "got 'sctp'"),
    ("kinds: [icmp, tcp, udp]", "kinds: [icmp, icmp]", "probes.kinds", "listed twice"),
    ("interval_ms: 10", "interval_ms: 0", "probes.interval_ms", "greater than or equal to 1"),
    ("flows: 8", "flows: eight", "probes.flows", "valid integer"),
    ("    timeout_s: 60\n  - action: hold", "    timeout_s: .inf\n  - action: hold",
     "method[2].timeout_s", "finite"),
    ("    condition: azure_peer_down\n    peer: 169.254.21.2",
     "    condition: azure_peer_down", "method[2].peer", "required for condition 'azure_peer_down'"),
    ("    condition: all_peers_up", "    condition: all_peers_up\n    peer: 169.254.21.2",
     "method[5].peer", "not allowed for condition 'all_peers_up'"),
    ("    condition: all_peers_up", "    condition: all_peers_up\n    seconds: 3",
     "method[5].seconds", "only no_loss"),
    ("    condition: azure_peer_down", "    condition: azure_peer_gone", "method[2].condition",
     "azure_peer_gone"),
    ("  - metric: failback_lost_probes   # loss caused by restoring the tunnel\n    max: 0",
     "  - metric: failback_lost_probes\n    mxa: 0", "expectations[4].mxa", "did you mean 'max'"),
    ("description: Shut Tunnel1", "descripton: Shut Tunnel1", "descripton", "did you mean"),
    ("name: tunnel1-failover", "name: ''", "name", "at least 1 character"),
])
def test_shape_errors(tmp_path: Path, lab: Inventory, old: str, new: str, field: str,
                      words: str) -> None:
    assert old in T1_TEXT, old
    text = T1_TEXT.replace(old, new, 1)
    path = write(tmp_path, text)
    err = one_error(path, lab, field)
    assert words in str(err), str(err)
    assert err.file == str(path) and err.line is not None
    assert str(err).startswith(f"{path}:{err.line}: field '{field}': ")


def test_missing_peer_points_at_the_step(tmp_path: Path, lab: Inventory) -> None:
    text = T1_TEXT.replace("    condition: azure_peer_down\n    peer: 169.254.21.2",
                           "    condition: azure_peer_down")
    path = write(tmp_path, text)
    err = one_error(path, lab, "method[2].peer")
    assert err.line == line_of(text, "action: wait_until")


def test_expectation_needs_a_bound(tmp_path: Path) -> None:
    text = T1_TEXT.replace("  - metric: failback_lost_probes   # loss caused by restoring the "
                           "tunnel\n    max: 0", "  - metric: failback_lost_probes")
    path = write(tmp_path, text)
    err = one_error(path, None, "expectations[4]")
    assert "needs 'max' or 'min'" in str(err)
    assert err.line == line_of(text, "metric: failback_lost_probes")


def test_rollbacks_cannot_inject_faults(tmp_path: Path) -> None:
    text = T1_TEXT.replace("rollbacks:                   # always run, in order, however the "
                           "method ended\n  - action: no_shut_interface",
                           "rollbacks:\n  - action: shut_interface")
    path = write(tmp_path, text)
    err = one_error(path, None, "rollbacks[0].action")
    assert "rollbacks only restore" in str(err)
    assert err.line == line_of(text, "action: shut_interface", after="rollbacks:")


def test_double_shut_is_refused(tmp_path: Path) -> None:
    text = T1_TEXT.replace("  - action: hold\n    seconds: 5\n  - action: no_shut_interface",
                           "  - action: shut_interface\n    device: edge1\n    interface: Tunnel1"
                           "\n  - action: no_shut_interface", 1)
    err = one_error(write(tmp_path, text), None, "method[3]")
    assert "already shut" in str(err)


def test_duplicate_bounds_and_inverted_bounds(tmp_path: Path) -> None:
    text = T1_TEXT + "  - metric: max_outage_s\n    max: 9\n  - metric: min_outage_s\n" \
                     "    min: 5\n    max: 1\n"
    errors = errors_of(write(tmp_path, text), None)
    assert {e.field for e in errors} == {"expectations[5].max", "expectations[6].min"}


def test_yaml_errors_in_playbooks(tmp_path: Path) -> None:
    path = write(tmp_path, T1_TEXT.replace("  - action: baseline", "  - action: baseline\n - x"))
    err = errors_of(path, None)[0]
    assert "YAML syntax error" in str(err) and err.line is not None


def test_restore_plan_adds_missing_inverses() -> None:
    pb = load_playbook(T1)
    # The playbook's own rollback already restores Tunnel1: nothing is added.
    assert pb.restore_plan() == [NoShutInterface(action="no_shut_interface", device="edge1",
                                                 interface="Tunnel1")]
    forgetful = pb.model_copy(update={"rollbacks": []})
    assert forgetful.restore_plan() == pb.restore_plan()
    assert forgetful.restore_plan(executed=pb.method[:1]) == []  # only the baseline ran


def test_restore_plan_latest_fault_first() -> None:
    data = {
        "name": "x", "probes": {"from": "onprem-host", "to": ["vm1"]},
        "method": [
            {"action": "shut_neighbor", "device": "edge1", "neighbor": "169.254.21.1"},
            {"action": "shut_interface", "device": "edge1", "interface": "Tunnel2"},
            {"action": "reset_azure_instance", "instance": 0},
        ],
        "rollbacks": [{"action": "hold", "seconds": 1}],
    }
    pb = Playbook.model_validate(data)
    plan = pb.restore_plan()
    assert [s.action for s in plan] == ["hold", "wait_until", "no_shut_interface",
                                        "no_shut_neighbor"]
    assert isinstance(plan[1], WaitUntil) and plan[1].condition == "all_peers_up"
    assert plan[3] == NoShutNeighbor(action="no_shut_neighbor", device="edge1",
                                     neighbor="169.254.21.1")  # type: ignore[arg-type]
    assert isinstance(pb.method[0], ShutNeighbor) and isinstance(pb.method[2], ResetAzureInstance)


def test_validate_summarizes_and_collects_every_error(tmp_path: Path) -> None:
    lines = validate(LAB, [T1, ROOT / "playbooks" / "precheck.yaml"])
    assert len(lines) == 3
    assert lines[0].startswith(f"{LAB}: ok - 1 device, 2 tunnels")
    assert "shut_interface edge1 Tunnel1" in lines[1] and "no faults" in lines[2]

    bad1 = tmp_path / "a.yaml"
    bad1.write_text(T1_TEXT.replace("interface: Tunnel1", "interface: Tunnel9", 1))
    bad2 = tmp_path / "b.yaml"
    bad2.write_text("name: [")
    with pytest.raises(InputErrors) as info:
        validate(LAB, [bad1, T1, bad2, tmp_path / "missing.yaml"])
    files = [e.file for e in info.value.errors]
    assert files == [str(bad1), str(bad2), str(tmp_path / "missing.yaml")]
    assert info.value.exit_code == EXIT_BAD_INPUT


def test_validate_reports_a_bad_inventory_and_still_reads_playbooks(tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text(LAB.read_text().replace("platform: frr", "platform: nope"))
    bad = tmp_path / "pb.yaml"
    bad.write_text(T1_TEXT.replace("action: hold", "action: nap", 1))
    with pytest.raises(InputErrors) as info:
        validate(inv, [bad])
    assert [e.file for e in info.value.errors] == [str(inv), str(bad)]

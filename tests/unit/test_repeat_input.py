"""`repeat:` and expectations on statistics in playbook files: what parses, and every bad
input named by file, line and field (nothing runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from failover_harness.inventory import Inventory, load_inventory
from failover_harness.playbook import Playbook, iterations, load_playbook
from failover_harness.playbook.repeat import mirrored
from tests.unit.test_playbook import LAB, T1_TEXT, errors_of, line_of, one_error, write

EXPECT = "expectations:\n"


@pytest.fixture(scope="module")
def lab() -> Inventory:
    return load_inventory(LAB)


def with_repeat(text: str) -> str:
    return T1_TEXT.replace("\nmethod:", f"\n{text}\nmethod:", 1)


def test_a_repeat_and_bounds_on_statistics_parse(tmp_path: Path, lab: Inventory) -> None:
    text = with_repeat("repeat: {count: 5, alternate: [Tunnel1, Tunnel2], steady_timeout_s: 30}")
    text = text.replace("    max: 5\n", "    max: {p95: 5, median: 3.5}\n", 1)
    pb = load_playbook(write(tmp_path, text), lab)
    assert pb.repeat is not None and pb.repeat.count == 5
    outage = next(e for e in pb.expectations if e.metric == "max_outage_s")
    assert outage.each_max is None and outage.on_statistics() == [("max", "median", 3.5),
                                                                   ("max", "p95", 5.0)]
    assert outage.every_run_max is None
    plain = next(e for e in pb.expectations if e.metric == "azure_detection_s")
    assert plain.each_max == 10.0 and plain.on_statistics() == []  # a number means what it did
    runs = iterations(pb, lab)
    assert [(i.number, i.count, i.tunnel) for i in runs] == [
        (1, 5, "edge1/Tunnel1"), (2, 5, "edge1/Tunnel2"), (3, 5, "edge1/Tunnel1"),
        (4, 5, "edge1/Tunnel2"), (5, 5, "edge1/Tunnel1")]
    assert runs[0].steady_timeout_s == 30.0


def test_mirroring_swaps_every_name_and_address_of_the_two_tunnels(lab: Inventory) -> None:
    pb = Playbook.model_validate({
        "name": "x", "probes": {"from": "onprem-host", "to": ["vm1"]},
        "steady_state": [{"check": "onprem_bgp_established", "device": "edge1",
                          "neighbors": ["169.254.21.5"]}],
        "method": [{"action": "shut_neighbor", "device": "edge1", "neighbor": "169.254.21.1"},
                   {"action": "wait_until", "condition": "azure_peer_down",
                    "peer": "169.254.21.2", "timeout_s": 5},
                   {"action": "wait_until", "condition": "onprem_peer_up",
                    "peer": "169.254.21.5", "timeout_s": 5}],
        "rollbacks": [{"action": "no_shut_neighbor", "device": "edge1",
                       "neighbor": "169.254.21.1"}]})
    out = mirrored(pb, lab, "Tunnel2").model_dump(mode="json")
    assert out["method"][0]["neighbor"] == "169.254.21.5"
    assert out["method"][1]["peer"] == "169.254.21.6"
    assert out["method"][2]["peer"] == "169.254.21.1"  # the other tunnel became Tunnel1
    assert out["rollbacks"][0]["neighbor"] == "169.254.21.5"
    assert out["steady_state"][0]["neighbors"] == ["169.254.21.1"]
    assert mirrored(pb, lab, "Tunnel1") is pb


@pytest.mark.parametrize(("repeat", "field", "words"), [
    ("repeat: {count: 0}", "repeat.count", "greater than or equal to 1"),
    ("repeat: {count: 2, every: 3}", "repeat.every", "unknown field 'every'"),
    ("repeat: {count: 2, alternate: [Tunnel1, Tunnel9]}", "repeat.alternate[1]",
     "unknown tunnel 'Tunnel9' on device edge1 (has Tunnel1, Tunnel2)"),
    ("repeat: {count: 2, steady_timeout_s: -1}", "repeat.steady_timeout_s", "greater than 0"),
    ("repeat: 5", "repeat", "valid dictionary"),
])
def test_a_bad_repeat_names_file_line_and_field(tmp_path: Path, lab: Inventory, repeat: str,
                                               field: str, words: str) -> None:
    text = with_repeat(repeat)
    path = write(tmp_path, text)
    err = one_error(path, lab, field)
    assert words in str(err), str(err)
    assert err.file == str(path) and err.line == line_of(text, repeat)


def test_alternating_needs_a_method_that_shuts_one_tunnel(tmp_path: Path, lab: Inventory) -> None:
    text = (Path(LAB).parents[1] / "playbooks" / "reset-instance0.yaml").read_text()
    text = text.replace("\nmethod:", "\nrepeat:\n  count: 2\n  alternate: [Tunnel1, Tunnel2]"
                        "\nmethod:", 1)
    err = one_error(write(tmp_path, text), lab, "repeat.alternate")
    assert "faults one tunnel with shut_interface or shut_neighbor" in str(err)
    assert err.line == line_of(text, "alternate:")


@pytest.mark.parametrize(("bound", "field", "words"), [
    ("max: {p99: 5}", "expectations[3].max.p99",
     "unknown field 'p99' (did you mean 'p95'?); allowed: max, median, min, p95"),
    ("max: {}", "expectations[3].max", "name at least one statistic"),
    ("max: {p95: fast}", "expectations[3].max.p95", "valid number"),
    ("max: fast", "expectations[3].max", "valid number"),
    ("min: {p95: 9}\n    max: {p95: 5}", "expectations[3].min.p95", "min p95 9 is above max p95 5"),
])
def test_a_bad_bound_on_a_statistic_names_file_line_and_field(
        tmp_path: Path, bound: str, field: str, words: str) -> None:
    text = T1_TEXT.replace("    max: 5\n", f"    {bound}\n", 1)
    path = write(tmp_path, text)
    err = one_error(path, None, field)
    assert words in str(err), str(err)
    assert err.file == str(path) and err.line == line_of(text, bound.split("\n")[0])


def test_one_bound_per_statistic(tmp_path: Path) -> None:
    text = T1_TEXT + ("  - metric: max_outage_s\n    max: {p95: 4}\n"
                      "  - metric: max_outage_s\n    max: {p95: 3, max: 6}\n")
    errors = errors_of(write(tmp_path, text), None)
    assert [(e.field, str(e).split(": ", 2)[-1]) for e in errors] == [
        ("expectations[6].max.p95", "a second 'max' bound on the p95 for max_outage_s")]

"""Inventory loading: the shipped files validate; every bad input names file, line and field."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from failover_harness.errors import EXIT_BAD_INPUT, InputError
from failover_harness.inventory import Inventory, check_inventory, load_inventory
from failover_harness.secrets import EnvRef, FileRef
from failover_harness.yamlfile import InputErrors

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "inventories" / "lab.yaml"
LAB_TEXT = LAB.read_text()


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing `needle`."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in text")


def write(tmp_path: Path, text: str, name: str = "inv.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load_error(path: Path) -> InputError:
    with pytest.raises(InputError) as info:
        load_inventory(path)
    err = info.value
    assert err.exit_code == EXIT_BAD_INPUT
    # No pydantic dump (it shows input values) chained to the error.
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)
    return err


def mutated(tmp_path: Path, old: str, new: str) -> tuple[Path, str]:
    assert old in LAB_TEXT, old
    text = LAB_TEXT.replace(old, new, 1)
    return write(tmp_path, text), text


def test_shipped_inventories_validate() -> None:
    for path in sorted((ROOT / "inventories").glob("*.yaml")):
        inv = load_inventory(path)
        assert inv.devices and inv.vantage_points and inv.targets
        assert inv.digest == hashlib.sha256(path.read_bytes()).hexdigest()
        assert inv.source == str(path)
        assert check_inventory(inv) == []


def test_lab_inventory_values() -> None:
    inv = load_inventory(LAB)
    edge1 = inv.devices["edge1"]
    assert edge1.platform == "frr" and edge1.port == 22 and edge1.bgp_asn == 65010
    assert isinstance(edge1.password, FileRef)
    assert [str(t.neighbor) for t in edge1.tunnels.values()] == ["169.254.21.1", "169.254.21.5"]
    assert edge1.tunnels["Tunnel1"].azure_instance == 0
    assert inv.azure.credential == "default"
    assert inv.azure.polling.interval_s == 1.0
    assert str(inv.prefixes.onprem[0]) == "192.168.10.0/24"
    # One address finds one tunnel, from either end of its BGP session.
    by_azure_side = inv.tunnel_by_address("169.254.21.1")
    by_onprem_side = inv.tunnel_by_address("169.254.21.2")
    assert by_azure_side == by_onprem_side
    assert by_azure_side is not None and by_azure_side.interface == "Tunnel1"
    assert inv.tunnel_by_address("169.254.21.9") is None


def test_literal_password_is_refused_with_the_fix_and_without_the_value(tmp_path: Path) -> None:
    path, text = mutated(tmp_path, "password: {file: /run/failover-harness/fh/secrets/edge1.password}",
                         "password: hunter2-very-secret")
    err = load_error(path)
    assert err.file == str(path)
    assert err.line == line_of(text, "password:")
    assert err.field == "devices.edge1.password"
    assert "{env: NAME}" in str(err) and "keyvault" in str(err)
    assert "hunter2" not in str(err) and "hunter2" not in repr(err)


def test_typo_in_field_names_the_field_and_suggests(tmp_path: Path) -> None:
    path, text = mutated(tmp_path, "credential: default", "credentail: default")
    err = load_error(path)
    assert err.line == line_of(text, "credentail")
    assert err.field == "azure.credentail"
    assert "did you mean 'credential'" in str(err)
    assert str(err).startswith(f"{path}:{err.line}: field 'azure.credentail': unknown field")


def test_unknown_platform(tmp_path: Path) -> None:
    path, text = mutated(tmp_path, "platform: frr", "platform: ios")
    err = load_error(path)
    assert (err.line, err.field) == (line_of(text, "platform: ios"), "devices.edge1.platform")
    assert "'cisco_ios'" in str(err) and "got 'ios'" in str(err)


def test_bad_tunnel_neighbor(tmp_path: Path) -> None:
    path, text = mutated(tmp_path, "neighbor: 169.254.21.5", "neighbor: 169.254.21.500")
    err = load_error(path)
    assert err.line == line_of(text, "169.254.21.500")
    assert err.field == "devices.edge1.tunnels.Tunnel2.neighbor"
    assert "169.254.21.500" in str(err)


def test_tunnel_connection_must_be_listed(tmp_path: Path) -> None:
    path, text = mutated(tmp_path, "connection: cn-edge1-t2,", "connection: cn-edge1-t9,")
    err = load_error(path)
    assert err.line == line_of(text, "cn-edge1-t9")
    assert err.field == "devices.edge1.tunnels.Tunnel2.connection"
    assert "cn-edge1-t9" in str(err) and "cn-edge1-t1, cn-edge1-t2" in str(err)


def test_duplicate_bgp_address(tmp_path: Path) -> None:
    path, text = mutated(tmp_path, "neighbor: 169.254.21.5", "neighbor: 169.254.21.1")
    err = load_error(path)
    assert err.field == "devices.edge1.tunnels.Tunnel2.neighbor"
    assert err.line == line_of(text, "Tunnel2:")
    assert "devices.edge1.tunnels.Tunnel1.neighbor" in str(err)


def test_duplicate_yaml_key_is_a_located_error(tmp_path: Path) -> None:
    text = LAB_TEXT.replace("  credential: default", "  credential: default\n  credential: cli")
    path = write(tmp_path, text)
    err = load_error(path)
    assert err.line == line_of(text, "credential: cli")
    assert "duplicate" in str(err)


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    text = LAB_TEXT.replace("  resource_group: rg-failover-lab", "  resource_group: [rg-failover-lab")
    path = write(tmp_path, text)
    err = load_error(path)
    assert err.file == str(path) and err.line is not None
    assert "YAML syntax error" in str(err)
    assert err.line >= line_of(text, "[rg-failover-lab")


def test_syntax_error_does_not_echo_the_line(tmp_path: Path) -> None:
    # The parser's snippet of the faulty line could hold a secret; only its words are shown.
    path = write(tmp_path, "devices:\n  edge1: {password: s3cr3t-value: x}\n")
    err = load_error(path)
    assert "s3cr3t" not in str(err)
    assert err.line == 2


@pytest.mark.parametrize(("content", "needle"), [
    (b"", "empty"),
    (b"- a\n- b\n", "top level must be a mapping"),
    (b"name: x\n\xff\xfe\n", "not UTF-8"),
    (b"name: [x\n", "YAML syntax error"),
    (b"name: *nowhere\n", "YAML syntax error"),
])
def test_unreadable_files(tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "inv.yaml"
    path.write_bytes(content)
    err = load_error(path)
    assert needle in str(err) and err.file == str(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert "file not found" in str(load_error(tmp_path / "nope.yaml"))
    assert "directory" in str(load_error(tmp_path))


def test_alias_bomb_is_bounded(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    err = load_error(write(tmp_path, "\n".join(lines) + "\n"))
    assert "nodes" in str(err)


def test_several_errors_at_once(tmp_path: Path) -> None:
    text = (LAB_TEXT.replace("platform: frr", "platform: nope")
            .replace("port: 22", "port: 70000")
            .replace("gateway: vpngw-lab", "gatway: vpngw-lab"))
    path = write(tmp_path, text)
    err = load_error(path)
    assert isinstance(err, InputErrors)
    fields = {e.field for e in err.errors}
    assert {"devices.edge1.platform", "devices.edge1.port", "azure.gatway",
            "azure.gateway"} <= fields
    lines = {e.field: e.line for e in err.errors}
    assert lines["devices.edge1.port"] == line_of(text, "port: 70000")
    assert lines["azure.gateway"] == line_of(text, "azure:")  # missing: the parent's line
    assert str(err).startswith(f"{len(err.errors)} errors:")
    for e in err.errors:
        assert f"{path}:{e.line}: field '{e.field}'" in str(err)


@pytest.mark.parametrize(("old", "new", "field"), [
    ("subscription_id: 00000000-0000-0000-0000-00000000fa11", "subscription_id: my-sub",
     "azure.subscription_id"),
    ("credential: default", "credential: password", "azure.credential"),
    ("base_url: https://127.0.0.1:18443", "base_url: http://127.0.0.1:18443", "azure.base_url"),
    ("IDENTITY_HEADER: {file: /run/failover-harness/fh/azure/identity-header}",
     "IDENTITY_HEADER: {vault: x}", "azure.environment.IDENTITY_HEADER"),
    ("IDENTITY_HEADER: {file: /run/failover-harness/fh/azure/identity-header}",
     "IDENTITY_HEADER: {env: 1BAD}", "azure.environment.IDENTITY_HEADER.env"),
    ("port: 22", "port: twenty-two", "devices.edge1.port"),
    ("bgp_asn: 65010", "bgp_asn: 0", "devices.edge1.bgp_asn"),
    ("azure_instance: 0", "azure_instance: 2", "devices.edge1.tunnels.Tunnel1.azure_instance"),
    ("sources: [192.168.10.10,", "sources: [192.168.10.300,", "vantage_points.onprem-host.sources[0]"),
    ("tcp_ports: [443]", "tcp_ports: [0]", "targets.vm1.tcp_ports[0]"),
    ("tcp_ports: [443]", "tcp_ports: [443, 443]", "targets.vm1.tcp_ports"),
    ("onprem: [192.168.10.0/24]", "onprem: [192.168.10.1/24]", "prefixes.onprem[0]"),
    ("onprem: [192.168.10.0/24]", "onprem: [10.0.1.0/24]", "prefixes.onprem[0]"),
    ("sources: [192.168.10.10, 192.168.10.11,", "sources: [192.168.10.10, 192.168.10.10,",
     "vantage_points.onprem-host.sources[0]"),
    ("connections: [cn-edge1-t1, cn-edge1-t2]", "connections: [cn-edge1-t1, cn-edge1-t2, cn-edge1-t1]",
     "azure.connections"),
    ("    tunnels:\n", "    tunnels: {}\n    x:\n", "devices.edge1.tunnels"),
    ("netns: fh-host", "netns: 'bad name'", "vantage_points.onprem-host.netns"),
])
def test_field_errors(tmp_path: Path, old: str, new: str, field: str) -> None:
    path, text = mutated(tmp_path, old, new)
    err = load_error(path)
    errors = err.errors if isinstance(err, InputErrors) else [err]
    found = [e for e in errors if e.field == field]
    assert found, f"no error for {field}: {err}"
    first_line_of_new = new.splitlines()[0].strip()
    assert found[0].line == line_of(text, first_line_of_new)
    assert str(found[0]).startswith(f"{path}:{found[0].line}: field '{field}': ")


def test_relative_paths_are_relative_to_the_inventory(tmp_path: Path) -> None:
    text = (LAB_TEXT.replace("{file: /run/failover-harness/fh/secrets/edge1.password}",
                             "{file: secrets/edge1.pw}")
            .replace("known_hosts: /run/failover-harness/fh/ssh/known_hosts",
                     "known_hosts: ssh/known_hosts"))
    sub = tmp_path / "inv"
    sub.mkdir()
    inv = load_inventory(write(sub, text))
    password = inv.devices["edge1"].password
    assert isinstance(password, FileRef)
    assert password.file == str(sub.resolve() / "secrets" / "edge1.pw")
    assert inv.devices["edge1"].known_hosts == str(sub.resolve() / "ssh" / "known_hosts")


def test_env_reference_and_model_round_trip(tmp_path: Path) -> None:
    text = LAB_TEXT.replace("{file: /run/failover-harness/fh/secrets/edge1.password}",
                            "{env: EDGE1_PASSWORD}")
    inv = load_inventory(write(tmp_path, text))
    assert inv.devices["edge1"].password == EnvRef(env="EDGE1_PASSWORD")
    again = Inventory.model_validate(inv.model_dump(mode="json"))
    assert again.devices["edge1"].password == EnvRef(env="EDGE1_PASSWORD")
    assert [loc for loc, _ in inv.secret_refs()] == [
        ("devices", "edge1", "password"), ("azure", "environment", "IDENTITY_HEADER")]


def test_keys_must_be_names_and_dates_need_quotes(tmp_path: Path) -> None:
    path, text = mutated(tmp_path, "  edge1:\n", "  ~:\n")
    err = load_error(path)
    assert "every key here must be a name (text), found null" in str(err)
    assert err.field is not None and err.field.startswith("devices")
    path, text = mutated(tmp_path, "name: lab-fh", "name: 2024-01-01")
    err = load_error(path)
    assert (err.field, err.line) == ("name", line_of(text, "name: 2024"))
    assert "put the value in quotes" in str(err)
    # A number as a name is the name "65010", not an error.
    path, _ = mutated(tmp_path, "  edge1:\n", "  65010:\n")
    assert list(load_inventory(path).devices) == ["65010"]

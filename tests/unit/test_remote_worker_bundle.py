"""The remote worker's pieces without SSH: packets built without scapy equal scapy's, the
zipapp holds only standard-library code and is deterministic, the inventory's ssh model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP, TCP

from failover_harness.errors import InputError
from failover_harness.inventory import load_inventory
from failover_harness.probes import packets
from failover_harness.probes.zipapp import BOOTSTRAP, worker_bundle


def test_icmp_echo_equals_scapy() -> None:
    payload = b"fh-probe" + bytes(24)
    assert packets.icmp_echo(4242, 7, payload) == bytes(ICMP(type=8, id=4242, seq=7) / payload)


@pytest.mark.parametrize("flags", ["S", "R"])
def test_tcp_header_equals_scapy(flags: str) -> None:
    options = [("MSS", 1460)] if flags == "S" else []
    window = 64240 if flags == "S" else 0
    want = bytes(IP(src="192.168.10.10", dst="10.0.1.4") / TCP(
        sport=40001, dport=443, seq=0, flags=flags, window=window, options=options))[20:]
    got = packets.tcp_header("192.168.10.10", "10.0.1.4", 40001, 443, 0, flags, window,
                             1460 if flags == "S" else None)
    assert got == want


def test_bundle_is_deterministic_and_digest_checked() -> None:
    first = worker_bundle()
    worker_bundle.cache_clear()
    assert worker_bundle() == first
    command = first.remote_command("python3", sudo=True)
    assert command.startswith("sudo -n python3 -c ") and command.endswith(first.digest)


def run_bootstrap(data: bytes, digest: str, job: bytes) -> subprocess.CompletedProcess[bytes]:
    # -I -S: no site-packages, so neither pydantic nor scapy can be imported.
    return subprocess.run([sys.executable, "-I", "-S", "-c", BOOTSTRAP, str(len(data)), digest],
                          input=data + job, capture_output=True, timeout=30, check=False)


def test_bootstrap_runs_the_worker_with_the_standard_library_only() -> None:
    bundle = worker_bundle()
    # A UDP flow to a closed loopback port: no raw socket needed.
    job = (b'{"flows":[{"id":"u","kind":"udp","dst":"127.0.0.1","sport":47001,"dport":9,'
           b'"interval_s":0.01,"timeout_s":0.2}],"start_delay_s":0.0,"realtime":false}\n')
    # -I -S: no site-packages, so neither pydantic nor scapy can be imported.
    with subprocess.Popen([sys.executable, "-I", "-S", "-c", BOOTSTRAP, str(len(bundle.data)),
                           bundle.digest], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(bundle.data + job)
        proc.stdin.flush()
        hello = json.loads(proc.stdout.readline())
        proc.stdin.write(b"c 7\n")
        proc.stdin.flush()
        clock = json.loads(proc.stdout.readline())
        proc.stdin.write(b"stop\n")
        proc.stdin.flush()
        rest = [json.loads(line) for line in proc.stdout.read().splitlines()]
        proc.stdin.close()
        assert proc.wait(10) == 0
    assert hello["k"] == "hello" and clock["k"] == "clock" and clock["n"] == 7
    assert rest[-1]["k"] == "done" and rest[-1]["sent"] >= 1


def test_bootstrap_refuses_a_damaged_zipapp() -> None:
    bundle = worker_bundle()
    damaged = bytearray(bundle.data)
    damaged[100] ^= 0xFF
    done = run_bootstrap(bytes(damaged), bundle.digest, b"")
    assert done.returncode == 41 and b"digest mismatch" in done.stderr


INVENTORY = """\
devices:
  edge1:
    platform: cisco_ios
    host: 10.20.0.1
    username: netops
    password: {env: EDGE1_PASSWORD}
    bgp_asn: 65010
    tunnels:
      Tunnel1: {neighbor: 169.254.21.1, azure_instance: 0, connection: cn1}
azure:
  subscription_id: 00000000-0000-0000-0000-000000000000
  resource_group: rg
  gateway: gw
  connections: [cn1]
vantage_points:
  branch:
    ssh:
      host: 192.168.20.10
      user: probe
      %s
    sources: [192.168.20.10]
%s
targets:
  vm1: {ip: 10.0.1.4}
prefixes: {onprem: [192.168.10.0/24], azure: [10.0.0.0/16]}
"""


def write(tmp_path: Path, ssh_extra: str, netns: str = "") -> Path:
    path = tmp_path / "inv.yaml"
    path.write_text(INVENTORY % (ssh_extra, netns))
    return path


def test_ssh_vantage_point_loads_with_paths_made_absolute(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, "key_file: keys/probe\n      known_hosts: kh"))
    ssh = inv.vantage_points["branch"].ssh
    assert ssh is not None and ssh.privilege == "root"
    assert ssh.key_file == str(tmp_path / "keys/probe")
    assert ssh.known_hosts == str(tmp_path / "kh")


def test_literal_key_is_refused_with_file_line_field(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"inv.yaml:20: field 'vantage_points.branch.ssh.key'"):
        load_inventory(write(tmp_path, "key: '-----BEGIN OPENSSH PRIVATE KEY-----'"))


def test_bad_privilege_names_its_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"inv.yaml:20: field 'vantage_points.branch.ssh.privilege'"):
        load_inventory(write(tmp_path, "privilege: admin"))

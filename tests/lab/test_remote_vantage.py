"""Remote vantage points over real SSH (issue 16): a real sshd on 127.0.0.1 (its own mount
namespace, key login), the real OpenSSH client, the worker shipped as a zipapp and run by
that host's python3. No lab namespaces: these need no lab lock.

Independent evidence: both ends read one kernel's CLOCK_MONOTONIC here, so the true clock
offset is 0 and must lie inside the reported offset +/- uncertainty; /proc tells which
processes run the shipped worker (its digest is on their command line).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from failover_harness.errors import InfrastructureError
from failover_harness.lab.host_sshd import PROBE_USER, HostSshd
from failover_harness.probes.flows import FlowTarget, build_flows
from failover_harness.probes.ssh_worker import RemoteProbeProcess, SshTarget
from failover_harness.probes.zipapp import worker_bundle

pytestmark = pytest.mark.lab
PORT = 20000 + os.getpid() % 10000


def worker_pids() -> list[int]:
    """Processes running the shipped worker (the bootstrap carries its digest in argv)."""
    digest = worker_bundle().digest.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if digest in cmdline and b"ssh\0" not in cmdline[:8] and state != "Z":
            found.append(int(entry.name))
    return found


def target_of(sshd: HostSshd, **extra: Any) -> SshTarget:
    login = sshd.login
    return SshTarget(host=login.host, port=login.port, user=login.user,
                     key_file=login.key_file, known_hosts=login.known_hosts, **extra)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostSshd]:
    with HostSshd(tmp_path_factory.mktemp("sshd"), "127.0.0.1", PORT) as server:
        yield server


def flows() -> list[Any]:
    return build_flows([FlowTarget(name="lo", ip="127.0.0.1", tcp_ports=[PORT])],
                       ["127.0.0.1"], 2, kinds=["icmp", "tcp"])


def test_remote_worker_probes_and_reports_on_one_clock(sshd: HostSshd) -> None:
    events: list[dict[str, Any]] = []
    with RemoteProbeProcess(flows(), events.append, target_of(sshd)) as remote:
        remote.start()
        assert worker_pids(), "no worker runs on the vantage host"
        time.sleep(3.5)
        est = remote.clock()
        assert remote.stop() == 0
    assert est is not None
    # One kernel clock on both ends: the truth is 0.
    assert abs(est.offset_s) <= est.uncertainty_s
    assert est.uncertainty_s <= 0.001
    stats = [e for e in events if e["k"] == "flow_stats"]
    assert {e["flow_id"] for e in stats} == {f.id for f in flows()}
    assert sum(e["sent"] for e in stats) >= 4 * 250  # 4 flows x 100/s x >2.5 s
    assert not any(e["k"] == "loss_start" for e in events)
    assert events[-1]["k"] == "done"
    deadline = time.monotonic() + 5
    while worker_pids() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not worker_pids()


def test_sigkill_of_the_orchestrator_leaves_no_worker(sshd: HostSshd, tmp_path: Path) -> None:
    login = sshd.login
    script = tmp_path / "orchestrator.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from failover_harness.probes.flows import FlowTarget, build_flows
        from failover_harness.probes.ssh_worker import RemoteProbeProcess, SshTarget
        t = SshTarget(host="127.0.0.1", port={login.port}, user="root",
                      key_file=Path("{login.key_file}"), known_hosts=Path("{login.known_hosts}"))
        fl = build_flows([FlowTarget(name="lo", ip="127.0.0.1")], ["127.0.0.1"], 2,
                         kinds=["icmp"])
        RemoteProbeProcess(fl, lambda e: None, t).start()
        print("probing", flush=True)
        time.sleep(600)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "probing"
        assert worker_pids()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed = time.monotonic()
        while worker_pids() and time.monotonic() - killed < 5.0:
            time.sleep(0.05)
        assert not worker_pids(), "a probe worker outlived its orchestrator by 5 s"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def test_host_without_python3_is_a_clear_start_error(tmp_path: Path) -> None:
    # An unprivileged login (root's shell profile here adds pyenv's python to PATH).
    with HostSshd(tmp_path / "sshd", "127.0.0.1", PORT + 1, user=PROBE_USER,
                  hide_python=True) as server:
        remote = RemoteProbeProcess(flows(), lambda e: None, target_of(server))
        with pytest.raises(InfrastructureError, match="python3") as info:
            remote.start()
        remote.close()
    assert "127.0.0.1" in str(info.value)


def test_login_without_raw_socket_permission_is_a_clear_start_error(tmp_path: Path) -> None:
    with HostSshd(tmp_path / "sshd", "127.0.0.1", PORT + 2, user=PROBE_USER) as server:
        remote = RemoteProbeProcess(flows(), lambda e: None, target_of(server))
        with pytest.raises(InfrastructureError, match="CAP_NET_RAW") as info:
            remote.start()
        remote.close()
    assert f"{PROBE_USER}@127.0.0.1" in str(info.value)
    assert "raw socket" in str(info.value)
